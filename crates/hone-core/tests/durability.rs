//! A judgment is durable once `record_feedback` returns.
//!
//! This test binary plays two roles. As the parent (no environment variable set) it prepares a
//! workspace, then several times: starts itself as a child that records comparisons in a loop
//! and prints each acknowledged judgment id, kills the child with SIGKILL at a different moment
//! each round, reopens the database and checks that every acknowledged judgment is there whole
//! (its comparison row too) and that no judgment is half-written.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hone_core::feedback::{FeedbackInput, FeedbackKind};
use hone_core::projects::ProjectSpec;
use hone_core::store::judgments::{self, JudgmentBody};
use hone_core::store::prompts::NewPrompt;
use hone_core::store::responses::NewResponse;
use hone_core::{Choice, Hone, ResponseSource};

const CHILD_ENV: &str = "HONE_DURABILITY_CHILD_WORKSPACE";
/// Kill points, spread from "before the first commit" to well into the loop.
const KILL_AFTER_MS: [u64; 6] = [5, 40, 90, 170, 260, 400];

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match std::env::var_os(CHILD_ENV) {
        Some(dir) => runtime.block_on(child(Path::new(&dir))),
        None => runtime.block_on(parent()),
    }
}

/// Records comparisons forever, printing each id once `record_feedback` has returned it.
async fn child(dir: &Path) {
    let hone = Hone::open(dir).await.expect("child opens the workspace");
    let project = hone
        .find_project("durability")
        .await
        .expect("project exists");
    let prompt = &hone.list_prompts(project.id, None).await.unwrap()[0];
    let responses = hone
        .prompt_with_responses(prompt.id)
        .await
        .unwrap()
        .responses;
    let stdout = std::io::stdout();
    for i in 0u64.. {
        let input = FeedbackInput {
            project_id: project.id,
            annotator: format!("annotator-{}", i % 3),
            time_spent_ms: i as i64,
            shown_order: vec![responses[1].id, responses[0].id],
            critique: Some(format!("critique {i}")),
            suggestion_visible: i % 2 == 1,
            suggested_response_id: None,
            supersedes: None,
            submission_id: None,
            kind: FeedbackKind::Comparison {
                response_a: responses[0].id,
                response_b: responses[1].id,
                choice: if i % 2 == 0 { Choice::A } else { Choice::B },
                strength: Some(1 + (i % 3) as i64),
                reason: Some(format!("reason {i}")),
            },
        };
        let recorded = hone.record_feedback(&input).await.expect("record");
        let mut out = stdout.lock();
        writeln!(out, "{}", recorded.judgment_id).unwrap();
        out.flush().unwrap();
    }
}

/// Runs the child, kills it after `kill_after`, and returns the ids it acknowledged.
fn run_child_and_kill(dir: &Path, kill_after: Duration) -> (Vec<i64>, Duration) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut ids = Vec::new();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            // Only complete lines count as acknowledged.
            if let Some(id) = line.strip_suffix('\n') {
                ids.push(id.parse::<i64>().expect("child prints ids"));
            }
            line.clear();
        }
        ids
    });
    let started = Instant::now();
    std::thread::sleep(kill_after);
    child.kill().expect("SIGKILL the child");
    child.wait().unwrap();
    (reader.join().unwrap(), started.elapsed())
}

async fn parent() {
    let dir = tempfile::tempdir().unwrap();
    {
        let hone = Hone::open(dir.path()).await.unwrap();
        let project = hone
            .create_project(&ProjectSpec::named("durability"))
            .await
            .unwrap()
            .project;
        let prompt = hone
            .add_prompt(project.id, &NewPrompt::text("Which answer is better?"))
            .await
            .unwrap();
        for text in ["first answer", "second answer"] {
            hone.add_response(&NewResponse::new(prompt.id, text, ResponseSource::Human))
                .await
                .unwrap();
        }
        hone.close().await;
    }

    // A random jitter on each kill point, so repeated runs kill at different moments.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    println!("kill-point jitter seed {seed}");
    let mut acknowledged_total = 0;
    for (round, ms) in KILL_AFTER_MS.iter().enumerate() {
        let jitter = u64::from(seed.rotate_left(round as u32 * 5) % 30);
        let (acknowledged, lived) =
            run_child_and_kill(dir.path(), Duration::from_millis(ms + jitter));
        acknowledged_total += acknowledged.len();

        let hone = Hone::open(dir.path()).await.expect("reopen after the kill");
        let project = hone.find_project("durability").await.unwrap();
        let mut conn = hone.store().conn().await.unwrap();
        let all = judgments::list(&mut conn, project.id, None)
            .await
            .expect("every stored judgment has its comparison row (a missing one fails to load)");
        let stored: HashSet<i64> = all.iter().map(|j| j.id.0).collect(); // as the child printed them
        for id in &acknowledged {
            assert!(
                stored.contains(id),
                "round {round}: acknowledged judgment {id} was lost after SIGKILL"
            );
        }
        for j in &all {
            match &j.body {
                JudgmentBody::Comparison {
                    reason: Some(reason),
                    strength: Some(_),
                    ..
                } => {
                    assert!(
                        reason.starts_with("reason "),
                        "judgment {} has a damaged reason {reason:?}",
                        j.id
                    )
                }
                other => panic!("judgment {} is not a whole comparison: {other:?}", j.id),
            }
            assert!(j.critique.is_some(), "judgment {} lost its critique", j.id);
        }
        let (orphans,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM comparisons WHERE judgment_id NOT IN (SELECT id FROM judgments)",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(
            orphans, 0,
            "round {round}: comparison rows without their judgment"
        );
        // Per round, at most one judgment can be committed whose id the child had no time to print.
        assert!(
            stored.len() <= acknowledged_total + round + 1,
            "round {round}: {} stored but only {acknowledged_total} acknowledged",
            stored.len()
        );
        println!(
            "round {round}: killed after {lived:?}; {} acknowledged this round, {} stored in all",
            acknowledged.len(),
            stored.len()
        );
        drop(conn);
        hone.close().await;
    }
    assert!(
        acknowledged_total > 0,
        "the child never acknowledged a judgment; the kill points are too early to test anything"
    );
    println!(
        "durability: ok ({} kills, {acknowledged_total} acknowledged judgments all present)",
        KILL_AFTER_MS.len()
    );
}
