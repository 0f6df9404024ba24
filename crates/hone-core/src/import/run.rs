//! An import run's life: started with a lock file its process holds, finished in one short
//! write, or undone — on an error, when the import is dropped half-way, or, after its process
//! died, the next time the workspace opens.

use std::path::Path;

use hone_store::{imports, ImportState, Store, StoreError};

use crate::owner_lock::OwnerLock;
use crate::{CoreError, ImportRunId, ProjectId, Result};

/// The kind of task in the lock file's name.
const LOCK_KIND: &str = "import";

/// Rows deleted per transaction while undoing a run (short, so labeling goes on meanwhile).
const UNDO_ROWS: i64 = 2_000;

/// A started run. Dropped before [`Run::finish`], it is undone in the background.
pub(super) struct Run {
    store: Store,
    pub id: ImportRunId,
    /// Held while this process works on the run: a dead process's lock is free at once.
    lock: Option<OwnerLock>,
    settled: bool,
}

impl Run {
    pub(super) async fn start(
        store: &Store,
        workspace: &Path,
        project_id: ProjectId,
        path: &Path,
        annotator: &str,
    ) -> Result<Self> {
        let mut tx = store.begin().await?;
        let id =
            imports::start(&mut tx, project_id, &path.display().to_string(), annotator).await?;
        // Locked before the run is visible as running, so nobody can take it for dead.
        let lock = OwnerLock::take(workspace, LOCK_KIND, id)?.ok_or_else(|| {
            CoreError::invalid(
                "import",
                format!("import run {id} is locked by another process"),
            )
        })?;
        // The guard exists before the commit: a future dropped while the commit is in flight
        // leaves a run that may have landed, and the guard's undo settles either way.
        let mut run = Self {
            store: store.clone(),
            id,
            lock: Some(lock),
            settled: false,
        };
        if let Err(e) = tx.commit().await {
            // Rolled back: nothing to undo.
            run.settled = true;
            return Err(e.into());
        }
        Ok(run)
    }

    /// Makes the run's rows count.
    pub(super) async fn finish(mut self, records: i64) -> Result<()> {
        let mut tx = self.store.begin().await?;
        imports::finish(&mut tx, self.id, records).await?;
        tx.commit().await?;
        self.settled = true;
        if let Some(lock) = self.lock.take() {
            lock.release();
        }
        Ok(())
    }

    /// Undoes the run now, saying why.
    pub(super) async fn undo(mut self, why: &str) -> Result<()> {
        self.settled = true;
        undo(&self.store, self.id, why).await?;
        if let Some(lock) = self.lock.take() {
            lock.release();
        }
        Ok(())
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // The import's future was dropped half-way (a closed connection, a cancelled task).
        let (store, id) = (self.store.clone(), self.id);
        let lock = self.lock.take();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = undo_dropped(&store, id).await {
                    tracing::error!(import = %id, error = %e, "could not undo a stopped import");
                }
                if let Some(lock) = lock {
                    lock.release();
                }
            });
        }
        // Without a runtime the run stays `running`, its lock released here: the next open
        // undoes it.
    }
}

/// Undoes the run of an import future that was dropped. It may have been dropped while
/// committing the run's start (the run never landed) or its finish (the run is done): under
/// the writer's turn that commit has landed or never will, so the run's state then says
/// whether anything is left to undo.
async fn undo_dropped(store: &Store, id: ImportRunId) -> Result<()> {
    let mut tx = store.begin().await?;
    let state = match imports::get(&mut tx, id).await {
        Ok(run) => Some(run.state),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    tx.rollback().await?;
    if state != Some(ImportState::Running) {
        return Ok(());
    }
    undo(store, id, "the import was stopped before it finished").await
}

/// Deletes a run's rows in short transactions, then marks it rolled back.
pub(crate) async fn undo(store: &Store, id: ImportRunId, why: &str) -> Result<()> {
    loop {
        let mut tx = store.begin().await?;
        let deleted = imports::undo_step(&mut tx, id, UNDO_ROWS).await?;
        if deleted == 0 {
            imports::mark_rolled_back(&mut tx, id, why).await?;
            tx.commit().await?;
            return Ok(());
        }
        tx.commit().await?;
    }
}

/// Undoes the runs left `running` by a process that is gone (its lock file is free). Runs
/// another live process is writing are left alone. Returns how many were undone.
pub(crate) async fn recover(store: &Store, workspace: &Path) -> Result<usize> {
    let running = imports::running(&mut *store.conn().await?).await?;
    let mut undone = 0;
    for run in running {
        let Some(lock) = OwnerLock::take(workspace, LOCK_KIND, run.id)? else {
            continue; // a live process is writing it
        };
        tracing::warn!(
            import = %run.id,
            path = %run.path,
            "an import was interrupted; undoing what it wrote"
        );
        undo(
            store,
            run.id,
            "the import was interrupted (its process ended)",
        )
        .await?;
        lock.release();
        undone += 1;
    }
    Ok(undone)
}
