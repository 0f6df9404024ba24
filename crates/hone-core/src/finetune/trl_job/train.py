#!/usr/bin/env python3
"""One stage of a training job Hone exported (see README.md), run by launch.sh:

    accelerate launch --config_file accelerate/<config>.yaml train.py <sft|dpo|kto> \
        --config stage-<n>-<method>.yaml [--init_adapter FOLDER] [overrides...]

The stage is TRL's own trainer on the stage's config (the same file `trl <method> --config`
reads). What this adds to TRL's scripts: `--init_adapter` starts from an existing PEFT adapter
(the parent version's, or the previous stage's) and trains it further, as Hone continues a
parent's adapter; TRL then keeps a frozen copy of it as the DPO/KTO reference, as Hone does.
The adapter is saved to the config's output_dir, with the trainer's log (trainer_state.json)
that `hone versions import` reads the final metrics from.
"""

import sys
from dataclasses import dataclass, field


@dataclass
class StageArguments:
    init_adapter: str | None = field(
        default=None,
        metadata={"help": "A PEFT adapter folder to continue training instead of a new adapter."},
    )


def trainer_for(method):
    import trl

    if method == "sft":
        return trl.SFTConfig, trl.SFTTrainer
    if method == "dpo":
        return trl.DPOConfig, trl.DPOTrainer
    if method == "kto":
        return trl.KTOConfig, trl.KTOTrainer
    sys.exit(f"train.py: unknown method {method!r}; expected sft, dpo or kto")


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: train.py <sft|dpo|kto> --config stage-<n>-<method>.yaml [--init_adapter DIR]")
    method = sys.argv.pop(1)
    config_class, trainer_class = trainer_for(method)

    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import ModelConfig, ScriptArguments, TrlParser, get_peft_config

    parser = TrlParser((StageArguments, ScriptArguments, config_class, ModelConfig))
    stage, script_args, training_args, model_args = parser.parse_args_and_config()

    dataset = load_dataset(script_args.dataset_name)[script_args.dataset_train_split]
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    if stage.init_adapter:
        from peft import PeftModel

        model = AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, dtype=model_args.dtype)
        model = PeftModel.from_pretrained(model, stage.init_adapter, is_trainable=True)
        peft_config = None
    else:
        model = model_args.model_name_or_path
        training_args.model_init_kwargs = {"dtype": model_args.dtype}
        peft_config = get_peft_config(model_args)

    trainer = trainer_class(
        model=model,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    trainer.train()
    trainer.save_model(training_args.output_dir)
    if trainer.is_world_process_zero():
        trainer.state.save_to_json(f"{training_args.output_dir}/trainer_state.json")


if __name__ == "__main__":
    main()
