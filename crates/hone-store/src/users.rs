//! Team accounts and their API tokens (migration 0009). The store keeps what it is given: the
//! token's hash is made and checked by `hone-core`.

use crate::{dialect, Conn};
use serde::{Deserialize, Serialize};

use crate::{Result, StoreError, UserId};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub name: String,
    /// `owner`, `lead` or `annotator`.
    pub role: String,
    pub created_at: String,
    /// Set when the account was revoked: its tokens no longer sign in.
    pub revoked_at: Option<String>,
}

/// A token's stored form.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: UserId,
    pub lookup: String,
    pub hash: String,
    pub revoked_at: Option<String>,
}

const USER_COLUMNS: &str = "id, name, role, created_at, revoked_at";

pub async fn insert(conn: &mut Conn, name: &str, role: &str) -> Result<User> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_some() {
        return Err(StoreError::Duplicate {
            entity: "user",
            key: format!("{name:?}"),
        });
    }
    Ok(sqlx::query_as(&format!(
        "INSERT INTO users (name, role) VALUES ($1, $2) RETURNING {USER_COLUMNS}"
    ))
    .bind(name)
    .bind(role)
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn get(conn: &mut Conn, id: UserId) -> Result<User> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("user", id))
}

pub async fn get_by_name(conn: &mut Conn, name: &str) -> Result<User> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("user", format!("{name:?}")))
}

pub async fn list(conn: &mut Conn) -> Result<Vec<User>> {
    Ok(
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Revokes the account and every token it has.
pub async fn revoke(conn: &mut Conn, user_id: UserId) -> Result<()> {
    use sqlx::Connection;
    let now = dialect::backend(conn).now();
    let mut tx = conn.begin().await?;
    sqlx::query(&format!(
        "UPDATE users SET revoked_at = {now} WHERE id = $1 AND revoked_at IS NULL"
    ))
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "UPDATE api_tokens SET revoked_at = {now} WHERE user_id = $1 AND revoked_at IS NULL"
    ))
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn insert_token(
    conn: &mut Conn,
    user_id: UserId,
    lookup: &str,
    hash: &str,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, lookup, hash) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(user_id)
    .bind(lookup)
    .bind(hash)
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn token_by_lookup(conn: &mut Conn, lookup: &str) -> Result<Option<TokenRow>> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, lookup, hash, revoked_at FROM api_tokens WHERE lookup = $1",
    )
    .bind(lookup)
    .fetch_optional(&mut *conn)
    .await?)
}
