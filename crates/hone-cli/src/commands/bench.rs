use std::path::PathBuf;

use hone_core::bench::engine::{self, EngineOptions, Measure};
use hone_core::bench::parity::{self, ParityOptions};
use hone_core::bench::plan_memory;
use hone_core::model::device::select;
use hone_core::model::LoadedModel;

use crate::output;
use crate::output::say;

/// Measures of the engine on `--device`, for `bench/run.sh` and `scripts/gpu-check.sh`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Tokens per second of a forward pass, a LoRA SFT step, a LoRA DPO step and greedy
    /// generation on a model folder, with peak memory (the sizes of bench/peer_pytorch.py).
    Engine {
        /// A model folder (e.g. one `hone model new-tiny --shape` wrote).
        #[arg(long)]
        model: PathBuf,
        /// Only this measure (forward, train, dpo or generate), so the peak memory is its own.
        #[arg(long)]
        only: Option<Measure>,
        #[arg(long, default_value_t = 4)]
        batch: usize,
        #[arg(long, default_value_t = 128)]
        seq: usize,
        #[arg(long, default_value_t = 64)]
        new_tokens: usize,
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Run from the quantized weights of the GGUF file the folder was imported from (as
        /// `hone generate` does), instead of the folder's dense ones.
        #[arg(long)]
        quantized: bool,
        /// generate: from this text as a user message in the chat template, timing the
        /// prompt's pass apart (prompt tokens/s), instead of 16 fixed tokens.
        #[arg(long)]
        chat_prompt: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The plan's predicted training peak for the 1B, 3B and 8B Llama shapes with an f32, bf16
    /// or Q4_K_M (GGUF, --base-weights quantized) frozen base: one LoRA step of a batch.
    PlanMemory {
        /// Sequences in the batch (DPO: chosen and rejected of each pair).
        #[arg(long, default_value_t = 4)]
        rows: usize,
        #[arg(long, default_value_t = 256)]
        tokens: usize,
        #[arg(long, default_value_t = 128)]
        completion_tokens: usize,
        #[arg(long, default_value_t = 16)]
        lora_r: usize,
        #[arg(long)]
        json: bool,
    },
    /// The device against the CPU on the same weights: log-probs in f32 and in the device's
    /// low precision, and the loss curves of a few LoRA SFT and DPO steps.
    Parity {
        #[arg(long)]
        model: PathBuf,
        #[arg(long, default_value_t = 4)]
        batch: usize,
        #[arg(long, default_value_t = 64)]
        seq: usize,
        /// Optimiser steps of each of SFT and DPO.
        #[arg(long, default_value_t = 5)]
        steps: usize,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    let device = select(super::device())?;
    match command {
        Command::Engine {
            model,
            only,
            batch,
            seq,
            new_tokens,
            reps,
            quantized,
            chat_prompt,
            json,
        } => {
            let options = EngineOptions {
                only,
                batch,
                seq,
                new_tokens,
                reps,
                chat_prompt,
                ..EngineOptions::default()
            };
            let report = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let lm = if quantized {
                    let Some(gguf) = hone_core::model::loader::quantized_source(&model) else {
                        anyhow::bail!(
                            "{}: --quantized needs a folder imported from a quantized GGUF file that is still where it was",
                            model.display()
                        );
                    };
                    LoadedModel::load_quantized(&model, &gguf, device)?
                } else {
                    LoadedModel::load(&model, device)?
                };
                Ok(engine::run(&lm, &options)?)
            })
            .await??;
            if json {
                return output::json(&report);
            }
            say!(
                "{} on {} ({}), {:.1}M parameters, {} threads",
                report.engine,
                report.device.device,
                report.device.description,
                report.parameters as f64 / 1e6,
                report.threads
            );
            for (what, rate) in [
                ("chat prompt", report.prompt_tokens_per_s),
                ("forward", report.forward_tokens_per_s),
                ("LoRA SFT step", report.lora_train_tokens_per_s),
                ("LoRA DPO step", report.dpo_tokens_per_s),
                ("greedy generation", report.generate_tokens_per_s),
            ] {
                if let Some(rate) = rate {
                    say!("{what:<18} {rate:>10.1} tokens/s");
                }
            }
            say!(
                "matmul peak (measured) {:.2} TFLOP/s; peak RSS {:.0} MiB{}",
                report.matmul_tflops,
                report.peak_rss_mib.unwrap_or(f64::NAN),
                report
                    .peak_device_mib
                    .map(|m| format!("; device memory in use at most {m:.0} MiB"))
                    .unwrap_or_default()
            );
        }
        Command::PlanMemory {
            rows,
            tokens,
            completion_tokens,
            lora_r,
            json,
        } => {
            let batch =
                hone_core::finetune::memory::BatchShape::uniform(rows, tokens, completion_tokens);
            let table = plan_memory::llama_table(batch, lora_r);
            if json {
                return output::json(&table);
            }
            say!("| shape | parameters | base | weights MiB | predicted peak MiB | with gradient checkpointing |");
            say!("|---|---|---|---|---|---|");
            for p in &table {
                say!(
                    "| {} | {:.2}B | {} | {:.0} | {:.0} | {:.0} |",
                    p.shape,
                    p.parameters as f64 / 1e9,
                    p.mode.name(),
                    p.weights_mib,
                    p.peak_mib,
                    p.checkpointed_peak_mib
                );
            }
        }
        Command::Parity {
            model,
            batch,
            seq,
            steps,
            json,
        } => {
            let options = ParityOptions { batch, seq, steps };
            let report =
                tokio::task::spawn_blocking(move || parity::run(&model, &device, &options))
                    .await??;
            if json {
                return output::json(&report);
            }
            say!(
                "{} ({}) against {}",
                report.device.device,
                report.device.description,
                report.reference
            );
            say!("f32 log-probs: max |Δ| {:.2e}", report.f32_max_abs_diff);
            say!(
                "{} log-probs: max |Δ| {:.2e}, mean |Δ| {:.2e}",
                report.low_dtype,
                report.low_max_abs_diff,
                report.low_mean_abs_diff
            );
            say!(
                "SFT loss curve: max |Δ| {:.2e}; DPO loss curve: max |Δ| {:.2e}",
                report.sft.max_abs_diff,
                report.dpo.max_abs_diff
            );
        }
    }
    Ok(())
}
