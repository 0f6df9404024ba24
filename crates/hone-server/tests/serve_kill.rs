//! `hone serve` killed with SIGKILL at random moments while annotators label and an import
//! runs (issue 17): every judgment the server acknowledged is there after the restart, every
//! import landed all or nothing (and whole if it was acknowledged), and no request got a 5xx.
//!
//! This test binary plays two roles, as `tests/durability.rs` in hone-core does. As the child
//! (the environment variable set) it serves the workspace on a free loopback port and prints
//! the address. As the parent it prepares a workspace, then for each round starts the child,
//! runs four labeling clients and one importing client against it, kills the child after a
//! pseudo-random delay, and checks the workspace. Loopback only; about half a minute. With
//! `HONE_TEST_DATABASE` (scripts/test.sh's PostgreSQL run) the workspace is on PostgreSQL.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hone_core::projects::ProjectSpec;
use hone_core::store::judgments;
use hone_core::store::prompts::NewPrompt;
use hone_core::store::responses::NewResponse;
use hone_core::{Hone, ProjectId, ResponseId, ResponseSource};
use serde_json::{json, Value};

mod common;

const CHILD_ENV: &str = "HONE_SERVE_KILL_CHILD_WORKSPACE";
const ROUNDS: u64 = 100;
/// Prompts in each round's import (a preference pair each).
const IMPORT_PAIRS: usize = 40;
/// The whole test stops failing, not hanging, past this.
const DEADLINE: Duration = Duration::from_secs(240);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match std::env::var_os(CHILD_ENV) {
        Some(dir) => runtime.block_on(child(Path::new(&dir))),
        None => runtime.block_on(parent()),
    }
}

async fn child(dir: &Path) {
    let api = hone_api::Api::open(dir)
        .await
        .expect("child opens the workspace");
    let config = hone_server::ServeConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        ui: hone_server::UiFiles::None,
        token: None,
        team: false,
        tls: None,
    };
    hone_server::serve(api, config, |addr: SocketAddr| {
        println!("{addr}");
    })
    .await
    .expect("serve");
}

/// What the clients of one round saw acknowledged.
#[derive(Default)]
struct Acknowledged {
    judgments: Vec<i64>,
    import: bool,
    server_errors: Vec<String>,
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    command: &str,
    args: &Value,
) -> Option<(u16, Value)> {
    let response = client
        .post(format!("{base}/api/{command}"))
        .json(args)
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    // A body cut off by the kill is no acknowledgment.
    let body = response.json::<Value>().await.ok()?;
    Some((status, body))
}

async fn label(
    base: String,
    project_id: ProjectId,
    a: ResponseId,
    b: ResponseId,
    who: usize,
    seen: Arc<Mutex<Acknowledged>>,
) {
    let client = reqwest::Client::new();
    for i in 0u64.. {
        let args = json!({ "project_id": project_id, "annotator": format!("annotator-{who}"), "kind": { "kind": "comparison", "response_a": a, "response_b": b, "choice": if i % 2 == 0 { "a" } else { "b" }, "strength": 1 + (i % 3), "reason": format!("reason {i}") } });
        let Some((status, body)) = post(&client, &base, "record_feedback", &args).await else {
            return;
        };
        let mut seen = seen.lock().unwrap();
        match status {
            200 => seen
                .judgments
                .push(body["judgment_id"].as_i64().expect("an id")),
            s if s >= 500 => seen
                .server_errors
                .push(format!("record_feedback {s}: {body}")),
            _ => {}
        }
    }
}

async fn import(base: String, project_id: ProjectId, round: u64, seen: Arc<Mutex<Acknowledged>>) {
    let client = reqwest::Client::new();
    let content: String = (0..IMPORT_PAIRS)
        .map(|i| {
            json!({ "prompt": format!("round {round} question {i}"), "chosen": "a good answer", "rejected": "a bad answer" }).to_string() + "\n"
        })
        .collect();
    let args = json!({ "project_id": project_id, "file_name": "pairs.jsonl", "split": "train", "content": content });
    if let Some((status, body)) = post(&client, &base, "import_text", &args).await {
        let mut seen = seen.lock().unwrap();
        match status {
            200 => seen.import = true,
            s if s >= 500 => seen.server_errors.push(format!("import_text {s}: {body}")),
            _ => {}
        }
    }
}

/// The child's address, read from its first line of output.
fn start_child(dir: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("the server prints its address");
    (child, format!("http://{}", line.trim()))
}

async fn parent() {
    let started = Instant::now();
    let dir = common::workspace().await;
    let (project_id, a, b) = {
        let hone = Hone::open(dir.path()).await.unwrap();
        let project = hone
            .create_project(&ProjectSpec::named("serve-kill"))
            .await
            .unwrap()
            .project;
        let prompt = hone
            .add_prompt(project.id, &NewPrompt::text("Which answer is better?"))
            .await
            .unwrap();
        let mut ids = Vec::new();
        for text in ["first answer", "second answer"] {
            ids.push(
                hone.add_response(&NewResponse::new(prompt.id, text, ResponseSource::Human))
                    .await
                    .unwrap()
                    .id,
            );
        }
        hone.close().await;
        (project.id, ids[0], ids[1])
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    println!("kill-moment seed {seed}");
    let mut acknowledged = HashSet::new();
    let (mut imports_acknowledged, mut imports_undone) = (0, 0);
    for round in 0..ROUNDS {
        assert!(
            started.elapsed() < DEADLINE,
            "round {round}: past the deadline"
        );
        // 5–300 ms after the server is up: before, during and after the import's chunks.
        let kill_after = Duration::from_millis(5 + (seed ^ round.wrapping_mul(0x9e37_79b9)) % 296);
        let (mut server, base) = start_child(dir.path());
        let seen = Arc::new(Mutex::new(Acknowledged::default()));
        let mut clients = Vec::new();
        for who in 0..4 {
            clients.push(tokio::spawn(label(
                base.clone(),
                project_id,
                a,
                b,
                who,
                seen.clone(),
            )));
        }
        clients.push(tokio::spawn(import(
            base.clone(),
            project_id,
            round,
            seen.clone(),
        )));
        tokio::time::sleep(kill_after).await;
        server.kill().expect("SIGKILL the server");
        server.wait().unwrap();
        for c in clients {
            tokio::time::timeout(Duration::from_secs(10), c)
                .await
                .expect("clients end once the server is gone")
                .unwrap();
        }
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        assert!(
            seen.server_errors.is_empty(),
            "round {round}: {:?}",
            seen.server_errors
        );

        // Reopening recovers: an import whose process died is undone.
        let hone = Hone::open(dir.path()).await.expect("reopen after the kill");
        let mut conn = hone.store().conn().await.unwrap();
        let stored: HashSet<i64> = judgments::list(&mut conn, project_id, None)
            .await
            .expect("every stored judgment loads whole")
            .iter()
            .map(|j| j.id.0) // the ids the server answered with, as JSON numbers
            .collect();
        for id in &seen.judgments {
            assert!(
                stored.contains(id),
                "round {round}: acknowledged judgment {id} was lost"
            );
        }
        acknowledged.extend(seen.judgments.iter().copied());
        drop(conn);
        let prefix = format!("round {round} question ");
        let landed = hone
            .list_prompts(project_id, None)
            .await
            .unwrap()
            .iter()
            .filter(|p| p.text.starts_with(&prefix))
            .count();
        assert!(
            landed == 0 || landed == IMPORT_PAIRS,
            "round {round}: {landed} of the import's {IMPORT_PAIRS} prompts landed"
        );
        if seen.import {
            assert_eq!(
                landed, IMPORT_PAIRS,
                "round {round}: an acknowledged import is whole"
            );
            imports_acknowledged += 1;
        } else if landed == 0 {
            imports_undone += 1;
        }
        hone.close().await;
    }
    assert!(
        !acknowledged.is_empty(),
        "no judgment was ever acknowledged: the kills came too early"
    );
    let database = match hone_core::database_location(dir.path()).unwrap() {
        hone_core::store::Location::Postgres(_) => "PostgreSQL",
        hone_core::store::Location::File(_) => "SQLite",
    };
    println!(
        "serve kill on {database}: ok ({ROUNDS} kills in {:.1} s, {} acknowledged judgments all present, {imports_acknowledged} imports acknowledged and whole, {imports_undone} cut and undone)",
        started.elapsed().as_secs_f64(),
        acknowledged.len()
    );
}
