use hone_store::models::{self, NewBaseModel, NewModelVersion};
use hone_store::projects::{self, NewProject};
use hone_store::prompts::{self, NewPrompt};
use hone_store::responses::{self, NewResponse};
use hone_store::{ProjectId, PromptId, ResponseSource};
use serde_json::json;
use sqlx::error::ErrorKind;

use crate::{assert_constraint, assert_not_found, open_store};

#[tokio::test]
async fn insert_and_get_round_trip_with_model_provenance() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = projects::create(&mut conn, &NewProject::named("p"))
        .await
        .unwrap();
    let (prompt, _) = prompts::insert_or_get(&mut conn, p.id, &NewPrompt::text("q"))
        .await
        .unwrap();
    let base = models::insert_base(
        &mut conn,
        &NewBaseModel {
            name: "qwen".into(),
            location: "/m/qwen".into(),
            architecture: "qwen2".into(),
            sha256: None,
            config: json!({}),
        },
    )
    .await
    .unwrap();
    let version = models::insert_version(
        &mut conn,
        &NewModelVersion {
            project_id: p.id,
            name: "v1".into(),
            parent_id: None,
            base_model_id: base.id,
            method: "dpo".into(),
            hyperparams: json!({}),
            snapshot_id: None,
            metrics: json!({}),
            adapter_dir: None,
            job_id: None,
            files: vec![],
        },
    )
    .await
    .unwrap();

    let generation = json!({"temperature": 0.7, "top_p": 0.9, "seed": 42, "max_new_tokens": 512});
    let new = NewResponse {
        model_version_id: Some(version.id),
        base_model_id: Some(base.id),
        generation: generation.clone(),
        ..NewResponse::new(prompt.id, "Yes, over five years.", ResponseSource::Model)
    };
    let r = responses::insert(&mut conn, &new).await.unwrap();
    assert_eq!(r.prompt_id, prompt.id, "response belongs to its prompt");
    assert_eq!(r.text, "Yes, over five years.", "text as written");
    assert_eq!(r.source, ResponseSource::Model, "source as written");
    assert_eq!(
        (r.model_version_id, r.base_model_id),
        (Some(version.id), Some(base.id)),
        "provenance as written"
    );
    assert_eq!(
        r.generation, generation,
        "generation settings round-trip as JSON"
    );
    assert_eq!(
        responses::get(&mut conn, r.id).await.unwrap(),
        r,
        "get returns what insert returned"
    );

    let human = responses::insert(
        &mut conn,
        &NewResponse::new(prompt.id, "written by hand", ResponseSource::Human),
    )
    .await
    .unwrap();
    assert_eq!(
        (human.model_version_id, human.base_model_id),
        (None, None),
        "a human response has no model"
    );
    assert_eq!(
        human.generation,
        json!({}),
        "default generation is an empty object"
    );
    assert_eq!(human.source, ResponseSource::Human, "source human");
}

#[tokio::test]
async fn insert_refuses_missing_prompt_or_model_version() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = crate::seed(&mut conn, "p", 0).await;
    let err = responses::insert(
        &mut conn,
        &NewResponse::new(PromptId(12345), "orphan", ResponseSource::Import),
    )
    .await
    .unwrap_err();
    assert_constraint(err, ErrorKind::ForeignKeyViolation);
    let bad_version = NewResponse {
        model_version_id: Some(hone_store::VersionId(77)),
        ..NewResponse::new(s.prompt_id, "x", ResponseSource::Model)
    };
    assert_constraint(
        responses::insert(&mut conn, &bad_version)
            .await
            .unwrap_err(),
        ErrorKind::ForeignKeyViolation,
    );
    assert!(
        responses::list_for_prompt(&mut conn, s.prompt_id)
            .await
            .unwrap()
            .is_empty(),
        "refused responses are not stored"
    );
}

#[tokio::test]
async fn get_of_a_missing_response_is_not_found() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    assert_not_found(
        responses::get(&mut conn, hone_store::ResponseId(8))
            .await
            .unwrap_err(),
        "response",
        "8",
    );
}

#[tokio::test]
async fn find_by_text_returns_the_earliest_match_of_that_prompt() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let a = crate::seed(&mut conn, "a", 0).await;
    let b = crate::seed(&mut conn, "b", 0).await;
    let first = responses::insert(
        &mut conn,
        &NewResponse::new(a.prompt_id, "dup", ResponseSource::Import),
    )
    .await
    .unwrap();
    let _second = responses::insert(
        &mut conn,
        &NewResponse::new(a.prompt_id, "dup", ResponseSource::Model),
    )
    .await
    .unwrap();
    let in_b = responses::insert(
        &mut conn,
        &NewResponse::new(b.prompt_id, "only in b", ResponseSource::Import),
    )
    .await
    .unwrap();

    assert_eq!(
        responses::find_by_text(&mut conn, a.prompt_id, "dup")
            .await
            .unwrap(),
        Some(first),
        "the earliest response with that text"
    );
    assert_eq!(
        responses::find_by_text(&mut conn, a.prompt_id, "Dup")
            .await
            .unwrap(),
        None,
        "text match is exact"
    );
    assert_eq!(
        responses::find_by_text(&mut conn, a.prompt_id, "only in b")
            .await
            .unwrap(),
        None,
        "another prompt's responses are not found"
    );
    assert_eq!(
        responses::find_by_text(&mut conn, b.prompt_id, "only in b")
            .await
            .unwrap(),
        Some(in_b),
        "found under its own prompt"
    );
}

#[tokio::test]
async fn list_for_prompt_and_for_project_filter_and_order_by_id() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let a = crate::seed(&mut conn, "a", 2).await;
    let b = crate::seed(&mut conn, "b", 1).await;
    let (second_prompt, _) =
        prompts::insert_or_get(&mut conn, a.project_id, &NewPrompt::text("second"))
            .await
            .unwrap();
    let late = responses::insert(
        &mut conn,
        &NewResponse::new(second_prompt.id, "late", ResponseSource::Human),
    )
    .await
    .unwrap();
    let extra = responses::insert(
        &mut conn,
        &NewResponse::new(a.prompt_id, "extra", ResponseSource::Human),
    )
    .await
    .unwrap();

    let ids = |v: Vec<responses::Response>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let mut expected_prompt = a.response_ids.clone();
    expected_prompt.push(extra.id);
    assert_eq!(
        ids(responses::list_for_prompt(&mut conn, a.prompt_id)
            .await
            .unwrap()),
        expected_prompt,
        "the prompt's responses in id order"
    );
    assert_eq!(
        ids(responses::list_for_prompt(&mut conn, second_prompt.id)
            .await
            .unwrap()),
        [late.id],
        "only that prompt's responses"
    );

    let mut expected_project = a.response_ids.clone();
    expected_project.extend([late.id, extra.id]);
    assert_eq!(
        ids(responses::list_for_project(&mut conn, a.project_id)
            .await
            .unwrap()),
        expected_project,
        "every prompt of the project, id order"
    );
    assert_eq!(
        ids(responses::list_for_project(&mut conn, b.project_id)
            .await
            .unwrap()),
        b.response_ids,
        "the other project's responses only"
    );
    assert!(
        responses::list_for_project(&mut conn, ProjectId(999))
            .await
            .unwrap()
            .is_empty(),
        "a missing project has no responses"
    );
}

#[tokio::test]
async fn delete_if_unjudged_keeps_a_response_that_a_judgment_refers_to() {
    use hone_store::judgments::{self, JudgmentBody, NewJudgment};
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let seed = crate::seed(&mut conn, "p", 2).await;
    let (a, b) = (seed.response_ids[0], seed.response_ids[1]);
    let judged = |body| NewJudgment {
        project_id: seed.project_id,
        prompt_id: seed.prompt_id,
        annotator_id: seed.annotator_id,
        time_spent_ms: 0,
        shown_order: vec![],
        guideline_version: None,
        critique: None,
        suggestion_visible: false,
        suggested_response_id: None,
        body,
    };
    judgments::insert(
        &mut conn,
        &judged(JudgmentBody::Thumbs {
            response_id: a,
            up: true,
        }),
    )
    .await
    .unwrap();
    assert!(
        !responses::delete_if_unjudged(&mut conn, a).await.unwrap(),
        "a judged response is kept"
    );
    assert!(responses::get(&mut conn, a).await.is_ok());
    assert!(
        responses::delete_if_unjudged(&mut conn, b).await.unwrap(),
        "an unjudged response is deleted"
    );
    assert_not_found(
        responses::get(&mut conn, b).await.unwrap_err(),
        "response",
        &b.to_string(),
    );
    assert!(
        !responses::delete_if_unjudged(&mut conn, b).await.unwrap(),
        "deleting twice deletes nothing"
    );
}
