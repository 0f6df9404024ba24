//! What the server's test files share: a real `hone serve` on a free loopback port, and a
//! workspace on the database the run asks for.
// Each test file uses some of these.
#![allow(dead_code)]

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
        tls: None,
    }
}

/// Serves `workspace` with `config` in the background; its base URL once it listens, or why
/// it would not start.
pub async fn start(workspace: &Path, config: ServeConfig) -> Result<String, ServeError> {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let api = Api::open(workspace).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        serve(api, config, |addr: SocketAddr| {
            let _ = tx.send(addr);
        })
        .await
    });
    match rx.await {
        Ok(addr) => Ok(format!("{scheme}://{addr}")),
        Err(_) => Err(server.await.unwrap().unwrap_err()),
    }
}

/// A fresh workspace folder; when `HONE_TEST_DATABASE` names a PostgreSQL server
/// (`postgres://…`, as scripts/test.sh sets for a second run), bound to a new database on it,
/// so the same test runs against PostgreSQL.
pub async fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if let Some(server) = std::env::var("HONE_TEST_DATABASE")
        .ok()
        .filter(|url| !url.is_empty())
    {
        let name = format!(
            "hone_server_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let url = hone_core::store::dialect::create_postgres_database(&server, &name)
            .await
            .expect("create a database on HONE_TEST_DATABASE's server");
        hone_core::bind_database(dir.path(), &url).unwrap();
    }
    dir
}

/// A fresh [`workspace`] with a team: the owner olivia and the annotator ana, whose token it
/// returns.
pub async fn team_workspace() -> (tempfile::TempDir, String) {
    let dir = workspace().await;
    let hone = hone_core::Hone::open(dir.path()).await.unwrap();
    let owner = hone_core::accounts::Role::Owner;
    hone.add_user("olivia", owner, false).await.unwrap();
    let ana = hone
        .add_user("ana", hone_core::accounts::Role::Annotator, false)
        .await
        .unwrap()
        .token;
    hone.close().await;
    (dir, ana)
}
