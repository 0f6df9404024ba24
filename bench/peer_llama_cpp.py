"""llama.cpp's greedy generation on a GGUF file, the peer of the engine benchmark's `generate`
measure on the real model (bench/run.sh --real): batch 1, the same 16 prompt tokens, 64 new
tokens, the same threads, the median of 5 runs after a warm-up. Prints one JSON object.

    python bench/peer_llama_cpp.py MODEL.gguf --threads N
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
