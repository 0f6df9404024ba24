//! Whether the process working on a long task (an import run, a fine-tune job) is alive: it
//! holds an exclusive lock on `<workspace>/locks/<kind>-<id>.lock`, and the OS lets go of the
//! lock the moment that process ends, however it ends (a kill -9 included). No timeout to
//! wait out, unlike a heartbeat.

use std::fmt::Display;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::{CoreError, Result};

/// The lock of one task, held for as long as this value lives.
pub(crate) struct OwnerLock {
    _file: File,
    path: PathBuf,
}

fn lock_path(workspace: &Path, kind: &str, id: impl Display) -> PathBuf {
    workspace.join("locks").join(format!("{kind}-{id}.lock"))
}

fn open(path: &Path) -> Result<File> {
    let folder = path.parent().expect("a lock file is in the locks folder");
    std::fs::create_dir_all(folder).map_err(CoreError::io(folder))?;
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(CoreError::io(path))
}

impl OwnerLock {
    /// Takes the task's lock; `None` when a live process holds it.
    pub(crate) fn take(workspace: &Path, kind: &str, id: impl Display) -> Result<Option<Self>> {
        let path = lock_path(workspace, kind, id);
        let file = open(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file, path })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(CoreError::io(&path)(e)),
        }
    }

    /// Lets go of the lock and removes its file (the task is settled).
    pub(crate) fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether a live process holds the task's lock.
pub(crate) fn is_held(workspace: &Path, kind: &str, id: impl Display) -> Result<bool> {
    Ok(OwnerLock::take(workspace, kind, id)?.is_none())
}
