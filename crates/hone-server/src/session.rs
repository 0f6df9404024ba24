//! Signing in to a team server from the web UI (issue 18): an account's token is exchanged once
//! for a session cookie (`HttpOnly`, so the page's scripts never hold it; `SameSite=Strict`,
//! so another site's page cannot send it; `Path=/api`), and a command sent with the cookie must
//! not come from another origin. Sessions live in the server's memory: a restart signs everyone
//! out. Each request still checks the account's token, so revoking an account ends its sessions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hone_api::ApiError;
use hone_core::UserId;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{AppState, Failure};

/// The cookie's name.
pub const COOKIE: &str = "hone_session";
/// How long a session lasts without signing in again: a working day.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Open sessions, by the SHA-256 of their id (the id itself is only in the browser's cookie).
#[derive(Default)]
pub(crate) struct Sessions(Mutex<HashMap<[u8; 32], Session>>);

struct Session {
    token: String,
    account_id: UserId,
    expires: Instant,
}

/// Sessions one account may hold (browsers, devices); signing in again past it ends the
/// oldest, so that signing in in a loop cannot grow the store.
const SESSIONS_PER_ACCOUNT: usize = 16;

#[derive(serde::Deserialize)]
pub(crate) struct SignIn {
    token: String,
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The session id in a request's `Cookie` header.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

impl Sessions {
    /// The account token behind the request's session cookie, if it has a live one.
    pub(crate) fn token(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie_value(headers)?;
        let mut sessions = self.0.lock().expect("sessions are never poisoned");
        let key = digest(id);
        match sessions.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.token.clone()),
            Some(_) => {
                sessions.remove(&key);
                None
            }
            None => None,
        }
    }

    fn open(&self, token: String, account_id: UserId) -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = hex::encode(bytes);
        let mut sessions = self.0.lock().expect("sessions are never poisoned");
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        let mut theirs: Vec<([u8; 32], Instant)> = sessions
            .iter()
            .filter(|(_, s)| s.account_id == account_id)
            .map(|(k, s)| (*k, s.expires))
            .collect();
        if theirs.len() >= SESSIONS_PER_ACCOUNT {
            theirs.sort_by_key(|&(_, expires)| expires);
            for (key, _) in &theirs[..=theirs.len() - SESSIONS_PER_ACCOUNT] {
                sessions.remove(key);
            }
        }
        sessions.insert(
            digest(&id),
            Session {
                token,
                account_id,
                expires: now + LIFETIME,
            },
        );
        id
    }

    fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie_value(headers) {
            self.0
                .lock()
                .expect("sessions are never poisoned")
                .remove(&digest(id));
        }
    }
}

/// `Secure` when the browser reached the server over HTTPS: the server's own (`tls`), or a TLS
/// proxy's that says so.
fn cookie(value: &str, max_age: u64, headers: &HeaderMap, tls: bool) -> HeaderValue {
    let secure = tls
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let text = format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/api; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).expect("a cookie of hex and fixed words")
}

/// `POST /api/session` `{token}` → the account, with the session cookie.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
) -> Response {
    if !state.team {
        return Failure(ApiError::new(
            "not_found",
            "signing in is for team servers (hone serve --team)",
        ))
        .into_response();
    }
    let account = match state.api.hone().authenticate(body.token.trim()).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            return Failure(ApiError::new(
                "unauthorized",
                "this token does not sign in: ask your team's lead or owner for yours",
            ))
            .into_response()
        }
        Err(e) => return Failure(e.into()).into_response(),
    };
    let id = state
        .sessions
        .open(body.token.trim().to_owned(), account.id);
    let mut response = Json(account).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&id, LIFETIME.as_secs(), &headers, state.tls),
    );
    response
}

/// `POST /api/session/end`: forgets the session and clears the cookie.
pub(crate) async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.sessions.close(&headers);
    let mut response = Json(serde_json::Value::Null).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, &headers, state.tls));
    response
}

/// A command sent with the cookie must come from this server's own pages: its `Origin`, when
/// the browser sends one, names the host the request was sent to (as the browser addressed it:
/// a reverse proxy that rewrites `Host` says the original in `X-Forwarded-Host`).
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok());
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    host.is_some_and(|h| h.eq_ignore_ascii_case(authority))
}
