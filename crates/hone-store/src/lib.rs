//! Hone's feedback store: one SQLite file per workspace (WAL, foreign keys on, `synchronous=FULL`
//! so that a committed judgment survives a crash), migrations embedded with `sqlx::migrate!`.
//!
//! Every query is a free function in the module of its table family and takes
//! `&mut SqliteConnection`, so callers choose the transaction: a pooled connection for one
//! statement, or `store.begin()` to make several writes atomic (an import, a judgment with its
//! kind-specific rows). Validation of domain rules (a ranking is a permutation, a rating is on
//! the scale, …) belongs to `hone-core`; the schema's CHECK constraints are the last guard.

pub mod annotators;
mod error;
pub mod flags;
pub mod gold;
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
mod types;
pub mod users;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
pub use sqlx::{SqliteConnection, SqlitePool, Transaction};

pub use error::StoreError;
pub use types::*;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The file name of the database inside a workspace folder.
pub const DATABASE_FILE: &str = "hone.sqlite";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// An open workspace database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// The one connection write transactions use ([`Store::begin`]): a writer never waits for
    /// a pooled connection that long reads (the labeling queue's) hold.
    writer_pool: SqlitePool,
    path: PathBuf,
    /// This process's writers take turns here, first come first served, before they ask
    /// SQLite for the write lock (see [`Store::begin`]).
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction holding this process's writer turn; dropped without
/// [`commit`](WriteTx::commit) it rolls back. It derefs to the connection, so every query
/// function takes `&mut tx`.
pub struct WriteTx {
    tx: Transaction<'static, sqlx::Sqlite>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        Ok(self.tx.commit().await?)
    }

    pub async fn rollback(self) -> Result<()> {
        Ok(self.tx.rollback().await?)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Transaction<'static, sqlx::Sqlite>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl Store {
    /// Opens (creating if needed) the database file at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(StoreError::Sqlx)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let open = |connections: u32| {
            let options = options.clone();
            async move {
                SqlitePoolOptions::new()
                    .max_connections(connections)
                    .connect_with(options)
                    .await
                    .map_err(|source| StoreError::Open {
                        path: path.to_owned(),
                        source,
                    })
            }
        };
        let pool = open(4).await?;
        MIGRATOR.run(&pool).await?;
        let writer_pool = open(1).await?;
        Ok(Self {
            pool,
            writer_pool,
            path: path.to_owned(),
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A pooled connection for reads and single-statement writes.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        Ok(self.pool.acquire().await?)
    }

    /// A read transaction: every query in it sees the database as it was at its first read
    /// (WAL readers do not block writers, nor wait for them). For work that must read many
    /// tables consistently without holding the writer's turn while it does (a snapshot's rows).
    pub async fn read(&self) -> Result<Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin().await?)
    }

    /// A write transaction; dropped without `commit()` it rolls back.
    ///
    /// It is `BEGIN IMMEDIATE`: it takes the write lock at once, waiting (up to the busy
    /// timeout) while another connection writes. A plain (deferred) `BEGIN` would read first
    /// and upgrade to a write lock later, and SQLite refuses that upgrade with `SQLITE_BUSY`
    /// at once, busy timeout or not, when another connection wrote in between: concurrent
    /// writers (two annotators recording at the same moment) would fail with "database is locked".
    ///
    /// Before that, the transaction waits for this process's writer turn: the process's writes
    /// are serialized in arrival order, so a judgment saved while an import runs waits for at
    /// most the import's current chunk, instead of polling SQLite's lock against a writer that
    /// takes it again the moment it lets go. Keep write transactions short (an import commits
    /// in chunks) and do no slow work (a model, a file) while one is open.
    pub async fn begin(&self) -> Result<WriteTx> {
        let turn = self.writer.clone().lock_owned().await;
        let tx = self.writer_pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { tx, _turn: turn })
    }

    pub async fn close(self) {
        self.writer_pool.close().await;
        self.pool.close().await;
    }
}
