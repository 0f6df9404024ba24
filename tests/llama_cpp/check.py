"""llama.cpp's view of GGUF files Hone wrote: run by the real-model tier (crates/hone-cli/tests/cli/real_model.rs).

Reads a JSON request on argv[1] and writes a JSON answer to argv[2]:

request = {
  "runs": [{"name": "base", "model": "base.gguf", "lora": null | "adapter.gguf"}, ...],
  "tokens": [ids of one sequence], "start": index of the first scored token,
  "texts": ["text", ...],           # tokenized by each run's model (special tokens parsed)
  "generate": {"prompt": [ids], "new_tokens": N}   # optional: greedy generation
}
answer = {"llama_cpp_version": "...", "runs": {name: {"logprobs": [log p(tokens[i] | tokens[:i]) for i in start..],
                                                      "tokens": [[ids of text] ...],
                                                      "generated": [ids, greedy, without the prompt]}}}

llama.cpp (through llama-cpp-python, which builds it from source) loads the model (and the LoRA
adapter with `lora_path`, scale 1) on the CPU with 2 threads and evaluates the sequence once with
logits for every position; with "generate", it then generates greedily from the prompt.
"""

import json
import sys

import numpy as np
import llama_cpp


def log_softmax(row):
    row = np.asarray(row, dtype=np.float64)
    m = row.max()
    return row - m - np.log(np.exp(row - m).sum())


def greedy(llm, prompt, new_tokens):
    ids = []
    for token in llm.generate(prompt, top_k=1, temp=0.0, reset=True):
        ids.append(int(token))
        if len(ids) == new_tokens:
            break
    return ids


def run(spec, tokens, start, texts, generate):
    kwargs = dict(model_path=spec["model"], n_ctx=max(256, len(tokens) + 8), n_threads=2, n_batch=512,
                  logits_all=True, verbose=False, seed=0)
    if spec.get("lora"):
        kwargs["lora_path"] = spec["lora"]
    llm = llama_cpp.Llama(**kwargs)
    llm.eval(tokens)
    scores = np.asarray(llm.scores[: len(tokens)])
    logprobs = [float(log_softmax(scores[i - 1])[tokens[i]]) for i in range(start, len(tokens))]
    ids = [llm.tokenize(t.encode("utf-8"), add_bos=False, special=True) for t in texts]
    answer = {"logprobs": logprobs, "tokens": ids}
    if generate:
        answer["generated"] = greedy(llm, generate["prompt"], generate["new_tokens"])
    return answer


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    answer = {"llama_cpp_version": getattr(llama_cpp, "__version__", "?"), "runs": {}}
    for spec in request["runs"]:
        answer["runs"][spec["name"]] = run(spec, request["tokens"], request["start"], request.get("texts", []),
                                          request.get("generate"))
    with open(sys.argv[2], "w") as f:
        json.dump(answer, f)


if __name__ == "__main__":
    main()
