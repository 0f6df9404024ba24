//! `hone serve`: the UI's commands as `POST /api/<command>`, a job's events as server-sent
//! events at `GET /api/jobs/<id>/events`, and the UI's built files at `/` (embedded in the
//! binary, or a folder given).
//!
//! It listens on 127.0.0.1 by default. Any other address is refused unless a token is set;
//! then every `/api` request must carry `Authorization: Bearer <token>` (or `?token=` for a
//! read — the event stream, which `EventSource` cannot give headers to —, never for a command:
//! a token in a link or a cross-site form cannot act). A token shorter than
//! [`MIN_TOKEN_CHARS`] (an empty `HONE_TOKEN` included) is refused at start. Without a token, `/api` answers
//! only requests addressed to a loopback name (`Host`) and not sent by another site
//! (`Origin`): a web page elsewhere cannot drive it, even through DNS rebinding.
//!
//! In team mode (`--team`, issue 18) there is no shared token: every `/api` request carries
//! the token of an account (`hone users add`), the account's role decides what it may call
//! (`hone_api::roles`), and it may listen on any address. Uploads and job events need a lead.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use hone_api::{Api, ApiError, Caller, JobEvent};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

pub mod embedded_ui;
mod session;
mod tls;
mod upload;

pub use tls::{TlsError, TlsFiles};

/// The UI's content security policy: only this origin, no remote content.
pub const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub ui: UiFiles,
    pub token: Option<String>,
    /// Accounts and roles instead of one shared token.
    pub team: bool,
    /// HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// Where the UI's files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiFiles {
    /// The UI built into this binary ([`embedded_ui`]).
    Embedded,
    /// A built UI folder (`ui/dist` of a checkout, while working on the UI).
    Dir(PathBuf),
    /// Only the API.
    None,
}

/// The shortest token `serve` accepts: long enough not to be guessed over HTTP.
pub const MIN_TOKEN_CHARS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("refusing a token of {0} characters: use at least {MIN_TOKEN_CHARS} (for example `openssl rand -hex 16`)")]
    WeakToken(usize),
    #[error("refusing to listen on {0}: only 127.0.0.1/::1 are allowed without a token (set --token or HONE_TOKEN, or use --team with accounts)")]
    PublicWithoutToken(SocketAddr),
    #[error("team mode needs an owner's account first: hone users add NAME --role owner")]
    TeamWithoutOwner,
    #[error(
        "--team and --token do not go together: in team mode every account has its own tokens"
    )]
    TeamWithSharedToken,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot use the TLS certificate: {0}")]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone)]
struct AppState {
    api: Api,
    token: Option<String>,
    team: bool,
    /// Served over HTTPS itself: session cookies are `Secure`.
    tls: bool,
    sessions: std::sync::Arc<session::Sessions>,
}

struct Failure(ApiError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

async fn call(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(command): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    // Parsed here, not by an extractor, so that a bad body is an ApiError like any other.
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(args) => args,
            Err(e) => {
                return Failure(ApiError::new(
                    "bad_arguments",
                    format!("{command}: the body is not JSON ({e})"),
                ))
                .into_response()
            }
        }
    };
    match state.api.call_as(&caller, &command, args).await {
        Ok(value) => Json(value).into_response(),
        Err(e) => Failure(e).into_response(),
    }
}

async fn health() -> &'static str {
    "ok"
}

fn sse_event(event: &JobEvent) -> Event {
    Event::default().data(serde_json::to_string(event).expect("events serialise"))
}

/// The job's history, then its live events; the stream ends right after the last one.
async fn job_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Failure> {
    let id: u64 = id.parse().map_err(|_| {
        Failure(ApiError::new(
            "not_found",
            format!("job {id:?} does not exist"),
        ))
    })?;
    let events = state.api.subscribe(id).map_err(Failure)?;
    let stream = stream::unfold(events, |mut events| async move {
        events.next().await.map(|e| (Ok(sse_event(&e)), events))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The host of a `Host` value or of an origin URL, without port or scheme.
fn host_name(value: &str) -> &str {
    let value = value.split_once("://").map_or(value, |(_, rest)| rest);
    let value = value.split('/').next().unwrap_or(value);
    if let Some(v6) = value.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    value.rsplit_once(':').map_or(value, |(host, _)| host)
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn same_token(given: Option<&str>, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
}

async fn guard(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // The query string carries a token only for reads (GET): the event stream.
    let by_query = (request.method() == axum::http::Method::GET)
        .then_some(query.token.as_deref())
        .flatten();
    let caller = if state.team {
        // The web UI signs in once and then sends its session cookie (session.rs); other
        // clients send their token.
        let given = bearer.or(by_query).map(str::to_owned);
        let from_cookie = if given.is_none() {
            state.sessions.token(headers)
        } else {
            None
        };
        if from_cookie.is_some()
            && request.method() != axum::http::Method::GET
            && !session::same_origin(headers)
        {
            return Failure(ApiError::new(
                "forbidden",
                "a command signed with the session cookie must come from this server's own pages",
            ))
            .into_response();
        }
        let account = match given.as_deref().or(from_cookie.as_deref()) {
            Some(token) => match state.api.hone().authenticate(token).await {
                Ok(account) => account,
                Err(e) => return Failure(e.into()).into_response(),
            },
            None => None,
        };
        let Some(account) = account else {
            return Failure(ApiError::new(
                "unauthorized",
                "this team server needs you to sign in with your account's token (POST /api/session, or Authorization: Bearer hone_…)",
            ))
            .into_response();
        };
        // Routes outside the command table: imports and job events are a lead's.
        let path = request.uri().path();
        let lead_route = path.starts_with("/api/upload/") || path.starts_with("/api/jobs/");
        if lead_route && account.role < hone_core::accounts::Role::Lead {
            return Failure(ApiError::new(
                "forbidden",
                format!(
                    "{} is an annotator; {path} needs a lead or an owner",
                    account.name
                ),
            ))
            .into_response();
        }
        Caller::Account(account)
    } else {
        match &state.token {
            Some(expected) => {
                let by_query = by_query.is_some_and(|q| same_token(Some(q), expected));
                if !same_token(bearer, expected) && !by_query {
                    return Failure(ApiError::new(
                        "unauthorized",
                        "this server needs a token (Authorization: Bearer …)",
                    ))
                    .into_response();
                }
            }
            None => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(host_name);
                let origin = headers
                    .get(header::ORIGIN)
                    .and_then(|v| v.to_str().ok())
                    .map(host_name);
                if !host.is_some_and(is_loopback_name)
                    || origin.is_some_and(|o| !is_loopback_name(o))
                {
                    return Failure(ApiError::new("forbidden", "without a token this server answers only pages of this machine (http://127.0.0.1 or http://localhost)")).into_response();
                }
            }
        }
        Caller::Local
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The router: the API, the event streams, and the UI's files with a strict CSP.
pub fn router(api: Api, ui: UiFiles, token: Option<String>) -> Router {
    build_router(
        AppState {
            api,
            token,
            team: false,
            tls: false,
            sessions: Default::default(),
        },
        ui,
    )
}

/// [`router`] in team mode: accounts' tokens and roles.
pub fn team_router(api: Api, ui: UiFiles) -> Router {
    build_router(
        AppState {
            api,
            token: None,
            team: true,
            tls: false,
            sessions: Default::default(),
        },
        ui,
    )
}

fn build_router(state: AppState, ui: UiFiles) -> Router {
    let api_routes = Router::new()
        .route("/api/health", get(health))
        .route("/api/jobs/{id}/events", get(job_events))
        // Streamed to disk and limited by the handler itself (a raw body has no default limit).
        .route("/api/upload/import", post(upload::import_upload))
        .route("/api/{command}", post(call))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
        // Signing in and out (team mode) need no account yet: after the guard's layer.
        .route(
            "/api/session",
            post(session::sign_in).layer(axum::extract::DefaultBodyLimit::max(4096)),
        )
        .route("/api/session/end", post(session::sign_out))
        // `import_text` sends whole files inside its JSON (up to the import limit of 256 MiB).
        .layer(axum::extract::DefaultBodyLimit::max(300 * 1024 * 1024))
        .with_state(state);
    let router = match ui {
        UiFiles::Dir(dir) => {
            let index = dir.join("index.html");
            api_routes.fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)))
        }
        UiFiles::Embedded => api_routes.fallback(embedded_ui::serve),
        UiFiles::None => api_routes,
    };
    router.layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    ))
}

/// Whether `addr` is only reachable from this machine.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Serves until the process is stopped; `on_ready` gets the bound address (port 0 picks one).
pub async fn serve(
    api: Api,
    config: ServeConfig,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    if let Some(token) = &config.token {
        let chars = token.chars().count();
        if chars < MIN_TOKEN_CHARS {
            return Err(ServeError::WeakToken(chars));
        }
    }
    if config.team {
        if config.token.is_some() {
            return Err(ServeError::TeamWithSharedToken);
        }
        let users = api.hone().list_users().await.map_err(ApiError::from)?;
        if !users
            .iter()
            .any(|u| u.role == "owner" && u.revoked_at.is_none())
        {
            return Err(ServeError::TeamWithoutOwner);
        }
    } else if !is_loopback(&config.addr) && config.token.is_none() {
        return Err(ServeError::PublicWithoutToken(config.addr));
    }
    // A certificate that cannot be used is refused before anything listens.
    let tls = config.tls.as_ref().map(TlsFiles::load).transpose()?;
    let listener = std::net::TcpListener::bind(config.addr).map_err(|error| ServeError::Bind {
        addr: config.addr,
        error,
    })?;
    listener.set_nonblocking(true)?;
    on_ready(listener.local_addr()?);
    // The queue's indexes are built while the first annotators open the app. A failure here
    // only means the first `next_item` builds its index (and reports what went wrong).
    let warming = api.clone();
    tokio::spawn(async move {
        let _ = warming.hone().warm_queues().await;
    });
    let app = build_router(
        AppState {
            api,
            token: if config.team { None } else { config.token },
            team: config.team,
            tls: tls.is_some(),
            sessions: Default::default(),
        },
        config.ui,
    );
    match tls {
        None => axum::serve(tokio::net::TcpListener::from_std(listener)?, app).await?,
        Some(tls) => {
            axum_server::from_tcp_rustls(listener, tls)
                .serve(app.into_make_service())
                .await?
        }
    }
    Ok(())
}
