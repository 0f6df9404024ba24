//! Long work started through the API: each job runs on tokio, its events are kept (the last
//! [`HISTORY`]) and broadcast, so a front door that subscribes late still sees what happened.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hone_core::finetune::FineTuneEvent;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::ApiError;

/// Events replayed to a late subscriber.
pub const HISTORY: usize = 200;

/// What a job reports. The stream ends with `finished` or `failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    Progress {
        done: u64,
        total: u64,
        message: String,
    },
    FineTune {
        data: FineTuneEvent,
    },
    /// A newly decoded piece of a streamed answer (the playground).
    Token {
        text: String,
    },
    Finished {
        result: serde_json::Value,
    },
    Failed {
        error: ApiError,
    },
}

impl JobEvent {
    pub fn is_last(&self) -> bool {
        matches!(self, JobEvent::Finished { .. } | JobEvent::Failed { .. })
    }
}

/// The handle a job's work reports through.
#[derive(Clone)]
pub struct Reporter {
    entry: Arc<Entry>,
}

impl Reporter {
    pub fn send(&self, event: JobEvent) {
        self.entry.push(event);
    }

    pub fn progress(&self, done: u64, total: u64, message: impl Into<String>) {
        self.send(JobEvent::Progress {
            done,
            total,
            message: message.into(),
        });
    }

    /// Set when the user asks to cancel; long work checks it between steps. Taking the flag
    /// makes the job cancellable (`Jobs::cancel` refuses the others).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.entry.cancellable.store(true, Ordering::Relaxed);
        self.entry.cancel.clone()
    }
}

struct Entry {
    history: Mutex<Vec<JobEvent>>,
    sender: broadcast::Sender<JobEvent>,
    cancel: Arc<AtomicBool>,
    /// The work reads `cancel` (it took the flag).
    cancellable: AtomicBool,
}

impl Entry {
    fn push(&self, event: JobEvent) {
        let mut history = self.history.lock().expect("job history");
        if history.len() == HISTORY {
            // Keep the first events (the plan) and the latest ones.
            history.remove(1);
        }
        history.push(event.clone());
        // Sent under the lock, so a subscriber's replay and live stream neither miss nor repeat.
        let _ = self.sender.send(event);
    }
}

#[derive(Default, Clone)]
pub struct Jobs {
    next: Arc<AtomicU64>,
    entries: Arc<Mutex<HashMap<u64, Arc<Entry>>>>,
}

impl Jobs {
    /// Starts `work` as a job and returns its id at once.
    pub fn spawn<F, Fut>(&self, work: F) -> u64
    where
        F: FnOnce(Reporter) -> Fut,
        Fut: Future<Output = Result<serde_json::Value, ApiError>> + Send + 'static,
    {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (sender, _) = broadcast::channel(1024);
        let entry = Arc::new(Entry {
            history: Mutex::new(Vec::new()),
            sender,
            cancel: Arc::new(AtomicBool::new(false)),
            cancellable: AtomicBool::new(false),
        });
        self.entries.lock().expect("jobs").insert(id, entry.clone());
        let reporter = Reporter { entry };
        let future = work(reporter.clone());
        tokio::spawn(async move {
            // The work runs in a task of its own so that a panic in it still ends the stream.
            let last = match tokio::spawn(future).await {
                Ok(Ok(result)) => JobEvent::Finished { result },
                Ok(Err(error)) => JobEvent::Failed { error },
                Err(e) => JobEvent::Failed {
                    error: ApiError::new("internal", format!("the job stopped unexpectedly: {e}")),
                },
            };
            reporter.send(last);
        });
        id
    }

    /// The events so far and a receiver of the ones to come.
    pub fn subscribe(
        &self,
        id: u64,
    ) -> Result<(Vec<JobEvent>, broadcast::Receiver<JobEvent>), ApiError> {
        let entry = self.entry(id)?;
        let history = entry.history.lock().expect("job history");
        Ok((history.clone(), entry.sender.subscribe()))
    }

    /// Asks job `id` to stop; refused for work that cannot stop midway (it ends by itself).
    pub fn cancel(&self, id: u64) -> Result<(), ApiError> {
        let entry = self.entry(id)?;
        if !entry.cancellable.load(Ordering::Relaxed) {
            return Err(ApiError::new(
                "invalid",
                format!("job {id} cannot be stopped midway; it ends by itself"),
            ));
        }
        entry.cancel.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn entry(&self, id: u64) -> Result<Arc<Entry>, ApiError> {
        self.entries
            .lock()
            .expect("jobs")
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::new("not_found", format!("job {id} does not exist")))
    }
}

/// A job's events in order — the history, then the live ones — ending right after the last
/// (`finished` or `failed`). Every front door reads a job through it.
pub struct JobStream {
    history: std::vec::IntoIter<JobEvent>,
    live: broadcast::Receiver<JobEvent>,
    ended: bool,
}

impl JobStream {
    pub fn new(history: Vec<JobEvent>, live: broadcast::Receiver<JobEvent>) -> Self {
        Self {
            history: history.into_iter(),
            live,
            ended: false,
        }
    }

    /// The next event, or `None` after the last one.
    pub async fn next(&mut self) -> Option<JobEvent> {
        if self.ended {
            return None;
        }
        let event = match self.history.next() {
            Some(event) => event,
            None => loop {
                match self.live.recv().await {
                    Ok(event) => break event,
                    // A slow reader missed events; carry on with the newest.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
        };
        self.ended = event.is_last();
        Some(event)
    }
}

impl From<FineTuneEvent> for JobEvent {
    fn from(data: FineTuneEvent) -> Self {
        JobEvent::FineTune { data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_that_panics_still_ends_its_stream_with_a_failure() {
        let jobs = Jobs::default();
        let id = jobs.spawn(|reporter: Reporter| async move {
            reporter.progress(1, 2, "half way");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let bug = true;
            if bug {
                panic!("a bug in the work");
            }
            Ok(serde_json::Value::Null)
        });
        let (history, live) = jobs.subscribe(id).unwrap();
        assert_eq!(
            jobs.cancel(id).unwrap_err().code,
            "invalid",
            "work that never takes the flag cannot be cancelled"
        );
        let mut stream = JobStream::new(history, live);
        let mut events = Vec::new();
        while let Some(e) = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("the stream ends")
        {
            events.push(e);
        }
        match events.last() {
            Some(JobEvent::Failed { error }) => {
                assert_eq!(error.code, "internal");
                assert!(
                    error.message.contains("stopped unexpectedly"),
                    "{}",
                    error.message
                );
            }
            other => panic!("the last event must be a failure, got {other:?}"),
        }
    }
}
