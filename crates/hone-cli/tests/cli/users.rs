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
