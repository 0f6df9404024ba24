use std::io::Write;
use std::path::PathBuf;

use hone_core::model::chat_template::Message;
use hone_core::model::generate::{generate, FirstTokenClock};
use hone_core::model::lora::Adapter;
use hone_core::model::sampling::SamplingParams;
use hone_core::model::score::{score, PromptInput};

use crate::output;
use crate::output::say;

/// The model, adapter and prompt options `generate` and `score` share.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// A Hugging Face model folder or a GGUF file (imported once into the workspace).
    #[arg(long)]
    model: PathBuf,
    /// A PEFT adapter folder to apply.
    #[arg(long)]
    adapter: Option<PathBuf>,
    #[arg(long)]
    prompt: String,
    /// Wrap the prompt in the model's chat template as a user message.
    #[arg(long)]
    chat: bool,
    /// A system message (with --chat).
    #[arg(long, requires = "chat")]
    system: Option<String>,
    /// Run from dense f32 weights even when the model came as a quantized GGUF file (by
    /// default its quantized weights run on the CPU, as in llama.cpp).
    #[arg(long)]
    dense: bool,
}

impl ModelArgs {
    fn prompt(&self) -> PromptInput {
        if !self.chat {
            return PromptInput::Raw(self.prompt.clone());
        }
        let mut messages = Vec::new();
        if let Some(system) = &self.system {
            messages.push(Message::new("system", system.clone()));
        }
        messages.push(Message::new("user", self.prompt.clone()));
        PromptInput::Chat(messages)
    }

    fn load(
        &self,
        workspace: Option<&std::path::Path>,
    ) -> anyhow::Result<(hone_core::model::LoadedModel, Option<Adapter>)> {
        let lm = super::model::load(workspace, &self.model, super::device(), !self.dense)?;
        let adapter = match &self.adapter {
            Some(dir) => Some(Adapter::load_peft(
                "adapter",
                dir,
                &lm.model.linear_specs(),
                lm.model.device(),
            )?),
            None => None,
        };
        Ok((lm, adapter))
    }
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.7)]
    temperature: f64,
    #[arg(long)]
    top_k: Option<usize>,
    #[arg(long, default_value_t = 0.95)]
    top_p: f64,
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How many samples.
    #[arg(short, long, default_value_t = 1)]
    n: usize,
    /// Stop at this string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    #[arg(long)]
    json: bool,
    /// Print the prompt's and the generation's speed to stderr (tokens/s, as `ollama run
    /// --verbose` and llama.cpp do).
    #[arg(long)]
    verbose: bool,
}

pub async fn run_generate(
    workspace: Option<&std::path::Path>,
    args: GenerateArgs,
) -> anyhow::Result<()> {
    let (lm, adapter) = args.model.load(workspace)?;
    let prompt_ids = lm.encode_prompt(&args.model.prompt())?;
    let params = SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: Some(args.top_p),
        repetition_penalty: args.repetition_penalty,
        max_new_tokens: args.max_tokens,
        stop: args.stop,
        seed: args.seed,
    };
    let stream = !args.json && args.n == 1;
    let mut clock = FirstTokenClock::start();
    let generations = generate(
        &lm,
        adapter.as_ref(),
        &prompt_ids,
        args.n,
        &params,
        |event| {
            clock.token();
            if stream {
                print!("{}", crate::output::escape_controls(event.text));
                let _ = std::io::stdout().flush();
            }
        },
    )?;
    if args.verbose {
        let speed = Speed {
            prompt_tokens: prompt_ids.len(),
            phases: clock.phases(),
            total: clock.elapsed(),
            generated_tokens: generations.iter().map(|g| g.token_ids.len()).sum(),
        };
        if stream {
            say!();
        }
        eprintln!("{}", speed.report());
    }
    if args.json {
        return output::json(&generations);
    }
    if stream && !args.verbose {
        say!();
    } else if !stream {
        for (i, g) in generations.iter().enumerate() {
            say!(
                "--- sample {i} ({:?}, {} tokens)\n{}",
                g.finish_reason,
                g.token_ids.len(),
                g.text
            );
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long)]
    completion: String,
    #[arg(long)]
    json: bool,
}

pub async fn run_score(workspace: Option<&std::path::Path>, args: ScoreArgs) -> anyhow::Result<()> {
    let (lm, adapter) = args.model.load(workspace)?;
    let pair = lm.encode_pair(&args.model.prompt(), &args.completion)?;
    let scored = score(&lm, adapter.as_ref(), std::slice::from_ref(&pair))?.remove(0);
    if args.json {
        let mut value = serde_json::to_value(&scored)?;
        value["prompt_token_ids"] = serde_json::json!(pair.prompt);
        return output::json(&value);
    }
    for (id, lp) in scored.token_ids.iter().zip(&scored.logprobs) {
        say!(
            "{id:>8}  {lp:>10.4}  {:?}",
            lm.tokenizer.decode(&[*id], false)?
        );
    }
    say!(
        "sum {:.4} over {} tokens",
        scored.sum,
        scored.token_ids.len()
    );
    Ok(())
}

/// How fast a `hone generate` ran: the prompt's forward pass with the first token (until the
/// first piece of text), then each token after it.
struct Speed {
    prompt_tokens: usize,
    /// The prompt's pass with the first token, and the rest.
    phases: Option<(std::time::Duration, std::time::Duration)>,
    total: std::time::Duration,
    generated_tokens: usize,
}

impl Speed {
    fn report(&self) -> String {
        let rate = |tokens: usize, seconds: f64| {
            if seconds > 0.0 {
                format!("{:.1} tokens/s", tokens as f64 / seconds)
            } else {
                "-".into()
            }
        };
        let Some((first, rest)) = self.phases else {
            return format!(
                "prompt {} tokens; no text generated in {:.2} s",
                self.prompt_tokens,
                self.total.as_secs_f64()
            );
        };
        let (first, rest) = (first.as_secs_f64(), rest.as_secs_f64());
        let after_first = self.generated_tokens.saturating_sub(1);
        format!(
            "prompt {} tokens and the first token in {:.2} s ({})\ngeneration {} tokens after the first in {:.2} s ({})",
            self.prompt_tokens,
            first,
            rate(self.prompt_tokens, first),
            after_first,
            rest,
            rate(after_first, rest),
        )
    }
}
