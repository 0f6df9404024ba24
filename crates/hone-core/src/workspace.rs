//! An open workspace: the folder that holds the database and, later, model files and adapters.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hone_model::compute_priority::ComputePriority;
use hone_model::{DeviceChoice, DeviceInfo};
use hone_store::{jobs, Location, Store, DATABASE_FILE};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::{CoreError, Result};

/// Where the workspace folder came from, so the CLI can say why it chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceSource {
    Flag,
    Environment,
    PlatformDataDir,
}

/// The workspace folder: `--workspace DIR` if given, else `$HONE_WORKSPACE`, else the
/// platform's data directory (e.g. `~/.local/share/hone` on Linux).
pub fn resolve_workspace_dir(flag: Option<&Path>) -> Result<(PathBuf, WorkspaceSource)> {
    if let Some(dir) = flag {
        return Ok((dir.to_owned(), WorkspaceSource::Flag));
    }
    if let Some(dir) = std::env::var_os("HONE_WORKSPACE").filter(|d| !d.is_empty()) {
        return Ok((PathBuf::from(dir), WorkspaceSource::Environment));
    }
    let dirs = directories::ProjectDirs::from("dev", "hone", "hone").ok_or_else(|| {
        CoreError::invalid(
            "workspace",
            "no home directory found; pass --workspace DIR or set HONE_WORKSPACE",
        )
    })?;
    Ok((dirs.data_dir().to_owned(), WorkspaceSource::PlatformDataDir))
}

/// An open workspace.
#[derive(Debug)]
pub struct Hone {
    store: Store,
    dir: PathBuf,
    /// Shuffles the order items are shown in; seedable so tests are repeatable.
    pub(crate) rng: Mutex<StdRng>,
    /// Where models run (`--device`, `HONE_DEVICE`); `auto` by default.
    device: DeviceChoice,
    /// The labeling queue's per-project indexes (see `queue`).
    pub(crate) queue_indexes: crate::queue::QueueIndexes,
    /// Units held for the annotators they were given to (`queue::leases`); off unless
    /// [`Hone::with_leases`].
    pub(crate) queue_leases: Option<crate::queue::QueueLeases>,
    /// Tokens whose argon2 hash was checked in this process (see `accounts`).
    pub(crate) verified_tokens: crate::accounts::VerifiedTokens,
    /// The CPU priority fine-tunes train at: normal unless [`Hone::with_background_training`].
    pub(crate) training_priority: ComputePriority,
}

/// The file that binds a workspace folder to a PostgreSQL database: its URL on one line.
/// Every process that opens the folder (the server, the CLI, a training job it starts) then
/// uses that database; without the file the workspace keeps its feedback in `hone.sqlite`.
pub const DATABASE_URL_FILE: &str = "database.url";

/// Where the workspace in `dir` keeps its feedback.
pub fn database_location(dir: &Path) -> Result<Location> {
    let file = dir.join(DATABASE_URL_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => match Location::parse(text.trim()) {
            postgres @ Location::Postgres(_) => Ok(postgres),
            Location::File(_) => Err(CoreError::invalid(
                "database.url",
                format!("{} must hold a postgres:// URL", file.display()),
            )),
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Ok(Location::File(dir.join(DATABASE_FILE)))
        }
        Err(err) => Err(CoreError::io(&file)(err)),
    }
}

/// Binds the workspace in `dir` to the PostgreSQL database at `url` (written to
/// [`DATABASE_URL_FILE`], readable by its owner only). Refused for a workspace whose feedback
/// is already in `hone.sqlite`: nothing is moved between databases, so its judgments would
/// seem lost.
pub fn bind_database(dir: &Path, url: &str) -> Result<()> {
    if !matches!(Location::parse(url), Location::Postgres(_)) {
        // Not echoed: it may hold a password.
        return Err(CoreError::invalid("database", "expected a postgres:// URL"));
    }
    if dir.join(DATABASE_FILE).exists() {
        return Err(CoreError::invalid(
            "database",
            format!(
                "the workspace {} keeps its feedback in {DATABASE_FILE}; a PostgreSQL database \
                 needs a workspace folder of its own (feedback is not moved between databases)",
                dir.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(CoreError::io(dir))?;
    let file = dir.join(DATABASE_URL_FILE);
    let staged = dir.join(format!(".{DATABASE_URL_FILE}.tmp"));
    // A leftover would keep its permissions: the file must be new to be the owner's only.
    let _ = std::fs::remove_file(&staged);
    write_private(&staged, &format!("{url}\n")).map_err(CoreError::io(&staged))?;
    std::fs::rename(&staged, &file).map_err(CoreError::io(&file))?;
    Ok(())
}

/// Writes `text` to a new file only its owner can read (the URL may hold a password).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// A snapshot still incomplete this long after it was started was abandoned by a process that
/// died (writing one takes seconds; another process may be writing one now, so a young one is
/// kept).
const ABANDONED_SNAPSHOT_SECONDS: u32 = 3_600;

impl Hone {
    /// Opens the workspace in `dir`, creating the folder and database if needed (its
    /// `hone.sqlite`, or the PostgreSQL database it is bound to: see [`bind_database`]). Jobs
    /// left queued or running by a process that is gone are marked `interrupted`.
    pub async fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(CoreError::io(dir))?;
        let store = Store::open_at(database_location(dir)?).await?;
        let interrupted = jobs::mark_interrupted(&mut *store.conn().await?).await?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "jobs from an earlier run were interrupted; they can be resumed"
            );
        }
        // Only a workspace that has some takes the writer's turn for them (a read-only command
        // on a busy or read-only database does not wait for it).
        let abandoned = if hone_store::snapshots::any_incomplete(&mut *store.conn().await?).await? {
            let mut tx = store.begin().await?;
            let n = hone_store::snapshots::delete_abandoned(&mut tx, ABANDONED_SNAPSHOT_SECONDS)
                .await?;
            tx.commit().await?;
            n
        } else {
            0
        };
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "dataset snapshots an earlier run left half-written were dropped"
            );
        }
        let undone = crate::import::recover_runs(&store, dir).await?;
        if undone > 0 {
            tracing::warn!(
                undone,
                "imports from an earlier run were interrupted and undone"
            );
        }
        Ok(Self {
            store,
            dir: dir.to_owned(),
            rng: Mutex::new(StdRng::from_os_rng()),
            device: DeviceChoice::Auto,
            queue_indexes: Default::default(),
            queue_leases: None,
            verified_tokens: Default::default(),
            training_priority: ComputePriority::Normal,
        })
    }

    /// Makes the shuffling of shown order repeatable.
    pub fn with_seed(self, seed: u64) -> Self {
        Self {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            ..self
        }
    }

    /// Holds each unit the queue gives for its annotator a while (`queue::leases`), so that
    /// annotators asking at once get different units: what a server shared by several
    /// annotators wants (`hone serve`), not a desktop with one.
    pub fn with_leases(self) -> Self {
        Self {
            queue_leases: Some(Default::default()),
            ..self
        }
    }

    /// Trains fine-tunes on threads the OS schedules after everyone else's
    /// (`hone_model::compute_priority`): what a process that answers people while it trains
    /// wants (`hone serve`, the desktop app), so that labeling stays quick during a job.
    pub fn with_background_training(self) -> Self {
        Self {
            training_priority: ComputePriority::Background,
            ..self
        }
    }

    /// Runs every model (inference, plans, fine-tunes) on `device`.
    pub fn with_device(self, device: DeviceChoice) -> Self {
        Self { device, ..self }
    }

    /// The CPU priority this workspace's fine-tunes train at.
    pub fn training_priority(&self) -> ComputePriority {
        self.training_priority
    }

    pub fn device_choice(&self) -> DeviceChoice {
        self.device
    }

    /// The device models will run on now, resolved from the choice.
    pub fn device(&self) -> Result<DeviceInfo> {
        Ok(hone_model::device::select(self.device)?)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn close(self) {
        self.store.close().await;
    }
}
