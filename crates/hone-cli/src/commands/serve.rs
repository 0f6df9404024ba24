//! `hone serve`: the web UI and its API for a browser on this machine.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::output::say;
use hone_server::{embedded_ui, serve, ServeConfig, UiFiles};

#[derive(clap::Args)]
pub struct Args {
    /// The address to listen on; anything but 127.0.0.1/::1 needs --token or --team.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// 0 picks a free port (printed).
    #[arg(long, default_value_t = 8741)]
    port: u16,
    /// A built web UI folder to serve instead of the one built into hone (for UI work).
    #[arg(long, value_name = "DIR")]
    ui: Option<PathBuf>,
    /// Require `Authorization: Bearer TOKEN` on every API request.
    #[arg(long, env = "HONE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Team mode: every request carries an account's own token (`hone users add`), its role
    /// decides what it may do, and annotators label under their account's name.
    #[arg(long, conflicts_with = "token")]
    team: bool,
    /// Team mode: a folder of models accounts may name, besides the workspace and its known
    /// base models (repeatable). Exports go under the workspace's `exports/` folder.
    #[arg(long = "models", value_name = "DIR", requires = "team")]
    model_roots: Vec<PathBuf>,
    /// Serve HTTPS with this certificate (PEM, its chain leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Keep the workspace's feedback in this PostgreSQL database, as `hone init --database`
    /// does (remembered by the workspace folder).
    #[arg(
        long,
        value_name = "URL",
        env = "HONE_DATABASE",
        hide_env_values = true
    )]
    database: Option<String>,
}

pub async fn run(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let (dir, _) = hone_core::resolve_workspace_dir(workspace)?;
    if let Some(url) = &args.database {
        hone_core::bind_database(&dir, url)?;
    }
    let ui = match args.ui {
        Some(dir) if !dir.join("index.html").is_file() => {
            return Err(super::BadInput(format!(
                "--ui {}: no index.html there (build the UI with `npm run build`)",
                dir.display()
            ))
            .into());
        }
        Some(dir) => UiFiles::Dir(dir),
        None if embedded_ui::available() => UiFiles::Embedded,
        None => UiFiles::None,
    };
    let api = hone_api::Api::open_on(&dir, super::device())
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot open the workspace {}: {}", dir.display(), e.message)
        })?;
    for root in &args.model_roots {
        if !root.is_dir() {
            return Err(
                super::BadInput(format!("--models {}: not a folder", root.display())).into(),
            );
        }
    }
    let api = api.with_model_roots(args.model_roots.clone());
    let config = ServeConfig {
        addr: SocketAddr::new(args.host, args.port),
        ui: ui.clone(),
        token: args.token,
        team: args.team,
        tls: match (args.tls_cert, args.tls_key) {
            (Some(cert), Some(key)) => Some(hone_server::TlsFiles { cert, key }),
            _ => None,
        },
    };
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    serve(api, config, |addr| {
        say!("Hone is serving workspace {} at {scheme}://{addr}/", dir.display());
        if let Ok(location @ hone_core::store::Location::Postgres(_)) = hone_core::database_location(&dir) {
            say!("feedback is kept in {location}");
        }
        if ui == UiFiles::None {
            say!("(this hone was built without its web UI: run `npm run build`, then build hone again, or pass --ui DIR; the API is at /api)");
        }
    })
    .await
    .map_err(|e| match e {
        hone_server::ServeError::PublicWithoutToken(_)
        | hone_server::ServeError::WeakToken(_)
        | hone_server::ServeError::TeamWithoutOwner
        | hone_server::ServeError::TeamWithSharedToken
        | hone_server::ServeError::Tls(_) => {
            anyhow::Error::new(super::BadInput(e.to_string()))
        }
        other => other.into(),
    })
}
