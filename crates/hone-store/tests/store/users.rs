use hone_store::users;
use hone_store::StoreError;

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
