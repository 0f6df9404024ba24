//! What the server's test files share: a real `hone serve` on a free loopback port.

use std::net::SocketAddr;
use std::path::Path;

use hone_api::Api;
use hone_server::{serve, ServeConfig, ServeError, UiFiles};

/// A server's settings on a free loopback port: the given token, team mode or not, no UI.
pub fn loopback(token: Option<&str>, team: bool) -> ServeConfig {
    ServeConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        ui: UiFiles::None,
        token: token.map(String::from),
        team,
    }
}

/// Serves `workspace` with `config` in the background; its base URL once it listens, or why
/// it would not start.
pub async fn start(workspace: &Path, config: ServeConfig) -> Result<String, ServeError> {
    let api = Api::open(workspace).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        serve(api, config, |addr: SocketAddr| {
            let _ = tx.send(addr);
        })
        .await
    });
    match rx.await {
        Ok(addr) => Ok(format!("http://{addr}")),
        Err(_) => Err(server.await.unwrap().unwrap_err()),
    }
}
