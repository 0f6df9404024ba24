use std::time::Duration;

use hone_store::jobs::{self, MetricPoint};
use hone_store::projects::{self, NewProject};
use hone_store::{Conn, JobId, JobState, ProjectId};
use serde_json::json;
use sqlx::error::ErrorKind;

use crate::{assert_constraint, assert_not_found, open_store};

fn point(name: &str, step: i64, value: f64) -> MetricPoint {
    MetricPoint {
        name: name.into(),
        step,
        value,
    }
}

async fn project(conn: &mut Conn, name: &str) -> ProjectId {
    projects::create(conn, &NewProject::named(name))
        .await
        .unwrap()
        .id
}

/// Sleeps past the millisecond resolution of the timestamps.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

#[tokio::test]
async fn create_starts_queued_and_get_round_trips() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = project(&mut conn, "p").await;
    let params = json!({"version": "v3", "method": "dpo", "beta": 0.1});
    let job = jobs::create(&mut conn, Some(p), "train", &params)
        .await
        .unwrap();
    assert_eq!(job.project_id, Some(p), "job belongs to the project");
    assert_eq!(job.kind, "train", "kind as written");
    assert_eq!(job.state, JobState::Queued, "a new job is queued");
    assert_eq!(job.progress, 0.0, "a new job has no progress");
    assert_eq!(job.message, "", "no message yet");
    assert_eq!(
        (job.error.as_deref(), job.result.as_ref()),
        (None, None),
        "no error and no result yet"
    );
    assert_eq!(job.params, params, "params round-trip");
    assert_eq!(
        job.created_at, job.updated_at,
        "a new job was last updated when created"
    );
    assert_eq!(
        jobs::get(&mut conn, job.id).await.unwrap(),
        job,
        "get returns what create returned"
    );

    let global = jobs::create(&mut conn, None, "download", &json!({}))
        .await
        .unwrap();
    assert_eq!(global.project_id, None, "a job may belong to no project");
    assert_not_found(
        jobs::get(&mut conn, JobId(1234)).await.unwrap_err(),
        "job",
        "1234",
    );
    assert_constraint(
        jobs::create(&mut conn, Some(ProjectId(777)), "train", &json!({}))
            .await
            .unwrap_err(),
        ErrorKind::ForeignKeyViolation,
    );
}

#[tokio::test]
async fn list_all_or_of_one_project() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let a = project(&mut conn, "a").await;
    let b = project(&mut conn, "b").await;
    let j1 = jobs::create(&mut conn, Some(a), "generate", &json!({}))
        .await
        .unwrap();
    let j2 = jobs::create(&mut conn, Some(b), "train", &json!({}))
        .await
        .unwrap();
    let j3 = jobs::create(&mut conn, None, "download", &json!({}))
        .await
        .unwrap();
    let j4 = jobs::create(&mut conn, Some(a), "evaluate", &json!({}))
        .await
        .unwrap();
    let ids = |v: Vec<jobs::Job>| v.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(jobs::list(&mut conn, None).await.unwrap()),
        [j1.id, j2.id, j3.id, j4.id],
        "no filter: every job, by id"
    );
    assert_eq!(
        ids(jobs::list(&mut conn, Some(a)).await.unwrap()),
        [j1.id, j4.id],
        "project a's jobs only"
    );
    assert_eq!(
        ids(jobs::list(&mut conn, Some(b)).await.unwrap()),
        [j2.id],
        "project b's jobs only"
    );
}

#[tokio::test]
async fn update_sets_state_progress_message_and_touches_updated_at() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let job = jobs::create(&mut conn, None, "train", &json!({}))
        .await
        .unwrap();
    tick().await;
    jobs::update(&mut conn, job.id, JobState::Running, 0.25, "epoch 1/4")
        .await
        .unwrap();
    let got = jobs::get(&mut conn, job.id).await.unwrap();
    assert_eq!(
        (got.state, got.progress, got.message.as_str()),
        (JobState::Running, 0.25, "epoch 1/4"),
        "update is stored"
    );
    assert!(
        got.updated_at > job.updated_at,
        "updated_at moves forward: {} -> {}",
        job.updated_at,
        got.updated_at
    );
    assert_eq!(got.created_at, job.created_at, "created_at never changes");

    jobs::update(&mut conn, job.id, JobState::Running, 1.7, "over")
        .await
        .unwrap();
    assert_eq!(
        jobs::get(&mut conn, job.id).await.unwrap().progress,
        1.0,
        "progress above 1 is clamped to 1"
    );
    jobs::update(&mut conn, job.id, JobState::Running, -0.5, "under")
        .await
        .unwrap();
    assert_eq!(
        jobs::get(&mut conn, job.id).await.unwrap().progress,
        0.0,
        "progress below 0 is clamped to 0"
    );

    assert_not_found(
        jobs::update(&mut conn, JobId(555), JobState::Running, 0.5, "")
            .await
            .unwrap_err(),
        "job",
        "555",
    );
}

#[tokio::test]
async fn finish_success_sets_result_and_full_progress() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let job = jobs::create(&mut conn, None, "train", &json!({}))
        .await
        .unwrap();
    jobs::update(&mut conn, job.id, JobState::Running, 0.6, "step 600")
        .await
        .unwrap();
    let result = json!({"version_id": 3, "final_loss": 0.21});
    jobs::finish(&mut conn, job.id, JobState::Succeeded, Some(&result), None)
        .await
        .unwrap();
    let got = jobs::get(&mut conn, job.id).await.unwrap();
    assert_eq!(got.state, JobState::Succeeded, "state succeeded");
    assert_eq!(got.progress, 1.0, "a succeeded job is at progress 1.0");
    assert_eq!(got.result, Some(result), "result round-trips");
    assert_eq!(got.error, None, "no error on success");
    assert_eq!(got.message, "step 600", "finish leaves the message");
    assert!(got.state.is_finished(), "succeeded is finished");
}

#[tokio::test]
async fn finish_failure_keeps_progress_and_records_the_error() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let job = jobs::create(&mut conn, None, "train", &json!({}))
        .await
        .unwrap();
    jobs::update(&mut conn, job.id, JobState::Running, 0.4, "")
        .await
        .unwrap();
    jobs::finish(
        &mut conn,
        job.id,
        JobState::Failed,
        None,
        Some("CUDA out of memory"),
    )
    .await
    .unwrap();
    let got = jobs::get(&mut conn, job.id).await.unwrap();
    assert_eq!(got.state, JobState::Failed, "state failed");
    assert_eq!(
        got.progress, 0.4,
        "a failed job keeps the progress it reached"
    );
    assert_eq!(
        got.error.as_deref(),
        Some("CUDA out of memory"),
        "error recorded"
    );
    assert_eq!(got.result, None, "no result");

    let other = jobs::create(&mut conn, None, "generate", &json!({}))
        .await
        .unwrap();
    jobs::finish(
        &mut conn,
        other.id,
        JobState::Cancelled,
        None,
        Some("cancelled by user"),
    )
    .await
    .unwrap();
    let got = jobs::get(&mut conn, other.id).await.unwrap();
    assert_eq!(
        (got.state, got.progress),
        (JobState::Cancelled, 0.0),
        "cancelled keeps progress 0"
    );

    assert_not_found(
        jobs::finish(&mut conn, JobId(321), JobState::Succeeded, None, None)
            .await
            .unwrap_err(),
        "job",
        "321",
    );
}

#[tokio::test]
async fn mark_interrupted_touches_only_queued_and_running_jobs() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let mut ids = Vec::new();
    for state in [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Interrupted,
    ] {
        let job = jobs::create(&mut conn, None, "x", &json!({}))
            .await
            .unwrap();
        match state {
            JobState::Queued => {}
            JobState::Running | JobState::Interrupted => {
                jobs::update(&mut conn, job.id, state, 0.5, "")
                    .await
                    .unwrap()
            }
            _ => jobs::finish(&mut conn, job.id, state, None, None)
                .await
                .unwrap(),
        }
        ids.push((job.id, state));
    }
    assert_eq!(
        jobs::mark_interrupted(&mut conn).await.unwrap(),
        0,
        "a job touched just now belongs to a live process"
    );
    assert!(
        !jobs::claim_for_resume(&mut conn, ids[1].0).await.unwrap(),
        "a live running job cannot be taken"
    );
    // Two minutes of silence: the process is gone.
    sqlx::query(&format!(
        "UPDATE jobs SET updated_at = {}",
        store.backend().seconds_ago(120)
    ))
    .execute(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        jobs::mark_interrupted(&mut conn).await.unwrap(),
        2,
        "exactly the queued and the running job are marked"
    );
    for &(id, before) in &ids {
        let after = jobs::get(&mut conn, id).await.unwrap().state;
        let expected = if matches!(before, JobState::Queued | JobState::Running) {
            JobState::Interrupted
        } else {
            before
        };
        assert_eq!(after, expected, "a {before} job must end up {expected}");
    }
    assert_eq!(
        jobs::mark_interrupted(&mut conn).await.unwrap(),
        0,
        "a second call finds nothing to mark"
    );
    assert!(
        jobs::claim_for_resume(&mut conn, ids[1].0).await.unwrap(),
        "an interrupted job can be taken"
    );
    assert!(
        !jobs::claim_for_resume(&mut conn, ids[1].0).await.unwrap(),
        "once"
    );
    jobs::heartbeat(&mut conn, ids[1].0).await.unwrap();
    sqlx::query(&format!(
        "UPDATE jobs SET updated_at = {} WHERE id = $1",
        store.backend().seconds_ago(120)
    ))
    .bind(ids[1].0)
    .execute(&mut *conn)
    .await
    .unwrap();
    assert!(
        jobs::claim_for_resume(&mut conn, ids[1].0).await.unwrap(),
        "a running job whose process went silent can be taken"
    );
}

#[tokio::test]
async fn metrics_are_sorted_by_name_then_step_and_filterable() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let job = jobs::create(&mut conn, None, "train", &json!({}))
        .await
        .unwrap();
    let other = jobs::create(&mut conn, None, "train", &json!({}))
        .await
        .unwrap();
    jobs::record_metrics(
        &mut conn,
        job.id,
        &[
            point("loss", 20, 0.9),
            point("lr", 10, 2e-4),
            point("loss", 10, 1.3),
        ],
    )
    .await
    .unwrap();
    jobs::record_metrics(&mut conn, job.id, &[point("loss", 30, 0.7)])
        .await
        .unwrap();
    jobs::record_metrics(&mut conn, other.id, &[point("loss", 10, 5.0)])
        .await
        .unwrap();

    assert_eq!(
        jobs::metrics(&mut conn, job.id, None).await.unwrap(),
        vec![
            point("loss", 10, 1.3),
            point("loss", 20, 0.9),
            point("loss", 30, 0.7),
            point("lr", 10, 2e-4)
        ],
        "every point of the job, by name then step"
    );
    assert_eq!(
        jobs::metrics(&mut conn, job.id, Some("lr")).await.unwrap(),
        vec![point("lr", 10, 2e-4)],
        "a name narrows to that metric"
    );
    assert!(
        jobs::metrics(&mut conn, job.id, Some("accuracy"))
            .await
            .unwrap()
            .is_empty(),
        "an unknown metric has no points"
    );
    assert_eq!(
        jobs::metrics(&mut conn, other.id, None).await.unwrap(),
        vec![point("loss", 10, 5.0)],
        "jobs do not share points"
    );
}

#[tokio::test]
async fn recording_a_point_at_an_existing_step_replaces_it() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let job = jobs::create(&mut conn, None, "train", &json!({}))
        .await
        .unwrap();
    jobs::record_metrics(
        &mut conn,
        job.id,
        &[point("loss", 1, 2.0), point("loss", 2, 1.5)],
    )
    .await
    .unwrap();
    // A resumed run re-logs step 2 with a new value.
    jobs::record_metrics(
        &mut conn,
        job.id,
        &[point("loss", 2, 1.4), point("loss", 3, 1.1)],
    )
    .await
    .unwrap();
    assert_eq!(
        jobs::metrics(&mut conn, job.id, Some("loss"))
            .await
            .unwrap(),
        vec![
            point("loss", 1, 2.0),
            point("loss", 2, 1.4),
            point("loss", 3, 1.1)
        ],
        "the re-logged step replaces the old value, no duplicate point"
    );
    let err = jobs::record_metrics(&mut conn, JobId(999), &[point("loss", 1, 1.0)])
        .await
        .unwrap_err();
    assert_constraint(err, ErrorKind::ForeignKeyViolation);
}
