//! Who may call what (issue 18). A local caller — the desktop, or `hone serve` without team
//! mode — owns the workspace and may call everything. In team mode every call comes from an
//! account: an annotator labels what the queue gives them under their own name and sees only
//! their own judgments; a lead does everything but accounts; an owner everything.

use hone_core::accounts::{Account, Role};
use serde_json::Value;

use crate::error::ApiError;
use crate::Api;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The workspace's own user (no accounts).
    Local,
    /// A team account, signed in with its token.
    Account(Account),
}

/// What an annotator may call; anything else needs a lead.
const ANNOTATOR_COMMANDS: &[&str] = &[
    "health",
    "whoami",
    "list_projects",
    "project_details",
    "next_item",
    "record_feedback",
    "skip_item",
    "flag_item",
    "judgment_history",
    "judgment_detail",
    "undo_judgment",
    "suggestion",
];

/// Annotator commands about one project (`project_id`): an annotator must be its member.
/// (`judgment_detail` and `undo_judgment` reach only the annotator's own judgments.)
const PROJECT_COMMANDS: &[&str] = &[
    "project_details",
    "next_item",
    "record_feedback",
    "skip_item",
    "flag_item",
    "judgment_history",
    "suggestion",
];

/// Commands whose `annotator` is the account's own name in team mode, whatever the role.
const LABELING_COMMANDS: &[&str] = &["next_item", "record_feedback", "skip_item", "flag_item"];

/// Commands about accounts: owners only.
pub(crate) const OWNER_COMMANDS: &[&str] = &["list_users", "add_user", "revoke_user", "new_token"];

/// The least role a command needs.
pub fn required_role(command: &str) -> Role {
    if OWNER_COMMANDS.contains(&command) {
        Role::Owner
    } else if ANNOTATOR_COMMANDS.contains(&command) {
        Role::Annotator
    } else {
        Role::Lead
    }
}

fn forbidden(message: String) -> ApiError {
    ApiError::new("forbidden", message)
}

/// Refuses a call the caller's role does not allow, and puts the account's name where a
/// labeling command names its annotator (a different name given is refused, not replaced).
pub(crate) async fn authorize(
    api: &Api,
    caller: &Caller,
    command: &str,
    args: &mut Value,
) -> Result<(), ApiError> {
    let Caller::Account(account) = caller else {
        return Ok(());
    };
    // Every command takes an object: another shape (an array fills a struct's fields in order)
    // would slip past the checks below.
    if !args.is_object() {
        return Err(ApiError::new(
            "bad_arguments",
            format!("{command}: the arguments must be a JSON object"),
        ));
    }
    let needed = required_role(command);
    if account.role < needed {
        let who = match needed {
            Role::Owner => "an owner",
            _ => "a lead or an owner",
        };
        return Err(forbidden(format!(
            "{} is {} {}; {command} needs {who}",
            account.name,
            article(account.role),
            account.role.as_str()
        )));
    }
    // The AI suggestion an annotator sees is the project's reward model's; naming a judge model
    // (a folder on the server, any version) is a lead's.
    if account.role == Role::Annotator
        && command == "suggestion"
        && args.get("judge").is_some_and(|j| !j.is_null())
    {
        return Err(forbidden(format!(
            "{} is an annotator; choosing the suggestion's judge model needs a lead or an owner",
            account.name
        )));
    }
    if account.role == Role::Annotator && PROJECT_COMMANDS.contains(&command) {
        let project_id = args
            .get("project_id")
            .and_then(Value::as_i64)
            .map(hone_core::ProjectId)
            .ok_or_else(|| {
                ApiError::new("bad_arguments", format!("{command}: project_id is missing"))
            })?;
        if !api.hone().is_member(project_id, account.id).await? {
            return Err(forbidden(format!(
                "{} is not a member of project {project_id}; a lead adds annotators to projects",
                account.name
            )));
        }
    }
    let own_name_only = LABELING_COMMANDS.contains(&command)
        || (command == "judgment_history" && account.role == Role::Annotator);
    if own_name_only {
        let object = args.as_object_mut().expect("checked above");
        match object.get("annotator") {
            Some(Value::String(name)) if name != &account.name => {
                return Err(forbidden(format!(
                    "in team mode {} acts as themself, not as {name:?}",
                    account.name
                )));
            }
            _ => {
                object.insert("annotator".into(), Value::String(account.name.clone()));
            }
        }
    }
    if account.role == Role::Annotator && matches!(command, "judgment_detail" | "undo_judgment") {
        let id = args
            .get("judgment_id")
            .and_then(Value::as_i64)
            .map(hone_core::JudgmentId)
            .ok_or_else(|| {
                ApiError::new(
                    "bad_arguments",
                    format!("{command}: judgment_id is missing"),
                )
            })?;
        // Unknown, someone else's, or in a project they are no longer a member of: one answer,
        // so that the refusal does not tell which ids exist.
        let not_theirs = || forbidden(format!("judgment {id} is not {}'s", account.name));
        let detail = match api.hone().judgment_detail(id).await {
            Ok(detail) => detail,
            Err(hone_core::CoreError::NotFound { .. }) => return Err(not_theirs()),
            Err(e) => return Err(e.into()),
        };
        if detail.annotator != account.name
            || !api.hone().is_member(detail.project_id, account.id).await?
        {
            return Err(not_theirs());
        }
    }
    // Files on the server's machine: models from known folders only, exports under the
    // workspace.
    crate::paths::confine(api, command, args).await
}

fn article(role: Role) -> &'static str {
    match role {
        Role::Annotator => "an",
        Role::Lead | Role::Owner => "a",
    }
}

/// What a command answered, cut to what the caller may see: an annotator's project list is
/// their projects.
pub(crate) async fn visible(
    api: &Api,
    caller: &Caller,
    command: &str,
    answer: Value,
) -> Result<Value, ApiError> {
    match caller {
        Caller::Account(account)
            if account.role == Role::Annotator && command == "list_projects" =>
        {
            let mine = api.hone().member_projects(account.id).await?;
            let Value::Array(projects) = answer else {
                return Ok(answer);
            };
            Ok(Value::Array(
                projects
                    .into_iter()
                    .filter(|p| {
                        p["id"]
                            .as_i64()
                            .is_some_and(|id| mine.contains(&hone_core::ProjectId(id)))
                    })
                    .collect(),
            ))
        }
        _ => Ok(answer),
    }
}
