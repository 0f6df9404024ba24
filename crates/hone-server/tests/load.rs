//! Load test (issue 17): 50 simulated annotators label against a real `hone serve` listener
//! (fetch the next item, save a comparison, again) while an import and a fine-tune run in the
//! same server. No request may get a 5xx, and no annotator may be offered a pair they already
//! judged; the latencies of "next item" and "save judgment" are printed (p50, p99, max), and
//! the judgments saved per second. BENCHMARKS.md's table is made with larger settings:
//!
//!   HONE_LOAD_PAIRS=100000 HONE_LOAD_SECONDS=30 cargo test --release -p hone-server --test load
//!
//! `HONE_LOAD_THINK_MS` makes each annotator pause about that long after each save, as a person
//! reading the next answers would (default 0: as fast as the server answers, its saturation):
//! each pause is drawn between half and one and a half times it (seeded per annotator), as
//! people do not all finish reading in the same millisecond. A fixed pause kept the 50
//! annotators in step after the index's first build (they all wait for it), and their 50 saves
//! then reached the one writer at once, a burst no team of people makes.
//! `HONE_LOAD_UNDO_EVERY` (default 10): each annotator undoes every such save at once, and
//! re-judges the save half-way between (the other answer, superseding it): the queue moves
//! those votes in place, so the next items after them must stay as fast.
//! Defaults (CI): 2,000 pairs already judged once, 10 seconds of labeling. Loopback only.
//! `HONE_LOAD_MODEL=DIR` fine-tunes that model folder (e.g. SmolLM2's, `hone model
//! import-gguf`) instead of a tiny random one: a job that keeps both cores busy, as a real
//! model's does.
//! `HONE_LOG=hone_store=debug` tells each write transaction that held the writer's turn over
//! 20 ms, and where it began: what the slowest saves waited for; and each wait of 20 ms or more
//! for a pooled reader connection, with its caller. `HONE_LOG=hone_core=debug` tells each slow
//! refresh of the queue's index and each next item over 20 ms with its phases (the annotator's
//! own rows, the wait for the index, the refresh, the survey, the choice, the texts).

use std::sync::{Arc, Mutex};

use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

use hone_core::finetune::{Method, Recipe};
use serde_json::{json, Value};

mod common;

const ANNOTATORS: usize = 50;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `HONE_LOG=hone_store=debug`: which write transactions held the writer's turn long.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("HONE_LOG") {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// When a request was answered (seconds since the labeling began) and how long it took (ms).
type Timed = (f64, f64);

#[derive(Default)]
struct Seen {
    /// Each annotator's first "next item" (the first of all builds the queue's index).
    first_next_item_ms: Vec<Timed>,
    next_item_ms: Vec<Timed>,
    save_ms: Vec<Timed>,
    /// Undos and re-judgments.
    change_ms: Vec<Timed>,
    server_errors: Vec<String>,
    empty_queues: usize,
    /// "annotator-3 was offered [5, 6] again".
    offered_again: Vec<String>,
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    command: &str,
    args: &Value,
) -> (u16, Value, f64) {
    let started = Instant::now();
    let r = client
        .post(format!("{base}/api/{command}"))
        .json(args)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"));
    let status = r.status().as_u16();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, started.elapsed().as_secs_f64() * 1e3)
}

async fn annotator(
    base: String,
    project_id: i64,
    who: usize,
    until: Instant,
    labeling: Duration,
    seen: Arc<Mutex<Seen>>,
) {
    let client = reqwest::Client::new();
    let name = format!("annotator-{who}");
    let think = Duration::from_millis(setting("HONE_LOAD_THINK_MS", 0));
    // Staggered starts, so that paced annotators do not all ask at once.
    tokio::time::sleep(think * who as u32 / ANNOTATORS as u32).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(who as u64);
    let mut judged: std::collections::HashSet<(i64, i64)> = Default::default();
    let undo_every = setting("HONE_LOAD_UNDO_EVERY", 10);
    let mut saves = 0u64;
    while Instant::now() < until {
        let (status, item, ms) = post(
            &client,
            &base,
            "next_item",
            &json!({ "project_id": project_id, "annotator": name, "kind": "comparison" }),
        )
        .await;
        let record = |what: &str,
                      status: u16,
                      body: &Value,
                      ms: f64,
                      times: fn(&mut Seen) -> &mut Vec<Timed>| {
            let mut seen = seen.lock().unwrap();
            if status >= 500 {
                seen.server_errors.push(format!("{what} {status}: {body}"));
            }
            let at = (until - labeling).elapsed().as_secs_f64();
            times(&mut seen).push((at, ms));
        };
        if saves == 0 {
            record("next_item", status, &item, ms, |s| {
                &mut s.first_next_item_ms
            });
        } else {
            record("next_item", status, &item, ms, |s| &mut s.next_item_ms);
        }
        if status != 200 || item.is_null() {
            seen.lock().unwrap().empty_queues += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let responses = item["responses"]
            .as_array()
            .expect("a comparison shows responses");
        let (a, b) = (
            responses[0]["id"].as_i64().unwrap(),
            responses[1]["id"].as_i64().unwrap(),
        );
        if !judged.insert((a.min(b), a.max(b))) {
            let again = format!("{name} was offered [{a}, {b}] again");
            seen.lock().unwrap().offered_again.push(again);
        }
        let comparison = |choice: &str, supersedes: Option<i64>| json!({ "project_id": project_id, "annotator": name, "time_spent_ms": 1000, "supersedes": supersedes, "kind": { "kind": "comparison", "response_a": a, "response_b": b, "choice": choice, "strength": null, "reason": null } });
        let choice = if who.is_multiple_of(2) { "a" } else { "b" };
        let (status, body, ms) =
            post(&client, &base, "record_feedback", &comparison(choice, None)).await;
        record("record_feedback", status, &body, ms, |s| &mut s.save_ms);
        saves += 1;
        if let (Some(id), true) = (body["judgment_id"].as_i64(), undo_every > 0) {
            if saves.is_multiple_of(undo_every) {
                let args = json!({ "judgment_id": id });
                let (status, body, ms) = post(&client, &base, "undo_judgment", &args).await;
                record("undo_judgment", status, &body, ms, |s| &mut s.change_ms);
                // Undone: offering the pair again is right.
                judged.remove(&(a.min(b), a.max(b)));
            } else if saves % undo_every == undo_every / 2 {
                let other = if choice == "a" { "b" } else { "a" };
                let (status, body, ms) = post(
                    &client,
                    &base,
                    "record_feedback",
                    &comparison(other, Some(id)),
                )
                .await;
                record("re-judgment", status, &body, ms, |s| &mut s.change_ms);
            }
        }
        tokio::time::sleep(think.mul_f64(rng.random_range(0.5..1.5))).await;
    }
}

fn pairs(n: u64, tag: &str) -> String {
    (0..n)
        .map(|i| json!({ "prompt": format!("{tag} question {i}?"), "chosen": format!("Good answer {i}."), "rejected": format!("Bad answer {i}.") }).to_string() + "\n")
        .collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn run() {
    let judged = setting("HONE_LOAD_PAIRS", 2_000);
    let seconds = setting("HONE_LOAD_SECONDS", 10);
    let dir = common::workspace().await;
    let base = common::start(dir.path(), common::loopback(None, false))
        .await
        .unwrap();
    let client = reqwest::Client::new();

    // A project whose pairs were each judged once by the import (overlap 3: everyone can
    // still judge each of them), and a tiny model to fine-tune meanwhile.
    let (_, project, _) = post(&client, &base, "create_project", &json!({ "settings": { "name": "load", "task_description": "", "rating_min": 1, "rating_max": 5, "kto_threshold": 4.0, "overlap": 3 }, "guidelines": null, "criteria": [], "span_labels": [] })).await;
    let project_id = project["project"]["id"].as_i64().expect("a project");
    let loaded = Instant::now();
    let (status, report, _) = post(&client, &base, "import_text", &json!({ "project_id": project_id, "file_name": "judged.jsonl", "split": "train", "content": pairs(judged, "judged") })).await;
    assert_eq!(status, 200, "{report}");
    println!(
        "{judged} judged pairs imported in {:.1} s",
        loaded.elapsed().as_secs_f64()
    );
    let model = match std::env::var_os("HONE_LOAD_MODEL") {
        Some(folder) => std::path::PathBuf::from(folder),
        None => {
            let tiny = dir.path().join("tiny");
            hone_core::model::tiny::write_tiny_model(
                hone_core::model::tiny::TinyArch::Llama,
                Default::default(),
                &tiny,
                1,
            )
            .unwrap();
            tiny
        }
    };
    let mut recipe = Recipe::new(Method::Dpo, model);
    recipe.evaluate = false;
    recipe.lora.r = 4;

    let until = Instant::now() + Duration::from_secs(seconds);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut tasks = Vec::new();
    for who in 0..ANNOTATORS {
        tasks.push(tokio::spawn(annotator(
            base.clone(),
            project_id,
            who,
            until,
            Duration::from_secs(seconds),
            seen.clone(),
        )));
    }
    // Meanwhile: a second import, and a fine-tune on what was judged so far.
    let (import_base, import_client) = (base.clone(), client.clone());
    let import = tokio::spawn(async move {
        post(&import_client, &import_base, "import_text", &json!({ "project_id": project_id, "file_name": "more.jsonl", "split": "train", "content": pairs(judged.min(20_000), "more") })).await
    });
    let mut job_id = None;
    if setting("HONE_LOAD_TRAIN", 1) == 1 {
        let (status, job, _) = post(
            &client,
            &base,
            "start_fine_tune",
            &json!({ "project_id": project_id, "recipe": serde_json::to_value(&recipe).unwrap() }),
        )
        .await;
        assert_eq!(status, 200, "{job}");
        job_id = Some(job["job_id"].as_u64().expect("a job id"));
    }
    for t in tasks {
        t.await.unwrap();
    }
    if let Some(job_id) = job_id {
        // How far the fine-tune got meanwhile: what the CPU the requests left was worth.
        let (_, jobs, _) = post(
            &client,
            &base,
            "list_jobs",
            &json!({ "project_id": project_id }),
        )
        .await;
        if let Some(job) = jobs.as_array().and_then(|jobs| jobs.first()) {
            println!(
                "the fine-tune when labeling ended: {:.1}% ({})",
                job["progress"].as_f64().unwrap_or(0.0) * 100.0,
                job["message"]
            );
        }
        // At 100k pairs the fine-tune outlasts the labeling; the runtime would wait for it.
        let (status, answer, _) =
            post(&client, &base, "cancel_job", &json!({ "job_id": job_id })).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, report, import_ms) = import.await.unwrap();
    assert_eq!(status, 200, "the concurrent import: {report}");

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.server_errors.is_empty(),
        "5xx answers: {:?}",
        &seen.server_errors[..seen.server_errors.len().min(5)]
    );
    assert!(
        seen.offered_again.is_empty(),
        "the queue offered judged pairs again: {:?}",
        &seen.offered_again[..seen.offered_again.len().min(5)]
    );
    let saved_per_second = seen.save_ms.len() as f64 / seconds as f64;
    let summary = |name: &str, mut timed: Vec<Timed>| {
        assert!(!timed.is_empty(), "no {name} request was answered");
        timed.sort_by(|a, b| a.1.total_cmp(&b.1));
        let ms: Vec<f64> = timed.iter().map(|t| t.1).collect();
        // When the slowest percent came: a burst at one moment (the start, a job's write)
        // reads differently from a tail spread over the run.
        let mut slowest: Vec<f64> = timed[((timed.len() - 1) as f64 * 0.99).round() as usize..]
            .iter()
            .map(|t| t.0)
            .collect();
        slowest.sort_by(f64::total_cmp);
        let slowest: Vec<String> = slowest.iter().map(|s| format!("{s:.1}")).collect();
        // The second half: past the start's one-off work (the index's first build, the import,
        // the job's snapshot), while the fine-tune trains.
        let late: Vec<f64> = timed
            .iter()
            .filter(|t| t.0 >= seconds as f64 / 2.0)
            .map(|t| t.1)
            .collect();
        let late = match late.is_empty() {
            true => String::new(),
            false => format!(
                "; in the second half {} requests, p50 {:.1} ms, p99 {:.1} ms",
                late.len(),
                percentile(&late, 0.5),
                percentile(&late, 0.99)
            ),
        };
        println!(
            "{name}: {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (the slowest 1% at {} s){late}",
            ms.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            ms[ms.len() - 1],
            slowest.join(", ")
        );
    };
    let database = match hone_core::database_location(dir.path()).unwrap() {
        hone_core::store::Location::Postgres(_) => "PostgreSQL",
        hone_core::store::Location::File(_) => "SQLite",
    };
    println!("load: on {database}, {ANNOTATORS} annotators (pausing {} ms after each save) for {seconds} s on {judged} judged pairs, an import of {} pairs ({:.1} s) and {} alongside; no 5xx; no pair offered twice to one annotator; {} empty queues; {saved_per_second:.0} judgments saved per second; every {}th save undone, every {}th re-judged", setting("HONE_LOAD_THINK_MS", 0), judged.min(20_000), import_ms / 1e3, if setting("HONE_LOAD_TRAIN", 1) == 1 { "a DPO job" } else { "no training" }, seen.empty_queues, setting("HONE_LOAD_UNDO_EVERY", 10), setting("HONE_LOAD_UNDO_EVERY", 10));
    summary("first next_item", seen.first_next_item_ms);
    summary("next_item", seen.next_item_ms);
    summary("record_feedback", seen.save_ms);
    if setting("HONE_LOAD_UNDO_EVERY", 10) > 0 {
        summary("undo or re-judgment", seen.change_ms);
    }
}
