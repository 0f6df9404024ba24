//! Work that would block the async runtime (loading a model, scoring, hashing a password,
//! building a snapshot's rows) runs on tokio's blocking pool; [`run`] is how hone-core awaits it.
//!
//! Work done for a background job (a fine-tune started beside labeling) runs at the job's
//! [`ComputePriority`]: the job's future runs inside [`at_priority`], and every [`run`] within
//! it takes that priority, so the job's preparation (reading and building 100k judgments'
//! rows, seconds of CPU) yields the cores to annotators' requests as its training does.

use std::future::Future;

use hone_model::compute_priority::ComputePriority;

use crate::{CoreError, Result};

tokio::task_local! {
    static PRIORITY: ComputePriority;
}

/// Runs `work` (a job's future) so that the blocking work it awaits through [`run`] runs at
/// `priority`.
pub(crate) async fn at_priority<F: Future>(priority: ComputePriority, work: F) -> F::Output {
    PRIORITY.scope(priority, work).await
}

/// Runs `work` on the blocking pool, at the priority of the job it is done for (normal
/// outside one), and returns what it returned.
///
/// A panic in `work` is a bug: it goes on in the caller, as if `work` had run there. A runtime
/// that shuts down before `work` ran (a server stopping with requests in flight) cancels it:
/// that is [`CoreError::ShuttingDown`], an error the caller passes on, not a panic.
pub(crate) async fn run<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let priority = PRIORITY.try_with(|p| *p).unwrap_or_default();
    joined(tokio::task::spawn_blocking(move || priority.run(work)).await)
}

fn joined<T>(result: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    match result {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(CoreError::ShuttingDown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_work_s_value_comes_back() {
        assert_eq!(run(|| 6 * 7).await.unwrap(), 42);
    }

    #[tokio::test]
    async fn work_for_a_background_job_runs_at_its_priority() {
        let thread = || std::thread::current().name().unwrap_or_default().to_owned();
        let plain = run(thread).await.unwrap();
        assert!(!plain.starts_with("hone-background"), "{plain}");
        let for_job = at_priority(ComputePriority::Background, async {
            run(thread).await.unwrap()
        })
        .await;
        assert!(for_job.starts_with("hone-background"), "{for_job}");
        let normal_job = at_priority(ComputePriority::Normal, run(thread))
            .await
            .unwrap();
        assert!(!normal_job.starts_with("hone-background"), "{normal_job}");
    }

    #[tokio::test]
    async fn work_cancelled_before_it_ran_is_shutting_down_not_a_panic() {
        // A cancelled task's JoinError is what a runtime shutting down gives a blocking task
        // that had not started.
        let never = tokio::spawn(std::future::pending::<()>());
        never.abort();
        let cancelled = never.await.expect_err("aborted");
        assert!(cancelled.is_cancelled());
        let error = joined::<()>(Err(cancelled)).expect_err("cancelled work is an error");
        assert!(matches!(error, CoreError::ShuttingDown));
        assert_eq!(error.code(), "unavailable");
    }

    #[tokio::test]
    async fn a_panic_in_the_work_goes_on_in_the_caller_with_its_message() {
        let caller = tokio::spawn(run(|| -> u32 { panic!("the model file vanished") }));
        let panicked = caller.await.expect_err("the caller panicked");
        let payload = panicked.into_panic();
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"the model file vanished")
        );
    }
}
