//! Team accounts (issue 18): users with a role — owner, lead, annotator — who sign in with API
//! tokens. A user's name is the annotator name their judgments carry, so in team mode nobody
//! declares who they are.
//!
//! A token is `hone_<lookup>_<secret>`: the lookup part finds its row, the secret is checked
//! against an argon2id hash (the store never holds a usable token). argon2 is slow on purpose,
//! so a token checked once is remembered by its SHA-256 for the life of the process; whether
//! it (or its user) was revoked is read from the store on every call.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hone_store::users::{self, User};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{CoreError, Hone, Result, UserId};

/// What an account may do (`hone-api`'s `roles` applies it to each command).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Labels what the queue gives them and sees only their own history.
    Annotator,
    /// Projects, guidelines, imports, reports, training.
    Lead,
    /// Everything a lead does, and the accounts.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Annotator => "annotator",
            Role::Lead => "lead",
            Role::Owner => "owner",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "annotator" => Ok(Role::Annotator),
            "lead" => Ok(Role::Lead),
            "owner" => Ok(Role::Owner),
            other => Err(format!(
                "unknown role {other:?}; expected owner, lead or annotator"
            )),
        }
    }
}

/// A signed-in account.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: UserId,
    pub name: String,
    pub role: Role,
}

/// A new token, shown once: only its hash is kept.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub account: Account,
    pub token: String,
}

/// The process's memory of tokens already checked: SHA-256 of the token → its row's id.
#[derive(Debug, Default)]
pub struct VerifiedTokens(Mutex<HashMap<[u8; 32], i64>>);

const PREFIX: &str = "hone_";

fn account(user: &User) -> Result<Account> {
    Ok(Account {
        id: user.id,
        name: user.name.clone(),
        role: user
            .role
            .parse()
            .map_err(|e: String| CoreError::invalid("role", e))?,
    })
}

/// A user name is an annotator name: 1–64 characters, no control characters, no spaces around
/// it (labeling trims names: "bob " would be bob).
fn validate_name(name: &str) -> Result<()> {
    let chars = name.chars().count();
    if chars == 0
        || chars > 64
        || name.trim().is_empty()
        || name.trim() != name
        || name.chars().any(char::is_control)
    {
        return Err(CoreError::invalid(
            "name",
            format!("{name:?}: use 1–64 visible characters, with no spaces around them"),
        ));
    }
    Ok(())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The lookup and secret parts of a token in Hone's form (16 and 64 hex digits).
fn split_token(token: &str) -> Option<(&str, &str)> {
    let (lookup, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(lookup, 16) && hex(secret, 64)).then_some((lookup, secret))
}

/// argon2 checks running at once: each takes ~19 MiB and tens of milliseconds by design, so
/// wrong tokens sent in a flood queue here instead of filling the blocking pool.
static VERIFYING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

impl Hone {
    /// Creates an account and its first token. An account's name is the annotator name its
    /// judgments carry, so a name that has judgments already (labeled before team mode, say)
    /// is refused unless `claim` says those judgments are this account's.
    pub async fn add_user(&self, name: &str, role: Role, claim: bool) -> Result<IssuedToken> {
        validate_name(name)?;
        let mut tx = self.store().begin().await?;
        let judged = hone_store::annotators::judgment_count(&mut tx, name).await?;
        if judged > 0 && !claim {
            return Err(CoreError::invalid(
                "name",
                format!(
                    "the annotator {name:?} already has {judged} judgment(s) in this workspace; \
                     choose another name, or claim them for the new account"
                ),
            ));
        }
        let user = users::insert(&mut tx, name, role.as_str()).await?;
        let token = issue_token(&mut tx, user.id).await?;
        tx.commit().await?;
        Ok(IssuedToken {
            account: account(&user)?,
            token,
        })
    }

    /// Another token for an account that is not revoked (the old ones keep working).
    pub async fn new_token(&self, name: &str) -> Result<IssuedToken> {
        let mut tx = self.store().begin().await?;
        let user = users::get_by_name(&mut tx, name).await?;
        if user.revoked_at.is_some() {
            return Err(CoreError::invalid(
                "name",
                format!("{name:?} was revoked; add the account again under another name"),
            ));
        }
        let token = issue_token(&mut tx, user.id).await?;
        tx.commit().await?;
        Ok(IssuedToken {
            account: account(&user)?,
            token,
        })
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        Ok(users::list(&mut *self.store().conn().await?).await?)
    }

    /// Revokes the account and all its tokens, at once for every server of this workspace.
    pub async fn revoke_user(&self, name: &str) -> Result<User> {
        let mut tx = self.store().begin().await?;
        let user = users::get_by_name(&mut tx, name).await?;
        users::revoke(&mut tx, user.id).await?;
        let user = users::get(&mut tx, user.id).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// The account a token signs in as; `None` for a token that is unknown, wrong or revoked
    /// (the caller says "unauthorized" without telling which).
    pub async fn authenticate(&self, token: &str) -> Result<Option<Account>> {
        let Some((lookup, secret)) = split_token(token) else {
            return Ok(None);
        };
        let mut conn = self.store().conn().await?;
        let Some(row) = users::token_by_lookup(&mut conn, lookup).await? else {
            return Ok(None);
        };
        let user = users::get(&mut conn, row.user_id).await?;
        drop(conn);
        if row.revoked_at.is_some() || user.revoked_at.is_some() {
            return Ok(None);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let known = self
            .verified_tokens
            .0
            .lock()
            .expect("the token memory is never poisoned")
            .get(&digest)
            == Some(&row.id);
        if !known {
            let _turn = VERIFYING
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let (hash, secret) = (row.hash.clone(), secret.to_owned());
            let ok = crate::blocking::run(move || {
                PasswordHash::new(&hash).is_ok_and(|parsed| {
                    Argon2::default()
                        .verify_password(secret.as_bytes(), &parsed)
                        .is_ok()
                })
            })
            .await?;
            if !ok {
                return Ok(None);
            }
            self.verified_tokens
                .0
                .lock()
                .expect("the token memory is never poisoned")
                .insert(digest, row.id);
        }
        account(&user).map(Some)
    }
}

/// Makes a token for `user_id` and stores its hash.
async fn issue_token(conn: &mut hone_store::Conn, user_id: UserId) -> Result<String> {
    let (lookup, secret) = (random_hex(8), random_hex(32));
    let salt_bytes: [u8; 16] = {
        let mut b = [0u8; 16];
        rand::rng().fill_bytes(&mut b);
        b
    };
    let secret_for_hash = secret.clone();
    let hash = crate::blocking::run(move || {
        let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt");
        Argon2::default()
            .hash_password(secret_for_hash.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await?
    .map_err(|e| CoreError::invalid("token", format!("cannot hash the token: {e}")))?;
    users::insert_token(conn, user_id, &lookup, &hash).await?;
    Ok(format!("{PREFIX}{lookup}_{secret}"))
}
