//! The few spellings SQLite and PostgreSQL do not share. Every other query is written once,
//! in the SQL both accept: `$N` placeholders, `ON CONFLICT`, `RETURNING`, integers 0/1 for
//! booleans (sqlx's `Any` driver decodes a SQLite integer as an integer, never as a bool).

use crate::{Conn, Result};

/// The database behind a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend of a connection (a transaction derefs to one).
pub fn backend(conn: &Conn) -> Backend {
    if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

impl Backend {
    /// The current UTC time as the store's timestamp text (`2026-12-05T01:02:03.456Z`).
    /// PostgreSQL's `hone_now()` is created by its first migration.
    pub fn now(self) -> &'static str {
        match self {
            Self::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            Self::Postgres => "hone_now()",
        }
    }

    /// The time `seconds` ago, as the store's timestamp text.
    pub fn seconds_ago(self, seconds: u32) -> String {
        match self {
            Self::Sqlite => format!("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{seconds} seconds')"),
            Self::Postgres => format!(
                "to_char((clock_timestamp() - interval '{seconds} seconds') AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            ),
        }
    }

    /// A join that SQLite's planner keeps in the order written (a `CROSS JOIN`, which
    /// PostgreSQL does not allow with `ON`; its planner chooses the order itself).
    pub fn cross_join(self) -> &'static str {
        match self {
            Self::Sqlite => "CROSS JOIN",
            Self::Postgres => "JOIN",
        }
    }

    /// A subquery listing (as `id`) the ids of the JSON array bound at `$param` (one parameter however
    /// many ids: a list of thousands would overflow SQLite's parameter limit).
    pub fn json_ids(self, param: usize) -> String {
        match self {
            Self::Sqlite => format!("SELECT value AS id FROM json_each(${param})"),
            Self::Postgres => format!(
                "SELECT CAST(value AS BIGINT) AS id \
                 FROM json_array_elements_text(CAST(${param} AS JSON))"
            ),
        }
    }
}

/// `$first, $first+1, …`: `count` placeholders for an `IN (…)` list.
pub fn params(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `count` fresh ids for rows of `table` that a batch insert gives explicitly, in order.
/// The caller holds a write transaction ([`crate::Store::begin`]). SQLite's are the ones after
/// the largest id (writers are serialized); PostgreSQL's come from the table's identity
/// sequence, so rows inserted later without an id never collide with them.
pub async fn allocate_ids(conn: &mut Conn, table: &'static str, count: usize) -> Result<Vec<i64>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    Ok(match backend(conn) {
        Backend::Sqlite => {
            let first: i64 =
                sqlx::query_scalar(&format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}"))
                    .fetch_one(&mut *conn)
                    .await?;
            (first..first + count as i64).collect()
        }
        Backend::Postgres => {
            sqlx::query_scalar(&format!(
            "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)"
        ))
            .bind(count as i64)
            .fetch_all(&mut *conn)
            .await?
        }
    })
}

/// PostgreSQL: serializes Hone's write transactions across processes (a CLI command beside
/// the server), as SQLite's `BEGIN IMMEDIATE` does; released at commit or rollback.
pub(crate) async fn take_writer_lock(conn: &mut Conn) -> Result<()> {
    // The key is arbitrary but fixed ("hone" in ASCII); migrations-pg/0001 takes the same one
    // in the inserts of id-ordered tables (`hone_writer_turn`). `pg_advisory_xact_lock` returns void,
    // which the Any driver cannot decode, hence the outer select.
    sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(1752133221)) AS turn")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A `$N`-numbered multi-row insert: sqlx's `QueryBuilder` writes `?` for the `Any` driver,
/// which PostgreSQL refuses.
pub struct Rows {
    sql: String,
    args: sqlx::any::AnyArguments<'static>,
    params: usize,
    rows: usize,
}

impl Rows {
    /// `head` is `INSERT INTO t (a, b) ` (with its trailing space); `VALUES` follows.
    pub fn new(head: &str) -> Self {
        Self {
            sql: format!("{head}VALUES "),
            args: Default::default(),
            params: 0,
            rows: 0,
        }
    }

    /// Adds one row of values, in the column order of `head`.
    pub fn row(&mut self, values: impl IntoIterator<Item = Value>) -> &mut Self {
        use sqlx::Arguments;
        if self.rows > 0 {
            self.sql.push_str(", ");
        }
        self.sql.push('(');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.params += 1;
            self.sql.push_str(&format!("${}", self.params));
            let added = match value {
                Value::Int(v) => self.args.add(v),
                Value::OptInt(v) => self.args.add(v),
                Value::Text(v) => self.args.add(v),
                Value::OptText(v) => self.args.add(v),
            };
            added.expect("integers and text always encode");
        }
        self.sql.push(')');
        self.rows += 1;
        self
    }

    /// Appends `tail` after the values (e.g. `ON CONFLICT DO NOTHING`).
    pub fn tail(&mut self, tail: &str) -> &mut Self {
        self.sql.push(' ');
        self.sql.push_str(tail);
        self
    }

    pub async fn execute(self, conn: &mut Conn) -> Result<()> {
        if self.rows > 0 {
            sqlx::query_with(&self.sql, self.args)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// A value of a [`Rows`] insert.
pub enum Value {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Self::OptInt(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Self::OptText(v)
    }
}

/// A boolean stored as 0/1, for `#[sqlx(try_from = "IntBool")]` on a `bool` field.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub struct IntBool(i64);

impl From<IntBool> for bool {
    fn from(value: IntBool) -> Self {
        value.0 != 0
    }
}

/// Creates a new, empty PostgreSQL database named `name` on the server of `server_url` (a
/// `postgres://` URL naming any database the role may connect to, and a role allowed to
/// create databases) and returns the URL of the new one. For tests, each of which gets its
/// own database, and for setting up a team server.
pub async fn create_postgres_database(server_url: &str, name: &str) -> Result<String> {
    use sqlx::Connection;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(crate::StoreError::Open {
            location: name.to_owned(),
            source: sqlx::Error::Configuration(
                "a database name is lower-case letters, digits and _".into(),
            ),
        });
    }
    let mut admin = sqlx::postgres::PgConnection::connect(server_url).await?;
    sqlx::Executor::execute(
        &mut admin,
        format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )
        .as_str(),
    )
    .await?;
    admin.close().await?;
    Ok(with_database(server_url, name))
}

/// `url` with its database (the path) replaced by `name`, its query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_name_replaces_the_urls_path_only() {
        assert_eq!(
            super::with_database("postgres://hone@127.0.0.1:54329/hone", "t1"),
            "postgres://hone@127.0.0.1:54329/t1"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://h", "t3"),
            "postgres://h/t3"
        );
    }
}
