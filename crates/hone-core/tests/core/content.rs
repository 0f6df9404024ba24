use hone_core::store::prompts::{ChatMessage, NewPrompt};
use hone_core::store::responses::NewResponse;
use hone_core::{CoreError, ProjectId, PromptId, ResponseSource, Split};

use crate::{assert_invalid, count_rows, open, project};

fn chat(role: &str, content: &str) -> ChatMessage {
    ChatMessage {
        role: role.into(),
        content: content.into(),
    }
}

#[tokio::test]
async fn the_same_prompt_added_twice_is_one_prompt_with_merged_tags() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let mut new = NewPrompt::text("Is a verbal contract binding?");
    new.tags = vec!["contracts".into()];
    let first = ws.add_prompt(p, &new).await.unwrap();
    new.tags = vec!["oral".into()];
    new.split = Split::Heldout;
    let second = ws.add_prompt(p, &new).await.unwrap();
    assert_eq!(
        first.id, second.id,
        "the same content must find the existing prompt"
    );
    assert_eq!(
        second.tags,
        vec!["contracts", "oral"],
        "new tags are added to the existing prompt"
    );
    assert_eq!(
        second.split,
        Split::Train,
        "the existing prompt keeps its split"
    );
    assert_eq!(count_rows(&ws, "prompts").await, 1);

    let conversation = NewPrompt {
        text: "Is a verbal contract binding?".into(),
        messages: Some(vec![chat("user", "Is a verbal contract binding?")]),
        split: Split::Train,
        tags: vec![],
    };
    let as_chat = ws.add_prompt(p, &conversation).await.unwrap();
    assert_ne!(
        as_chat.id, first.id,
        "a conversation is different content from the same plain text"
    );
}

#[tokio::test]
async fn bad_prompts_and_responses_are_refused_naming_the_field() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    assert_invalid(ws.add_prompt(p, &NewPrompt::text("  ")).await, "prompt");
    let mut bad_role = NewPrompt::text("q");
    bad_role.messages = Some(vec![chat("user", "q"), chat("wizard", "x")]);
    assert_invalid(ws.add_prompt(p, &bad_role).await, "prompt[1].role");
    let mut no_messages = NewPrompt::text("q");
    no_messages.messages = Some(vec![]);
    assert_invalid(ws.add_prompt(p, &no_messages).await, "prompt");
    let mut bad_tag = NewPrompt::text("q");
    bad_tag.tags = vec!["ok".into(), " ".into()];
    assert_invalid(ws.add_prompt(p, &bad_tag).await, "tags[1]");
    assert!(matches!(
        ws.add_prompt(ProjectId(999), &NewPrompt::text("q")).await,
        Err(CoreError::NotFound { .. })
    ));
    assert_eq!(
        count_rows(&ws, "prompts").await,
        0,
        "no refused prompt may be written"
    );

    let prompt = ws.add_prompt(p, &NewPrompt::text("q")).await.unwrap();
    assert_invalid(
        ws.add_response(&NewResponse::new(prompt.id, " \n", ResponseSource::Model))
            .await,
        "response.text",
    );
    assert!(matches!(
        ws.add_response(&NewResponse::new(
            PromptId(prompt.id.0 + 100),
            "a",
            ResponseSource::Model
        ))
        .await,
        Err(CoreError::NotFound {
            entity: "prompt",
            ..
        })
    ));
    assert_eq!(
        count_rows(&ws, "responses").await,
        0,
        "no refused response may be written"
    );
}

#[tokio::test]
async fn prompts_list_by_split_and_come_with_their_responses() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (a, ra) = crate::prompt_with(&ws, p, "A?", &["a1", "a2"]).await;
    let (b, _) = crate::prompt_with(&ws, p, "B?", &["b1"]).await;
    ws.set_prompt_split(b, Split::Heldout).await.unwrap();
    let ids =
        |v: Vec<hone_core::store::prompts::Prompt>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(ids(ws.list_prompts(p, None).await.unwrap()), vec![a, b]);
    assert_eq!(
        ids(ws.list_prompts(p, Some(Split::Train)).await.unwrap()),
        vec![a]
    );
    assert_eq!(
        ids(ws.list_prompts(p, Some(Split::Heldout)).await.unwrap()),
        vec![b]
    );
    let with = ws.prompt_with_responses(a).await.unwrap();
    assert_eq!(with.responses.iter().map(|r| r.id).collect::<Vec<_>>(), ra);
    assert!(matches!(
        ws.set_prompt_split(PromptId(999), Split::Train).await,
        Err(CoreError::NotFound { .. })
    ));
}
