//! Hone's desktop shell: a window on the web UI, with the UI's commands served in-process —
//! or, once connected to a team server (`connect_team_server`: its URL and an account's
//! token, kept in the settings store), sent there (`hone_api::RemoteApi`).
//!
//! It only transports: `api` runs a command of `hone-api` (the same ones `hone serve` serves),
//! `subscribe_job` streams a job's events through the caller's `Channel`, and a finished
//! fine-tune is broadcast as the `version-created` event. The UI's settings (theme, shortcuts,
//! workspace) live in tauri-plugin-store (`settings.json`); the workspace comes from
//! `$HONE_WORKSPACE`, else the store, else Hone's default folder. Folder pickers use
//! tauri-plugin-dialog.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::PathBuf;
use std::sync::Mutex;

use hone_api::types::UiSettings;
use hone_api::{Api, ApiError, JobEvent, RemoteApi};
use serde_json::Value;
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter, Manager, State};
use tauri_plugin_store::StoreExt;

/// The settings file of the store plugin (in the app's config folder).
const SETTINGS: &str = "settings.json";
/// The store's key of the team server (`{url, token}`) this window works with.
const TEAM_SERVER: &str = "team_server";

/// The team server this window works with instead of its workspace, if any.
#[derive(Default)]
struct TeamServer(Mutex<Option<RemoteApi>>);

impl TeamServer {
    fn get(&self) -> Option<RemoteApi> {
        self.0.lock().expect("never poisoned").clone()
    }

    fn set(&self, remote: Option<RemoteApi>) {
        *self.0.lock().expect("never poisoned") = remote;
    }
}

/// Runs one of the UI's commands: on the team server when connected to one, else here.
#[tauri::command]
async fn api(
    app: AppHandle,
    state: State<'_, Api>,
    team: State<'_, TeamServer>,
    command: String,
    args: Value,
) -> Result<Value, ApiError> {
    if let Some(remote) = team.get() {
        return remote.call(&command, args).await;
    }
    let result = state.call(&command, args).await?;
    if command == "start_fine_tune" {
        announce_versions(app, state.inner().clone(), &result);
    }
    Ok(result)
}

/// Broadcasts `version-created` when the fine-tune job in `started` finishes, so every open
/// view can refresh whoever started it.
fn announce_versions(app: AppHandle, api: Api, started: &Value) {
    let Some(job_id) = started.get("job_id").and_then(Value::as_u64) else {
        return;
    };
    let Ok(mut events) = api.subscribe(job_id) else {
        return;
    };
    tauri::async_runtime::spawn(async move {
        let mut last = None;
        while let Some(event) = events.next().await {
            last = Some(event);
        }
        if let Some(JobEvent::Finished { result }) = last {
            let _ = app.emit("version-created", result);
        }
    });
}

/// Streams job `job_id`'s events (those so far, then the live ones) to `on_event`.
#[tauri::command]
async fn subscribe_job(
    state: State<'_, Api>,
    team: State<'_, TeamServer>,
    job_id: u64,
    on_event: Channel<JobEvent>,
) -> Result<(), ApiError> {
    if let Some(remote) = team.get() {
        return Err(ApiError::new(
            "unsupported",
            format!(
                "a team server's jobs are followed in its web UI ({}), not here",
                remote.url()
            ),
        ));
    }
    let mut events = state.subscribe(job_id)?;
    tauri::async_runtime::spawn(async move {
        while let Some(event) = events.next().await {
            if on_event.send(event).is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// The workspace folder this window works in.
#[tauri::command]
fn workspace(state: State<'_, Api>) -> PathBuf {
    state.hone().dir().to_owned()
}

/// Where this window's commands go: `{kind: "local", workspace}` or `{kind: "team", url}`.
#[tauri::command]
fn connection(state: State<'_, Api>, team: State<'_, TeamServer>) -> Value {
    match team.get() {
        Some(remote) => serde_json::json!({ "kind": "team", "url": remote.url() }),
        None => serde_json::json!({ "kind": "local", "workspace": state.hone().dir() }),
    }
}

/// Works with the team server at `url` as the account of `token` from now on (remembered for
/// the next start): refused, and nothing changed, unless the server answers in team mode and
/// takes the token. Returns the account.
#[tauri::command]
async fn connect_team_server(
    app: AppHandle,
    team: State<'_, TeamServer>,
    url: String,
    token: String,
) -> Result<Value, ApiError> {
    let (remote, account) = RemoteApi::connect(&url, &token).await?;
    let store = app.store(SETTINGS).map_err(store_error)?;
    store.set(
        TEAM_SERVER,
        serde_json::json!({ "url": remote.url(), "token": token.trim() }),
    );
    store.save().map_err(store_error)?;
    team.set(Some(remote));
    Ok(account)
}

/// Back to this machine's workspace (forgets the team server and its token).
#[tauri::command]
fn disconnect_team_server(app: AppHandle, team: State<'_, TeamServer>) -> Result<(), ApiError> {
    let store = app.store(SETTINGS).map_err(store_error)?;
    store.delete(TEAM_SERVER);
    store.save().map_err(store_error)?;
    team.set(None);
    Ok(())
}

/// The team server remembered in the store, if any (not contacted: a server that is down
/// now is still the one to work with; calls say `network` until it answers).
fn remembered_team_server(app: &AppHandle) -> Option<RemoteApi> {
    let saved = app.store(SETTINGS).ok()?.get(TEAM_SERVER)?;
    RemoteApi::new(saved.get("url")?.as_str()?, saved.get("token")?.as_str()?).ok()
}

fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new("io", format!("the settings store: {e}"))
}

/// The UI's settings (theme, shortcuts) from the store, and the workspace this window opened.
#[tauri::command]
fn get_settings(app: AppHandle, state: State<'_, Api>) -> Result<UiSettings, ApiError> {
    let store = app.store(SETTINGS).map_err(store_error)?;
    let defaults = UiSettings::default();
    Ok(UiSettings {
        theme: store
            .get("theme")
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or(defaults.theme),
        shortcuts: store
            .get("shortcuts")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
        workspace: Some(state.hone().dir().to_owned()),
    })
}

/// Saves the UI's settings; a changed workspace is opened at the next start (unless
/// `$HONE_WORKSPACE` names one for this session, which is then not remembered).
#[tauri::command]
fn set_settings(app: AppHandle, settings: UiSettings) -> Result<(), ApiError> {
    if !["system", "light", "dark"].contains(&settings.theme.as_str()) {
        return Err(ApiError {
            code: "invalid".into(),
            message: format!("theme {:?} is not system, light or dark", settings.theme),
            field: Some("theme".into()),
        });
    }
    let store = app.store(SETTINGS).map_err(store_error)?;
    store.set("theme", settings.theme);
    store.set(
        "shortcuts",
        serde_json::to_value(&settings.shortcuts).expect("JSON"),
    );
    if let (Some(dir), None) = (settings.workspace, std::env::var_os("HONE_WORKSPACE")) {
        store.set("workspace", dir.display().to_string());
    }
    store.save().map_err(store_error)
}

fn workspace_dir(app: &AppHandle) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let store = app.store(SETTINGS)?;
    if let Some(dir) = store
        .get("workspace")
        .and_then(|v| v.as_str().map(PathBuf::from))
    {
        return Ok(dir);
    }
    let (dir, _) = hone_core::resolve_workspace_dir(None)?;
    // Remembered, so the next start opens the same workspace.
    store.set("workspace", dir.display().to_string());
    store.save()?;
    Ok(dir)
}

#[global_allocator]
static GLOBAL: hone_allocator::Allocator = hone_allocator::Allocator;

fn main() {
    hone_allocator::keep_freed_memory();
    hone_core::train::step_end::set_hook(hone_allocator::release_freed_memory);
    // Before any other thread: candle would otherwise count the cores at every matmul.
    hone_core::model::thread_count::settle();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HONE_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    tauri::Builder::default()
        .plugin(tauri_plugin_store::Builder::default().build())
        .plugin(tauri_plugin_dialog::init())
        .setup(|app| {
            // $HONE_WORKSPACE wins over the stored setting (tests and power users).
            let dir = match std::env::var_os("HONE_WORKSPACE") {
                Some(dir) => PathBuf::from(dir),
                None => workspace_dir(app.handle())?,
            };
            // Models run on `auto` (a GPU when this build has one and it is present), or on
            // what $HONE_DEVICE says, as for the CLI.
            let device = match std::env::var("HONE_DEVICE") {
                Ok(text) if !text.is_empty() => text
                    .parse()
                    .map_err(|e| format!("HONE_DEVICE={text:?}: {e}"))?,
                _ => Default::default(),
            };
            let api = tauri::async_runtime::block_on(Api::open_on(&dir, device)).map_err(|e| {
                format!("cannot open the workspace {}: {}", dir.display(), e.message)
            })?;
            app.manage(api);
            app.manage(TeamServer(Mutex::new(remembered_team_server(app.handle()))));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            api,
            subscribe_job,
            workspace,
            get_settings,
            set_settings,
            connection,
            connect_team_server,
            disconnect_team_server
        ])
        .run(tauri::generate_context!())
        .expect("the Hone window could not start");
}
