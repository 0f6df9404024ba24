use hone_store::users;
use hone_store::{ProjectId, StoreError};

use crate::{assert_not_found, open_store};

#[tokio::test]
async fn accounts_and_tokens_are_kept_found_by_lookup_and_revoked_together() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let ana = users::insert(&mut conn, "ana", "annotator").await.unwrap();
    assert_eq!((ana.name.as_str(), ana.role.as_str()), ("ana", "annotator"));
    assert!(ana.revoked_at.is_none());
    let duplicate = users::insert(&mut conn, "ana", "lead").await.unwrap_err();
    assert!(
        matches!(duplicate, StoreError::Duplicate { entity: "user", .. }),
        "{duplicate:?}"
    );
    // The schema refuses a role it does not know.
    assert!(users::insert(&mut conn, "eve", "admin").await.is_err());

    let first = users::insert_token(&mut conn, ana.id, "0123456789abcdef", "$argon2id$a")
        .await
        .unwrap();
    let second = users::insert_token(&mut conn, ana.id, "fedcba9876543210", "$argon2id$b")
        .await
        .unwrap();
    assert_ne!(first, second);
    let found = users::token_by_lookup(&mut conn, "fedcba9876543210")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id, found.user_id, found.hash.as_str()),
        (second, ana.id, "$argon2id$b")
    );
    assert!(users::token_by_lookup(&mut conn, "nope")
        .await
        .unwrap()
        .is_none());
    // Lookups are unique: a second token cannot take another's.
    assert!(
        users::insert_token(&mut conn, ana.id, "0123456789abcdef", "x")
            .await
            .is_err()
    );

    users::revoke(&mut conn, ana.id).await.unwrap();
    let revoked = users::get(&mut conn, ana.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    for lookup in ["0123456789abcdef", "fedcba9876543210"] {
        let token = users::token_by_lookup(&mut conn, lookup)
            .await
            .unwrap()
            .unwrap();
        assert!(
            token.revoked_at.is_some(),
            "{lookup} was not revoked with its account"
        );
    }
    assert_eq!(users::list(&mut conn).await.unwrap().len(), 1);
    assert_not_found(
        users::get_by_name(&mut conn, "nobody").await.unwrap_err(),
        "user",
        "\"nobody\"",
    );
}

#[tokio::test]
async fn members_are_kept_per_project_once_and_leave_with_their_project() {
    use hone_store::members;
    use hone_store::projects::{self, NewProject};
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let a = projects::create(&mut conn, &NewProject::named("a"))
        .await
        .unwrap()
        .id;
    let b = projects::create(&mut conn, &NewProject::named("b"))
        .await
        .unwrap()
        .id;
    let ana = users::insert(&mut conn, "ana", "annotator").await.unwrap();
    let bo = users::insert(&mut conn, "bo", "annotator").await.unwrap();
    assert!(members::add(&mut conn, a, ana.id).await.unwrap());
    assert!(!members::add(&mut conn, a, ana.id).await.unwrap(), "once");
    assert!(members::add(&mut conn, b, ana.id).await.unwrap());
    assert!(members::add(&mut conn, a, bo.id).await.unwrap());
    let names = |users: Vec<users::User>| users.into_iter().map(|u| u.name).collect::<Vec<_>>();
    assert_eq!(
        names(members::of_project(&mut conn, a).await.unwrap()),
        ["ana", "bo"]
    );
    assert_eq!(
        members::projects_of(&mut conn, ana.id).await.unwrap(),
        [a, b]
    );
    assert!(members::is_member(&mut conn, b, ana.id).await.unwrap());
    assert!(!members::is_member(&mut conn, b, bo.id).await.unwrap());
    // An unknown project or account is refused by the schema.
    assert!(members::add(&mut conn, ProjectId(999), ana.id)
        .await
        .is_err());
    assert!(members::remove(&mut conn, a, bo.id).await.unwrap());
    assert!(!members::remove(&mut conn, a, bo.id).await.unwrap());
    assert_eq!(
        names(members::of_project(&mut conn, a).await.unwrap()),
        ["ana"]
    );
}
