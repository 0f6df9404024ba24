//! `hone users`: a team server's accounts, as its owner manages them.

use crate::{fails, json, ok};

#[test]
fn accounts_are_added_with_a_token_shown_once_listed_and_revoked() {
    let ws = tempfile::tempdir().unwrap();
    let w = ws.path();
    let added = json(w, &["users", "add", "olivia", "--role", "owner"]);
    let token = added["token"].as_str().unwrap();
    assert!(token.starts_with("hone_") && token.len() > 80, "{token}");
    assert_eq!(added["account"]["role"], "owner");
    let second = json(w, &["users", "token", "olivia"]);
    assert_ne!(second["token"], added["token"]);
    ok(w, &["users", "add", "ana", "--role", "annotator"]);

    let duplicate = fails(w, &["users", "add", "ana", "--role", "lead"], 2);
    assert!(duplicate.contains("already exists"), "{duplicate}");
    let role = fails(w, &["users", "add", "bo", "--role", "admin"], 2);
    assert!(role.contains("expected owner, lead or annotator"), "{role}");
    for name in [" ", "bob "] {
        let refused = fails(w, &["users", "add", name, "--role", "lead"], 2);
        assert!(refused.contains("no spaces around them"), "{refused}");
    }

    let revoked = json(w, &["users", "revoke", "ana"]);
    assert!(revoked["revoked_at"].is_string());
    let again = fails(w, &["users", "token", "ana"], 2);
    assert!(again.contains("was revoked"), "{again}");
    let listed = ok(w, &["users", "list"]);
    assert!(
        listed.contains("olivia") && listed.contains("owner"),
        "{listed}"
    );
    let unknown = fails(w, &["users", "revoke", "nobody"], 2);
    assert!(unknown.contains("does not exist"), "{unknown}");
}

#[test]
fn annotators_join_and_leave_projects_and_a_judged_name_must_be_claimed() {
    let ws = crate::workspace_with_project();
    let w = ws.path();
    ok(w, &["users", "add", "ana", "--role", "annotator"]);
    ok(w, &["users", "add", "bo", "--role", "annotator"]);
    let none = ok(w, &["users", "members", "--project", "support"]);
    assert!(none.contains("no members"), "{none}");
    let members = json(w, &["users", "join", "--project", "support", "ana", "bo"]);
    let names: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ana", "bo"]);
    let after = json(w, &["users", "leave", "--project", "support", "bo"]);
    assert_eq!(after.as_array().unwrap().len(), 1);
    let not_member = fails(w, &["users", "leave", "--project", "support", "bo"], 2);
    assert!(not_member.contains("not a member"), "{not_member}");
    let unknown = fails(w, &["users", "join", "--project", "support", "cy"], 2);
    assert!(unknown.contains("does not exist"), "{unknown}");
    let no_project = fails(w, &["users", "join", "--project", "nowhere", "ana"], 2);
    assert!(no_project.contains("nowhere"), "{no_project}");

    // Judgments made under a name before it had an account are claimed, not taken silently.
    ok(
        w,
        &[
            "import",
            crate::example("support-preferences.jsonl")
                .to_str()
                .unwrap(),
            "--project",
            "support",
            "--annotator",
            "dana",
        ],
    );
    let refused = fails(w, &["users", "add", "dana", "--role", "annotator"], 2);
    assert!(refused.contains("already has"), "{refused}");
    let claimed = json(
        w,
        &["users", "add", "dana", "--role", "annotator", "--claim"],
    );
    assert_eq!(claimed["account"]["name"], "dana");
}
