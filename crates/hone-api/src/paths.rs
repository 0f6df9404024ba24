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

/// A model path in a command's arguments: where it is (a JSON pointer, to put the resolved
/// path back), the field to name in an error, and the path as given.
#[derive(Debug, PartialEq)]
struct Named {
    pointer: String,
    field: String,
    path: String,
}

/// The model paths a command's arguments name: the folders of `inspect_model`, a recipe's,
/// and every base model reference. serde also fills a struct or a tagged enum from an array
/// (in field order, the tag first), so a reference is looked for in both shapes:
/// `{ "kind": "base", "dir": D }` and `["base", D]`; a recipe must be an object.
fn model_paths(command: &str, args: &Value) -> Result<Vec<Named>, ApiError> {
    let mut found = Vec::new();
    let mut take = |pointer: &str, field: &str| {
        if let Some(Value::String(path)) = args.pointer(pointer) {
            found.push(Named {
                pointer: pointer.into(),
                field: field.into(),
                path: path.clone(),
            });
        }
    };
    match command {
        "inspect_model" => take("/dir", "dir"),
        "default_recipe" => take("/model_dir", "model_dir"),
        "plan_fine_tune" | "start_fine_tune" => {
            if args.get("recipe").is_some_and(|r| !r.is_object()) {
                return Err(ApiError {
                    code: "bad_arguments".into(),
                    message: format!("{command}: the recipe must be a JSON object"),
                    field: Some("recipe".into()),
                });
            }
            take("/recipe/model_dir", "recipe.model_dir")
        }
        _ => {}
    }
    base_model_refs(args, "", &mut found);
    Ok(found)
}

fn base_model_refs(value: &Value, at: &str, found: &mut Vec<Named>) {
    let field = |pointer: &str| pointer.trim_start_matches('/').replace('/', ".");
    match value {
        Value::Object(map) => {
            if map.get("kind").and_then(Value::as_str) == Some("base") {
                if let Some(Value::String(dir)) = map.get("dir") {
                    let pointer = format!("{at}/dir");
                    found.push(Named {
                        field: field(&pointer),
                        pointer,
                        path: dir.clone(),
                    });
                }
            }
            for (key, inner) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                base_model_refs(inner, &format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            if let [Value::String(tag), Value::String(dir), ..] = items.as_slice() {
                if tag == "base" {
                    let pointer = format!("{at}/1");
                    found.push(Named {
                        field: field(&pointer),
                        pointer,
                        path: dir.clone(),
                    });
                }
            }
            for (i, inner) in items.iter().enumerate() {
                base_model_refs(inner, &format!("{at}/{i}"), found);
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
    // A link under exports/ would carry the write elsewhere: none may be on the way.
    let mut below = exports.clone();
    for part in target
        .strip_prefix(&exports)
        .expect("checked above")
        .components()
    {
        below.push(part);
        if std::fs::symlink_metadata(&below).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(forbidden(
                "out",
                format!(
                    "{}: {} is a link; in team mode exports are written under {} itself",
                    out.display(),
                    below.display(),
                    exports.display()
                ),
            ));
        }
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
    let paths = model_paths(command, args)?;
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
    for Named {
        pointer,
        field,
        path,
    } in paths
    {
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
        // The command (and a job resumed later) uses the path checked, not a link that could
        // point elsewhere by then.
        if let Some(slot) = args.pointer_mut(&pointer) {
            *slot = Value::String(resolved.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_export_through_a_link_under_exports_is_refused() {
        let ws = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let exports = ws.path().join(EXPORTS_FOLDER);
        std::fs::create_dir_all(&exports).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), exports.join("link")).unwrap();
        let refused = confined_export(ws.path(), Path::new("link/v1-peft")).unwrap_err();
        assert_eq!(refused.code, "forbidden");
        assert!(refused.message.contains("is a link"), "{}", refused.message);
        // A real folder there is fine.
        std::fs::create_dir_all(exports.join("real")).unwrap();
        assert_eq!(
            confined_export(ws.path(), Path::new("real/v1-peft")).unwrap(),
            exports.join("real/v1-peft")
        );
    }

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
    fn every_model_path_of_a_command_is_found_with_its_field_in_either_shape() {
        let args = json!({
            "recipe": { "model_dir": "/models/a" },
            "a": { "kind": "base", "dir": "/models/b" },
            "b": { "kind": "version", "id": 3 },
            "judges": [{ "kind": "base", "dir": "/models/c" }],
            "c": ["base", "/models/d"],
        });
        let mut found: Vec<(String, String, String)> = model_paths("start_fine_tune", &args)
            .unwrap()
            .into_iter()
            .map(|n| (n.pointer, n.field, n.path))
            .collect();
        found.sort();
        let row = |p: &str, f: &str, d: &str| (p.to_owned(), f.to_owned(), d.to_owned());
        assert_eq!(
            found,
            [
                row("/a/dir", "a.dir", "/models/b"),
                row("/c/1", "c.1", "/models/d"),
                row("/judges/0/dir", "judges.0.dir", "/models/c"),
                row("/recipe/model_dir", "recipe.model_dir", "/models/a"),
            ]
        );
        let inspect = model_paths("inspect_model", &json!({ "dir": "/etc" })).unwrap();
        assert_eq!(
            (inspect[0].field.as_str(), inspect[0].path.as_str()),
            ("dir", "/etc")
        );
        assert!(model_paths("next_item", &json!({ "project_id": 1 }))
            .unwrap()
            .is_empty());
        // A recipe as an array would fill `Recipe` in field order, its model folder unchecked.
        let refused = model_paths("plan_fine_tune", &json!({ "recipe": ["sft", "/x"] }));
        assert_eq!(refused.unwrap_err().field.as_deref(), Some("recipe"));
    }
}
