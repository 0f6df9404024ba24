#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus (fuzz/corpus/<target>/) from the project's own examples
and fixtures, so that libFuzzer starts from real files and mutates from there. Run from the
repository root: python3 fuzz/make_seeds.py. The corpus is committed; what the fuzzer adds
while running goes to a copy outside the clone (scripts/fuzz.sh)."""
import hashlib
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "fuzz" / "corpus"


def seed(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


# Imports: the examples, every TRL row form, and the files whose cases tests name.
preferences = (root / "examples" / "support-preferences.jsonl").read_text()
seed("import_jsonl", preferences)
rows = [
    {"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"},
    {"prompt": [{"role": "user", "content": "Hi"}],
     "chosen": [{"role": "assistant", "content": "Hello"}],
     "rejected": [{"role": "assistant", "content": "No"}]},
    {"prompt": "Hi", "completion": "Hello"},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                  {"role": "assistant", "content": "Hello"}]},
    {"prompt": "Hi", "completion": "Hello", "label": True},
    {"prompt": "Summarise this.", "tags": ["a", "b"], "split": "test"},
]
for row in rows:
    seed("import_jsonl", json.dumps(row) + "\n")
seed("import_jsonl", "".join(json.dumps(r) + "\n" for r in rows))
seed("import_csv", (root / "examples" / "support-prompts.csv").read_text())
seed("import_csv", 'prompt,chosen,rejected\n"Hi, there","Hello ""you""",No\n')
seed("import_csv", "prompt,completion,label\nHi,Hello,true\nHi,Go away,false\n")
seed("import_csv", "prompt,completion\r\n\"multi\nline\",ok\r\n")
seed("import_text", "How do I reset my password?\n\nWhy was my card declined?\r\n")

# Chat templates: every template of the fixtures, with its conversation (see chat_template.rs).
for case in json.loads((root / "tests" / "fixtures" / "chat_templates.json").read_text()):
    lines = "".join(
        f"{m['role']}:{m['content']}".replace("\n", "\\n") + "\n" for m in case["messages"]
    )
    plus = "+" if case.get("add_generation_prompt") else ""
    seed("chat_template", case["template"] + "\0" + plus + lines)

# Model and adapter configurations: the fixture models' own.
for config in sorted((root / "tests" / "fixtures" / "models").glob("*/config.json")):
    seed("model_config", config.read_text())
for adapter in sorted((root / "tests" / "fixtures").glob("**/adapter_config.json")):
    seed("adapter_config", adapter.read_text())
