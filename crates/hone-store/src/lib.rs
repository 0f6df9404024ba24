//! Hone's feedback store: one SQLite file per workspace (WAL, foreign keys on, `synchronous=FULL`
//! so that a committed judgment survives a crash), or a PostgreSQL database for a team server;
//! migrations for both embedded with `sqlx::migrate!` (`migrations/`, `migrations-pg/`, kept in
//! step by the store's schema test).
//!
//! Both go through sqlx's `Any` driver, so every query is written once: `$N` placeholders,
//! integers for booleans, and the few spellings that differ (the time now, a JSON list of ids,
//! id allocation) in [`dialect`]. Every query is a free function in the module of its table
//! family and takes `&mut Conn`, so callers choose the transaction: a pooled connection for one
//! statement, or `store.begin()` to make several writes atomic (an import, a judgment with its
//! kind-specific rows). Validation of domain rules (a ranking is a permutation, a rating is on
//! the scale, …) belongs to `hone-core`; the schema's CHECK constraints are the last guard.

pub mod annotators;
pub mod dialect;
mod error;
pub mod flags;
pub mod gold;
mod ids;
pub mod imports;
pub mod jobs;
pub mod judgments;
pub mod members;
pub mod models;
pub mod projects;
pub mod prompts;
pub mod queue_rows;
pub mod responses;
pub mod reward_scores;
pub mod skips;
pub mod snapshots;
pub mod submissions;
mod types;
pub mod users;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;
pub use sqlx::{AnyConnection as Conn, AnyPool, Transaction};

pub use dialect::Backend;
pub use error::StoreError;
pub use ids::{
    AnnotatorId, BaseModelId, FlagId, ImportRunId, JobId, JudgmentId, ProjectId, PromptId,
    ResponseId, SnapshotId, UserId, VersionId,
};
pub use types::*;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A read transaction ([`Store::read`]).
pub type ReadTx = Transaction<'static, sqlx::Any>;

/// The file name of the database inside a workspace folder.
pub const DATABASE_FILE: &str = "hone.sqlite";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-pg");

/// Pragmas every SQLite connection gets: WAL (readers never wait for the writer),
/// `synchronous=FULL` (a committed judgment survives a power cut), foreign keys, and a busy
/// timeout for another process's writer.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;";

/// Where a store lives: a SQLite file, or a PostgreSQL database named by its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is a server; anything else is a file path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Self::Postgres(text.to_owned())
        } else {
            Self::File(PathBuf::from(text))
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            // The URL may carry a password: show the server and database only.
            Self::Postgres(url) => {
                let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
                let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
                write!(f, "postgres://{rest}")
            }
        }
    }
}

/// An open workspace database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// The one connection write transactions use ([`Store::begin`]): a writer never waits for
    /// a pooled connection that long reads (the labeling queue's) hold.
    writer_pool: AnyPool,
    location: Location,
    backend: Backend,
    /// This process's writers take turns here, first come first served, before they ask
    /// the database for the write lock (see [`Store::begin`]).
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction holding this process's writer turn; dropped without
/// [`commit`](WriteTx::commit) it rolls back. It derefs to the connection, so every query
/// function takes `&mut tx`.
pub struct WriteTx {
    tx: Transaction<'static, sqlx::Any>,
    _turn: Turn,
}

/// This process's writer turn, held by one write transaction until it ends. When the turn
/// was taken and by which call: a long turn is what every save waits for, so one is told
/// (`HONE_LOG=hone_store=debug`) with where it began.
struct Turn {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    taken: std::time::Instant,
    /// How long the database took to begin the transaction (waiting for another connection's
    /// write, for SQLite's busy handler's sleeps), and to commit it (the `fsync`).
    begin: std::time::Duration,
    commit: std::time::Duration,
    by: &'static std::panic::Location<'static>,
}

/// A turn at the writer longer than this is told at debug level.
const LONG_TURN: std::time::Duration = std::time::Duration::from_millis(20);

/// Tells (at debug level) a wait for a reader connection of [`LONG_TURN`] or more: the pool
/// is small (SQLite's readers), and a long read elsewhere makes every request wait.
fn told_if_slow(asked: std::time::Instant, by: &std::panic::Location<'_>, what: &str) {
    let waited = asked.elapsed();
    if waited >= LONG_TURN {
        tracing::debug!(waited_ms = waited.as_millis() as u64, by = %by, "{what}");
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let held = self.taken.elapsed();
        if held >= LONG_TURN {
            tracing::debug!(
                held_ms = held.as_millis() as u64,
                begin_ms = self.begin.as_millis() as u64,
                commit_ms = self.commit.as_millis() as u64,
                by = %self.by,
                "a write transaction held the writer's turn"
            );
        }
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        let WriteTx {
            tx,
            _turn: mut turn,
        } = self;
        let started = std::time::Instant::now();
        let committed = tx.commit().await;
        turn.commit = started.elapsed();
        Ok(committed?)
    }

    pub async fn rollback(self) -> Result<()> {
        Ok(self.tx.rollback().await?)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Transaction<'static, sqlx::Any>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

impl Store {
    /// Opens (creating if needed) the SQLite database file at `path` and applies pending
    /// migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_at(Location::File(path.to_owned())).await
    }

    /// Opens the store at `location`: a SQLite file (created if needed) or a PostgreSQL
    /// database (which must exist; its tables are created by the migrations).
    pub async fn open_at(location: Location) -> Result<Self> {
        install_drivers();
        let open_error = |source| StoreError::Open {
            location: location.to_string(),
            source,
        };
        let (options, backend) = match &location {
            Location::File(path) => {
                let sqlite = SqliteConnectOptions::from_str("sqlite://")
                    .map_err(open_error)?
                    .filename(path)
                    .create_if_missing(true);
                let url = sqlite.to_url_lossy();
                (
                    AnyConnectOptions::from_url(&url).map_err(open_error)?,
                    Backend::Sqlite,
                )
            }
            Location::Postgres(url) => (
                AnyConnectOptions::from_str(url).map_err(open_error)?,
                Backend::Postgres,
            ),
        };
        let open = |connections: u32| {
            let options = options.clone();
            async move {
                let mut pool = AnyPoolOptions::new()
                    .max_connections(connections)
                    .acquire_timeout(Duration::from_secs(60));
                if backend == Backend::Sqlite {
                    pool = pool.after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::Executor::execute(&mut *conn, SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    });
                }
                pool.connect_with(options).await
            }
        };
        let pool = open(match backend {
            Backend::Sqlite => 4,
            // A team server's readers: one per request in flight, up to this many.
            Backend::Postgres => 16,
        })
        .await
        .map_err(open_error)?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let writer_pool = open(1).await.map_err(open_error)?;
        Ok(Self {
            pool,
            writer_pool,
            location,
            backend,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The SQLite file, or `None` for a PostgreSQL store.
    pub fn path(&self) -> Option<&Path> {
        match &self.location {
            Location::File(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A pooled connection for reads and single-statement writes.
    #[track_caller]
    pub fn conn(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::pool::PoolConnection<sqlx::Any>>> + Send + '_
    {
        let by = std::panic::Location::caller();
        async move {
            let asked = std::time::Instant::now();
            let conn = self.pool.acquire().await?;
            told_if_slow(asked, by, "a reader waited for a pooled connection");
            Ok(conn)
        }
    }

    /// A read transaction: every query in it sees the database as it was at its first read
    /// (SQLite's WAL readers, PostgreSQL's repeatable read: readers do not block writers, nor
    /// wait for them). For work that must read many tables consistently without holding the
    /// writer's turn while it does (a snapshot's rows).
    #[track_caller]
    pub fn read(&self) -> impl std::future::Future<Output = Result<ReadTx>> + Send + '_ {
        let by = std::panic::Location::caller();
        async move {
            let asked = std::time::Instant::now();
            let tx = match self.backend {
                Backend::Sqlite => self.pool.begin().await?,
                Backend::Postgres => {
                    self.pool
                        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ")
                        .await?
                }
            };
            told_if_slow(
                asked,
                by,
                "a read transaction waited for a pooled connection",
            );
            Ok(tx)
        }
    }

    /// A write transaction; dropped without `commit()` it rolls back.
    ///
    /// Writers are serialized, as SQLite does with one writer at a time, so the store's
    /// read-then-write steps (the next guideline version, an import's ids) need no retry:
    /// SQLite's is `BEGIN IMMEDIATE`, which takes the write lock at once, waiting (up to the
    /// busy timeout) while another connection writes (a plain deferred `BEGIN` would upgrade
    /// later, and SQLite refuses that upgrade with `SQLITE_BUSY` at once when another
    /// connection wrote in between); PostgreSQL's takes a transaction-level advisory lock
    /// that every Hone process's writers share.
    ///
    /// Before that, the transaction waits for this process's writer turn: the process's writes
    /// are serialized in arrival order, so a judgment saved while an import runs waits for at
    /// most the import's current chunk, instead of polling the lock against a writer that
    /// takes it again the moment it lets go. Keep write transactions short (an import commits
    /// in chunks) and do no slow work (a model, a file) while one is open.
    #[track_caller]
    pub fn begin(&self) -> impl std::future::Future<Output = Result<WriteTx>> + Send + '_ {
        let by = std::panic::Location::caller();
        async move {
            let mut turn = Turn {
                _guard: self.writer.clone().lock_owned().await,
                taken: std::time::Instant::now(),
                begin: std::time::Duration::ZERO,
                commit: std::time::Duration::ZERO,
                by,
            };
            // Begun on a task of its own, which runs to the end even if this future is
            // dropped (a closed request, a cancelled import): sqlx's begin dropped half-way can
            // leave the writer connection inside a transaction nobody owns (SQLite's
            // `begin_with` checks the connection's state after its BEGIN ran), and every later
            // write of the process would fail. A transaction begun for nobody is dropped, so
            // rolled back.
            let (pool, backend) = (self.writer_pool.clone(), self.backend);
            let begun = tokio::spawn(async move {
                match backend {
                    Backend::Sqlite => {
                        Ok::<_, StoreError>(pool.begin_with("BEGIN IMMEDIATE").await?)
                    }
                    Backend::Postgres => {
                        let mut tx = pool.begin().await?;
                        dialect::take_writer_lock(&mut tx).await?;
                        Ok(tx)
                    }
                }
            })
            .await;
            let tx = match begun {
                Ok(tx) => tx?,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // The runtime is shutting down.
                Err(_) => return Err(sqlx::Error::PoolClosed.into()),
            };
            turn.begin = turn.taken.elapsed();
            Ok(WriteTx { tx, _turn: turn })
        }
    }

    pub async fn close(self) {
        self.writer_pool.close().await;
        self.pool.close().await;
    }
}
