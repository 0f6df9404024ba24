use hone_store::projects::{self, NewProject};
use hone_store::prompts::{self, ChatMessage, NewPrompt};
use hone_store::{ProjectId, PromptId, Split};
use sqlx::error::ErrorKind;

use crate::{assert_constraint, assert_not_found, open_store};

fn msg(role: &str, content: &str) -> ChatMessage {
    ChatMessage {
        role: role.into(),
        content: content.into(),
    }
}

fn tagged(text: &str, tags: &[&str]) -> NewPrompt {
    NewPrompt {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..NewPrompt::text(text)
    }
}

async fn project(conn: &mut hone_store::Conn, name: &str) -> ProjectId {
    projects::create(conn, &NewProject::named(name))
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn insert_or_get_creates_a_text_prompt() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = project(&mut conn, "p").await;
    let new = NewPrompt {
        split: Split::Heldout,
        ..tagged("What is VAT?", &["tax", "basics"])
    };
    let (prompt, created) = prompts::insert_or_get(&mut conn, p, &new).await.unwrap();
    assert!(created, "a new content must be created");
    assert_eq!(prompt.project_id, p, "prompt belongs to the project");
    assert_eq!(prompt.text, "What is VAT?", "text as written");
    assert_eq!(prompt.messages, None, "a text prompt has no messages");
    assert_eq!(prompt.split, Split::Heldout, "split as written");
    assert_eq!(prompt.tags, ["basics", "tax"], "tags come back sorted");
    assert_eq!(
        prompts::get(&mut conn, prompt.id).await.unwrap(),
        prompt,
        "get returns what insert_or_get returned"
    );
}

#[tokio::test]
async fn insert_or_get_dedupes_by_content_and_merges_tags() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = project(&mut conn, "p").await;
    let (first, created) = prompts::insert_or_get(&mut conn, p, &tagged("Same text", &["b", "a"]))
        .await
        .unwrap();
    assert!(created, "first insert creates");
    let again = NewPrompt {
        split: Split::Heldout,
        ..tagged("Same text", &["c", "a"])
    };
    let (second, created) = prompts::insert_or_get(&mut conn, p, &again).await.unwrap();
    assert!(!created, "same content must be found, not created");
    assert_eq!(second.id, first.id, "same content → same id");
    assert_eq!(
        second.tags,
        ["a", "b", "c"],
        "new tags are merged into the existing prompt, sorted, without duplicates"
    );
    assert_eq!(
        second.split,
        Split::Train,
        "the existing prompt's split is left as it was"
    );
    assert_eq!(
        prompts::count(&mut conn, p, None).await.unwrap(),
        1,
        "dedupe must not store a second row"
    );

    let (other, created) = prompts::insert_or_get(&mut conn, p, &NewPrompt::text("Same text!"))
        .await
        .unwrap();
    assert!(created, "different content is created");
    assert_ne!(other.id, first.id, "different content → different id");
    assert!(other.tags.is_empty(), "tags of another prompt do not leak");
}

#[tokio::test]
async fn dedupe_is_per_project() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let a = project(&mut conn, "a").await;
    let b = project(&mut conn, "b").await;
    let (pa, _) = prompts::insert_or_get(&mut conn, a, &NewPrompt::text("shared"))
        .await
        .unwrap();
    let (pb, created) = prompts::insert_or_get(&mut conn, b, &NewPrompt::text("shared"))
        .await
        .unwrap();
    assert!(created, "the same text in another project is a new prompt");
    assert_ne!(pa.id, pb.id, "projects do not share prompts");
    assert_eq!(pb.project_id, b, "the new prompt belongs to project b");
}

#[tokio::test]
async fn chat_prompts_round_trip_and_hash_differently_from_text() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = project(&mut conn, "p").await;
    let messages = vec![
        msg("system", "You are a tax adviser."),
        msg("user", "Can I deduct my laptop?"),
        msg("assistant", "Which year did you buy it?"),
        msg("user", "2024"),
    ];
    let chat = NewPrompt {
        messages: Some(messages.clone()),
        ..NewPrompt::text("2024")
    };
    let (prompt, created) = prompts::insert_or_get(&mut conn, p, &chat).await.unwrap();
    assert!(created, "a new chat is created");
    assert_eq!(
        prompt.messages.as_deref(),
        Some(messages.as_slice()),
        "messages round-trip in order with roles"
    );
    assert_eq!(prompt.text, "2024", "text is stored as given");
    assert_eq!(
        prompts::get(&mut conn, prompt.id).await.unwrap().messages,
        Some(messages.clone()),
        "get returns the messages"
    );

    let (same, created) = prompts::insert_or_get(&mut conn, p, &chat).await.unwrap();
    assert!(
        !created && same.id == prompt.id,
        "the same conversation is found again"
    );

    let (plain, created) = prompts::insert_or_get(&mut conn, p, &NewPrompt::text("2024"))
        .await
        .unwrap();
    assert!(
        created,
        "a text prompt equal to the chat's last message is different content"
    );
    assert_ne!(plain.id, prompt.id, "text and chat prompts do not collide");

    let mut changed = messages.clone();
    changed[0].content = "You are a lawyer.".into();
    let (other, created) = prompts::insert_or_get(
        &mut conn,
        p,
        &NewPrompt {
            messages: Some(changed),
            ..NewPrompt::text("2024")
        },
    )
    .await
    .unwrap();
    assert!(
        created && other.id != prompt.id,
        "an earlier turn that differs makes a different conversation"
    );
}

#[tokio::test]
async fn content_hash_is_stable_and_depends_on_content_only() {
    let a = NewPrompt::text("hello");
    let b = NewPrompt {
        split: Split::Heldout,
        tags: vec!["x".into()],
        ..NewPrompt::text("hello")
    };
    assert_eq!(
        a.content_hash(),
        b.content_hash(),
        "split and tags are not content"
    );
    assert_eq!(a.content_hash().len(), 64, "sha256 in hex");
    assert_ne!(
        a.content_hash(),
        NewPrompt::text("hello ").content_hash(),
        "any text change changes the hash"
    );
}

#[tokio::test]
async fn get_of_a_missing_prompt_is_not_found() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    assert_not_found(
        prompts::get(&mut conn, PromptId(5)).await.unwrap_err(),
        "prompt",
        "5",
    );
}

#[tokio::test]
async fn a_prompt_of_a_missing_project_violates_the_foreign_key() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let err = prompts::insert_or_get(&mut conn, ProjectId(31), &NewPrompt::text("orphan"))
        .await
        .unwrap_err();
    assert_constraint(err, ErrorKind::ForeignKeyViolation);
}

#[tokio::test]
async fn list_and_count_filter_by_project_and_split() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = project(&mut conn, "p").await;
    let other = project(&mut conn, "other").await;
    let specs = [
        ("t1", Split::Train),
        ("h1", Split::Heldout),
        ("t2", Split::Train),
        ("h2", Split::Heldout),
        ("t3", Split::Train),
    ];
    for (text, split) in specs {
        prompts::insert_or_get(
            &mut conn,
            p,
            &NewPrompt {
                split,
                ..NewPrompt::text(text)
            },
        )
        .await
        .unwrap();
    }
    prompts::insert_or_get(&mut conn, other, &NewPrompt::text("elsewhere"))
        .await
        .unwrap();

    let texts = |v: Vec<prompts::Prompt>| v.into_iter().map(|p| p.text).collect::<Vec<_>>();
    assert_eq!(
        texts(prompts::list(&mut conn, p, None).await.unwrap()),
        ["t1", "h1", "t2", "h2", "t3"],
        "all of the project's prompts in insertion order"
    );
    assert_eq!(
        texts(
            prompts::list(&mut conn, p, Some(Split::Train))
                .await
                .unwrap()
        ),
        ["t1", "t2", "t3"],
        "train only"
    );
    assert_eq!(
        texts(
            prompts::list(&mut conn, p, Some(Split::Heldout))
                .await
                .unwrap()
        ),
        ["h1", "h2"],
        "held-out only"
    );
    assert_eq!(
        prompts::count(&mut conn, p, None).await.unwrap(),
        5,
        "count of all the project's prompts"
    );
    assert_eq!(
        prompts::count(&mut conn, p, Some(Split::Train))
            .await
            .unwrap(),
        3,
        "count of train prompts"
    );
    assert_eq!(
        prompts::count(&mut conn, p, Some(Split::Heldout))
            .await
            .unwrap(),
        2,
        "count of held-out prompts"
    );
    assert_eq!(
        prompts::count(&mut conn, other, None).await.unwrap(),
        1,
        "the other project counts its own"
    );
}

#[tokio::test]
async fn list_hydrates_tags_and_messages() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = project(&mut conn, "p").await;
    let chat = NewPrompt {
        messages: Some(vec![msg("user", "hi")]),
        ..tagged("hi", &["z", "y"])
    };
    let (inserted, _) = prompts::insert_or_get(&mut conn, p, &chat).await.unwrap();
    let listed = prompts::list(&mut conn, p, None).await.unwrap();
    assert_eq!(
        listed,
        vec![inserted],
        "list returns full prompts, tags and messages included"
    );
}

#[tokio::test]
async fn set_split_moves_a_prompt_between_splits() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = project(&mut conn, "p").await;
    let (prompt, _) = prompts::insert_or_get(&mut conn, p, &NewPrompt::text("q"))
        .await
        .unwrap();
    prompts::set_split(&mut conn, prompt.id, Split::Heldout)
        .await
        .unwrap();
    assert_eq!(
        prompts::get(&mut conn, prompt.id).await.unwrap().split,
        Split::Heldout,
        "set_split is stored"
    );
    assert_eq!(
        prompts::count(&mut conn, p, Some(Split::Train))
            .await
            .unwrap(),
        0,
        "no train prompt is left"
    );
    prompts::set_split(&mut conn, prompt.id, Split::Train)
        .await
        .unwrap();
    assert_eq!(
        prompts::get(&mut conn, prompt.id).await.unwrap().split,
        Split::Train,
        "and back"
    );
    assert_not_found(
        prompts::set_split(&mut conn, PromptId(404), Split::Train)
            .await
            .unwrap_err(),
        "prompt",
        "404",
    );
}

#[tokio::test]
async fn add_tag_is_idempotent_and_tags_are_sorted() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = project(&mut conn, "p").await;
    let (prompt, _) = prompts::insert_or_get(&mut conn, p, &NewPrompt::text("q"))
        .await
        .unwrap();
    for tag in ["medium", "Alpha", "zulu", "medium", "beta"] {
        prompts::add_tag(&mut conn, prompt.id, tag).await.unwrap();
    }
    assert_eq!(
        prompts::tags(&mut conn, prompt.id).await.unwrap(),
        ["Alpha", "beta", "medium", "zulu"],
        "tags sorted, each once"
    );
    assert_eq!(
        prompts::get(&mut conn, prompt.id).await.unwrap().tags,
        ["Alpha", "beta", "medium", "zulu"],
        "get carries the tags"
    );
    let err = prompts::add_tag(&mut conn, PromptId(999), "x")
        .await
        .expect_err("a tag on a missing prompt");
    assert_constraint(err, ErrorKind::ForeignKeyViolation);
}
