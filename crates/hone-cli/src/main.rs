//! `hone`: the command line of Hone. Each subcommand parses its arguments, calls `hone-core`
//! and prints the result (a table, or JSON with `--json`).
//!
//! Exit codes: 0 success, 2 bad input (a file, a flag or a value the user gave), 1 anything else.

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hone_core::CoreError;

#[derive(Parser)]
#[command(
    name = "hone",
    version,
    about = "Turn expert feedback into fine-tuned local language models"
)]
struct Cli {
    /// Workspace folder (default: $HONE_WORKSPACE, else the platform data folder).
    #[arg(long, global = true, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Where commands that run a model run it: auto (a CUDA or Metal GPU when this build has
    /// one and it is present, else the CPU), cpu, cuda, cuda:N or metal.
    #[arg(
        long,
        global = true,
        env = "HONE_DEVICE",
        default_value = "auto",
        value_name = "DEVICE"
    )]
    device: hone_core::model::DeviceChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create (or open) the workspace and say where it is.
    Init(commands::init::Args),
    /// Create, list, show and change projects.
    #[command(subcommand)]
    Project(commands::project::Command),
    /// Import prompts (JSONL, CSV, text) or TRL datasets (preference, SFT, KTO).
    Import(commands::import::Args),
    /// A project's imports: done, or undone after a failure or an interruption.
    Imports(commands::imports::Args),
    /// Freeze a dataset snapshot and export it as TRL JSONL.
    Export(commands::export::Args),
    /// Counts per kind and annotator, agreement, and the training data it makes.
    Stats(commands::stats::Args),
    /// Model folders: make a tiny one, describe one, download one.
    #[command(subcommand)]
    Model(commands::model::Command),
    /// Serve the web UI and its API to a browser on this machine (or to a team: --team).
    Serve(commands::serve::Args),
    /// A team server's accounts: add (prints a token), list, token, revoke.
    #[command(subcommand)]
    Users(commands::users::Command),
    /// Run the whole human-feedback loop on the bundled starter model and show that it works.
    Demo(commands::demo::Args),
    /// The starter model the demo uses.
    #[command(subcommand)]
    Starter(commands::starter::Command),
    /// Generate text with a model (a folder or a .gguf file) and an adapter.
    Generate(commands::generate::GenerateArgs),
    /// Per-token log-probs of a completion given a prompt.
    Score(commands::generate::ScoreArgs),
    /// Generate candidate answers for a project's prompts with a model or a version, to judge.
    Candidates(commands::candidates::CandidatesArgs),
    /// Score responses with a reward-model version.
    Reward(commands::candidates::RewardArgs),
    /// The AI suggestion for answers on screen: the latest reward model's, or a judge model's.
    Suggest(commands::candidates::SuggestArgs),
    /// Fine-tune: freeze the project's feedback and train a new version (LoRA).
    Train(commands::train::TrainArgs),
    /// Train a version again from the same parent with the same recipe, leaving out an
    /// annotator, a tag or a time range ("retrain without").
    Retrain(commands::train::RetrainArgs),
    /// Resume an interrupted or cancelled fine-tune from its last checkpoint.
    Resume(commands::train::ResumeArgs),
    /// The labeling queue: the next item for an annotator, and why it comes up.
    #[command(subcommand)]
    Queue(commands::queue::QueueCommand),
    /// Gold items: judgments whose answer is known, mixed into others' queues to check them.
    #[command(subcommand)]
    Gold(commands::queue::GoldCommand),
    /// Agreement and bias (position, length, speed) of each annotator of a project.
    Annotators(commands::annotators::Args),
    /// A project's judgments, newest first: by annotator, kind, verdict, time, tag, text.
    History(commands::history::Args),
    /// Evaluate a version on held-out prompts and pairs against its parent (stored with it).
    Eval(commands::evaluate::EvalArgs),
    /// Make a version the one the app uses; refused when it regresses, unless --force.
    Promote(commands::evaluate::PromoteArgs),
    /// What trained a version (parents, snapshot, judgments, annotators), or what a judgment trained.
    Provenance(commands::provenance::Args),
    /// Long-running jobs and their state.
    Jobs(commands::train::ListArgs),
    /// A project's model versions and their lineage; `versions import` takes back an adapter
    /// trained elsewhere.
    Versions(commands::train::VersionsArgs),
    /// Measure the engine on --device: speed (beside PyTorch in bench/run.sh) and parity with the CPU.
    #[command(subcommand)]
    Bench(commands::bench::Command),
}

/// Like other Unix tools, end quietly when the reader of the output goes away (`hone export … |
/// head`): Rust ignores SIGPIPE, so printing to the closed pipe would panic. `serve` keeps it
/// ignored: a browser closing a connection must not stop the server.
#[cfg(unix)]
fn end_quietly_on_closed_pipe() {
    // SAFETY: called at startup, before any other thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[global_allocator]
static GLOBAL: hone_allocator::Allocator = hone_allocator::Allocator;

fn main() -> ExitCode {
    hone_allocator::keep_freed_memory();
    hone_core::train::step_end::set_hook(hone_allocator::release_freed_memory);
    // Before any other thread: candle would otherwise count the cores at every matmul.
    hone_core::model::thread_count::settle();
    let cli = Cli::parse();
    #[cfg(unix)]
    if !matches!(cli.command, Command::Serve(_)) {
        end_quietly_on_closed_pipe();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HONE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", output::escape_controls(&format!("{err:#}")));
            let bad_input = err.chain().any(|cause| {
                cause
                    .downcast_ref::<CoreError>()
                    .is_some_and(CoreError::is_bad_input)
                    || cause
                        .downcast_ref::<hone_core::model::ModelError>()
                        .is_some_and(|e| !matches!(e, hone_core::model::ModelError::Candle(_)))
            }) || err.downcast_ref::<commands::BadInput>().is_some();
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let workspace = cli.workspace.as_deref();
    commands::set_device(cli.device);
    match cli.command {
        Command::Init(args) => commands::init::run(workspace, args).await,
        Command::Project(command) => commands::project::run(workspace, command).await,
        Command::Import(args) => commands::import::run(workspace, args).await,
        Command::Imports(args) => commands::imports::run(workspace, args).await,
        Command::Export(args) => commands::export::run(workspace, args).await,
        Command::Stats(args) => commands::stats::run(workspace, args).await,
        Command::History(args) => commands::history::run(workspace, args).await,
        Command::Model(command) => commands::model::run(workspace, command).await,
        Command::Serve(args) => commands::serve::run(workspace, args).await,
        Command::Demo(args) => commands::demo::run_demo(workspace, args).await,
        Command::Starter(command) => commands::starter::run(command).await,
        Command::Generate(args) => commands::generate::run_generate(workspace, args).await,
        Command::Score(args) => commands::generate::run_score(workspace, args).await,
        Command::Candidates(args) => commands::candidates::run_candidates(workspace, args).await,
        Command::Reward(args) => commands::candidates::run_reward(workspace, args).await,
        Command::Suggest(args) => commands::candidates::run_suggest(workspace, args).await,
        Command::Train(args) => commands::train::run_train(workspace, args).await,
        Command::Retrain(args) => commands::train::run_retrain(workspace, args).await,
        Command::Resume(args) => commands::train::run_resume(workspace, args).await,
        Command::Queue(command) => commands::queue::run_queue(workspace, command).await,
        Command::Gold(command) => commands::queue::run_gold(workspace, command).await,
        Command::Annotators(args) => commands::annotators::run(workspace, args).await,
        Command::Eval(args) => commands::evaluate::run_eval(workspace, args).await,
        Command::Promote(args) => commands::evaluate::run_promote(workspace, args).await,
        Command::Provenance(args) => commands::provenance::run(workspace, args).await,
        Command::Jobs(args) => commands::train::run_jobs(workspace, args).await,
        Command::Users(command) => commands::users::run(workspace, command).await,
        Command::Versions(args) => commands::train::run_versions(workspace, args).await,
        Command::Bench(command) => commands::bench::run(command).await,
    }
}
