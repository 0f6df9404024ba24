//! A team server's commands from elsewhere: what the desktop app calls instead of its own
//! workspace when it is connected to `hone serve --team` (a URL and an account's token). The
//! same commands and answers as [`crate::Api::call`], over HTTP; a server that cannot be
//! reached is the `network` error the UI's outbox waits out (see ui/src/lib/labeling/outbox.ts).

use std::time::Duration;

use serde_json::Value;

use crate::ApiError;

/// A team server and the account that calls it (its `Debug` leaves the token out).
#[derive(Clone)]
pub struct RemoteApi {
    /// `https://host:port`, without a trailing slash.
    base: String,
    token: String,
    http: reqwest::Client,
}

/// Who the remote server says the token belongs to (its `whoami`).
pub type RemoteAccount = Value;

impl std::fmt::Debug for RemoteApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl RemoteApi {
    /// A client for the server at `url` (`http://` or `https://`), signing every call with
    /// `token`. Nothing is sent yet: [`RemoteApi::connect`] checks the server and the token.
    pub fn new(url: &str, token: &str) -> Result<Self, ApiError> {
        let base = url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(invalid(
                "url",
                "a team server's address starts with http:// or https://",
            ));
        }
        let token = token.trim().to_owned();
        if token.is_empty() {
            return Err(invalid("token", "the account's token is missing"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A hung server ends as `network` (the outbox then sends the judgment again).
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| ApiError::new("internal", format!("an HTTP client: {e}")))?;
        Ok(Self { base, token, http })
    }

    /// Checks that the server answers and takes the token: the account it belongs to.
    pub async fn connect(url: &str, token: &str) -> Result<(Self, RemoteAccount), ApiError> {
        let remote = Self::new(url, token)?;
        let account = remote
            .call("whoami", Value::Object(Default::default()))
            .await?;
        if account.is_null() {
            return Err(invalid(
                "url",
                "that server is not in team mode (it has no accounts): start it with hone serve --team",
            ));
        }
        Ok((remote, account))
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// Runs `command` on the server; its refusal comes back as the server put it, and a server
    /// that cannot be reached as `network`.
    pub async fn call(&self, command: &str, args: Value) -> Result<Value, ApiError> {
        let response = self
            .http
            .post(format!("{}/api/{command}", self.base))
            .bearer_auth(&self.token)
            .json(&args)
            .send()
            .await
            .map_err(|e| {
                ApiError::new(
                    "network",
                    format!("cannot reach the team server {} ({e})", self.base),
                )
            })?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| {
            ApiError::new(
                "http",
                format!("the team server answered {status} with no Hone answer ({e})"),
            )
        })?;
        if status.is_success() {
            return Ok(body);
        }
        Err(serde_json::from_value(body).unwrap_or_else(|_| {
            ApiError::new("http", format!("the team server answered {status}"))
        }))
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError {
        code: "invalid".into(),
        message: message.into(),
        field: Some(field.into()),
    }
}
