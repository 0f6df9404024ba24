//! Server paths in team mode (issue 18). Outside team mode the caller owns the machine and may
//! name any file on it. A team account works through a browser on someone else's machine: the
//! models it names must be inside the workspace, a folder the server was started with
//! (`hone serve --team --models DIR`, as Label Studio's document root) or a base model the
//! workspace already knows; what it exports goes under the workspace's `exports/` folder.
//! Without this a lead could read any file the server may read (`inspect_model /etc`) and write
//! anywhere it may write (`export_version` to `~/.ssh`).

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::error::ApiError;
use crate::Api;

/// The folder under the workspace that team exports are written to.
pub const EXPORTS_FOLDER: &str = "exports";

fn forbidden(field: &str, message: String) -> ApiError {
    ApiError {
        code: "forbidden".into(),
        message,
        field: Some(field.into()),
    }
}

/// The model paths a command's arguments name, with the field each is in: the folders of
/// `inspect_model`, a recipe's, and every base model reference (`{ "kind": "base", "dir" }`).
fn model_paths(command: &str, args: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut take = |field: &str, value: Option<&Value>| {
        if let Some(Value::String(path)) = value {
            found.push((field.to_owned(), path.clone()));
        }
    };
    match command {
        "inspect_model" => take("dir", args.get("dir")),
        "default_recipe" => take("model_dir", args.get("model_dir")),
        "plan_fine_tune" | "start_fine_tune" => take(
            "recipe.model_dir",
            args.get("recipe").and_then(|r| r.get("model_dir")),
        ),
        _ => {}
    }
    base_model_refs(args, "", &mut found);
    found
}

fn base_model_refs(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if map.get("kind").and_then(Value::as_str) == Some("base") {
                if let Some(Value::String(dir)) = map.get("dir") {
                    found.push((
                        format!("{at}.dir").trim_start_matches('.').into(),
                        dir.clone(),
                    ));
                }
            }
            for (key, inner) in map {
                base_model_refs(inner, &format!("{at}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                base_model_refs(inner, &format!("{at}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// Where `out` is written in team mode: a relative path under `<workspace>/exports/`; an
/// absolute one only if it is there already. `..` is refused either way.
pub fn confined_export(workspace: &Path, out: &Path) -> Result<PathBuf, ApiError> {
    let exports = workspace.join(EXPORTS_FOLDER);
    if out.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(forbidden(
            "out",
            format!("{}: `..` is not allowed in team mode", out.display()),
        ));
    }
    let target = if out.is_absolute() {
        out.to_owned()
    } else {
        exports.join(out)
    };
    if !target.starts_with(&exports) || target == exports {
        return Err(forbidden(
            "out",
            format!(
                "{}: in team mode exports go under {} (give a name there)",
                out.display(),
                exports.display()
            ),
        ));
    }
    Ok(target)
}

/// Refuses the server paths a team account may not name, and puts its exports under the
/// workspace's `exports/` folder (rewriting `out`).
pub(crate) async fn confine(api: &Api, command: &str, args: &mut Value) -> Result<(), ApiError> {
    let workspace = api.hone().dir().to_owned();
    if command == "export_version" {
        if let Some(Value::String(out)) = args.get("out") {
            let target = confined_export(&workspace, Path::new(out))?;
            std::fs::create_dir_all(workspace.join(EXPORTS_FOLDER))
                .map_err(|e| ApiError::new("io", format!("cannot make the exports folder: {e}")))?;
            args["out"] = Value::String(target.to_string_lossy().into_owned());
        }
    }
    let paths = model_paths(command, args);
    if paths.is_empty() {
        return Ok(());
    }
    let mut roots: Vec<PathBuf> = std::iter::once(workspace.clone())
        .chain(api.model_roots().iter().cloned())
        .filter_map(|root| root.canonicalize().ok())
        .collect();
    let known: Vec<PathBuf> = api
        .hone()
        .base_models()
        .await?
        .iter()
        .filter_map(|m| Path::new(&m.location).canonicalize().ok())
        .collect();
    for (field, path) in paths {
        // Relative paths are the server's business, not the browser's: as given, from the
        // server's working folder.
        let resolved = Path::new(&path).canonicalize().map_err(|_| {
            forbidden(
                &field,
                format!("{path}: no such model file or folder on the server"),
            )
        })?;
        let inside = roots.iter().any(|root| resolved.starts_with(root));
        if !inside && !known.contains(&resolved) {
            roots.sort();
            let allowed: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
            return Err(forbidden(
                &field,
                format!(
                    "{path}: in team mode models come from {} or the workspace's base models; \
                     the server's owner adds folders with `hone serve --team --models DIR`",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exports_stay_under_the_workspace_exports_folder() {
        let ws = Path::new("/srv/hone");
        assert_eq!(
            confined_export(ws, Path::new("v1-peft")).unwrap(),
            Path::new("/srv/hone/exports/v1-peft")
        );
        assert_eq!(
            confined_export(ws, Path::new("/srv/hone/exports/a/b")).unwrap(),
            Path::new("/srv/hone/exports/a/b")
        );
        for refused in [
            "/home/ana/.ssh",
            "../v1",
            "a/../../x",
            "/srv/hone/exports",
            "",
        ] {
            let e = confined_export(ws, Path::new(refused)).unwrap_err();
            assert_eq!(
                (e.code.as_str(), e.field.as_deref()),
                ("forbidden", Some("out")),
                "{refused}"
            );
        }
    }

    #[test]
    fn every_model_path_of_a_command_is_found_with_its_field() {
        let args = json!({
            "recipe": { "model_dir": "/models/a" },
            "a": { "kind": "base", "dir": "/models/b" },
            "b": { "kind": "version", "id": 3 },
            "judges": [{ "kind": "base", "dir": "/models/c" }],
        });
        let mut found = model_paths("start_fine_tune", &args);
        found.sort();
        assert_eq!(
            found,
            [
                ("a.dir".to_owned(), "/models/b".to_owned()),
                ("judges[0].dir".to_owned(), "/models/c".to_owned()),
                ("recipe.model_dir".to_owned(), "/models/a".to_owned()),
            ]
        );
        assert_eq!(
            model_paths("inspect_model", &json!({ "dir": "/etc" })),
            [("dir".to_owned(), "/etc".to_owned())]
        );
        assert!(model_paths("next_item", &json!({ "project_id": 1 })).is_empty());
    }
}
