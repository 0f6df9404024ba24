use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use hone_starter::starter::{build, StarterSpec};
use indicatif::{ProgressBar, ProgressStyle};

use crate::output;
use crate::output::say;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Train the starter model from the generated help-desk corpus (deterministic; resumes an
    /// interrupted build).
    Build {
        #[arg(long, default_value = "hone-starter")]
        out: PathBuf,
        /// A very small build (for tests).
        #[arg(long)]
        tiny: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn step_bar(total: u64, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg} ({eta} left)")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_owned());
    bar
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    let Command::Build { out, tiny, json } = command;
    let spec = if tiny {
        StarterSpec::tiny()
    } else {
        StarterSpec::standard()
    };
    let manifest = tokio::task::spawn_blocking(move || {
        let mut bar: Option<ProgressBar> = None;
        let result = build(&out, &spec, &AtomicBool::new(false), |p| {
            let b = bar.get_or_insert_with(|| {
                if json {
                    ProgressBar::hidden()
                } else {
                    step_bar(p.total_steps, "starter")
                }
            });
            b.set_position(p.step);
            b.set_message(format!("loss {:.3}", p.loss));
        });
        if let Some(b) = bar {
            b.finish();
        }
        result.map(|m| (m, out))
    })
    .await??;
    let (manifest, out) = manifest;
    if json {
        return output::json(&manifest);
    }
    say!(
        "starter model: {} ({:.2}M parameters, {} conversations, {} steps, final loss {:.3})",
        out.display(),
        manifest.parameters as f64 / 1e6,
        manifest.conversations,
        manifest.steps,
        manifest.final_loss
    );
    say!(
        "model.safetensors sha256 {}",
        manifest
            .sha256
            .get("model.safetensors")
            .map(String::as_str)
            .unwrap_or("?")
    );
    Ok(())
}
