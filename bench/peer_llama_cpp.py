"""llama.cpp's greedy generation on a GGUF file, the peer of the engine benchmark's `generate`
measure on the real model (bench/run.sh --real): batch 1, the same 16 prompt tokens, 64 new
tokens, the same threads, the median of 5 runs after a warm-up. Prints one JSON object.

    python bench/peer_llama_cpp.py MODEL.gguf --threads N
    python bench/peer_llama_cpp.py MODEL.gguf --threads N --chat "PROMPT" [--max-tokens 128]

With --chat, the way a desktop user meets it (LM Studio, Ollama): the prompt as a user message
in the model's chat template, greedy, up to --max-tokens new tokens; llama.cpp's own counters
give the prompt's and the generation's tokens/s (as `ollama run --verbose` shows them), the
median of 5 runs after a warm-up, each from an empty context.
"""
import argparse
import json
import resource
import statistics
import time

import llama_cpp


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chat")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    if args.chat is not None:
        return chat(args)
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=256, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
    vocab = llm.n_vocab()
    prompt = [(i * 7919 % (vocab - 3) + 3) for i in range(16)]
    new_tokens = 64

    def generate():
        llm.reset()
        n = 0
        for _ in llm.generate(prompt, top_k=1, temp=0.0, reset=True):
            n += 1
            if n == new_tokens:
                break

    generate()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        generate()
        times.append(time.perf_counter() - start)
    print(json.dumps({
        "engine": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
        "generate_tokens_per_s": new_tokens / statistics.median(times),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": args.threads,
    }))


def chat(args):
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=1024, n_threads=args.threads,
                          n_threads_batch=args.threads, verbose=False)
    messages = [{"role": "user", "content": args.chat}]

    def run():
        llm.reset()
        llama_cpp.llama_perf_context_reset(llm.ctx)
        out = llm.create_chat_completion(messages, max_tokens=args.max_tokens, temperature=0.0, top_k=1)
        perf = llama_cpp.llama_perf_context(llm.ctx)
        return {
            "prompt_tokens": perf.n_p_eval,
            "prompt_tokens_per_s": perf.n_p_eval / (perf.t_p_eval_ms / 1000),
            "generated_tokens": out["usage"]["completion_tokens"],
            "eval_tokens": perf.n_eval,
            "generate_tokens_per_s": perf.n_eval / (perf.t_eval_ms / 1000),
            "text": out["choices"][0]["message"]["content"],
        }

    run()
    runs = [run() for _ in range(5)]
    best = sorted(runs, key=lambda r: r["generate_tokens_per_s"])[len(runs) // 2]
    best.update({
        "engine": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": args.threads,
    })
    print(json.dumps(best))


if __name__ == "__main__":
    main()
