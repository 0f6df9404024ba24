//! The labeling-at-scale commands through `Api::call`, as the UI sends them: skip, flag,
//! unflag, list flags, history, detail, and a re-judgment with `supersedes`.

use hone_api::Api;
use hone_core::projects::ProjectSpec;
use hone_core::store::prompts::NewPrompt;
use hone_core::store::responses::NewResponse;
use hone_core::ResponseSource;
use serde_json::{json, Value};

async fn call(api: &Api, command: &str, args: Value) -> Value {
    api.call(command, args)
        .await
        .unwrap_or_else(|e| panic!("{command}: {e:?}"))
}

#[tokio::test]
async fn the_labeling_at_scale_commands_dispatch() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::open(dir.path()).await.unwrap();
    let hone = api.hone();
    let p = hone
        .create_project(&ProjectSpec::named("help"))
        .await
        .unwrap()
        .project
        .id;
    let prompt = hone
        .add_prompt(p, &NewPrompt::text("How do I reset my password?"))
        .await
        .unwrap()
        .id;
    let mut r = Vec::new();
    for text in ["Click reset.", "Ask support.", "Reinstall."] {
        r.push(
            hone.add_response(&NewResponse::new(prompt, text, ResponseSource::Model))
                .await
                .unwrap()
                .id,
        );
    }

    // skip_item: the unit goes to the back of the queue.
    let next = |api: &Api| {
        let api = api.clone();
        async move {
            call(
                &api,
                "next_item",
                json!({ "project_id": p, "annotator": "ana", "kind": "thumbs" }),
            )
            .await["responses"][0]["id"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(next(&api).await, r[0]);
    let skipped = call(
        &api,
        "skip_item",
        json!({ "project_id": p, "annotator": "ana", "kind": "thumbs", "prompt_id": prompt, "response_ids": [r[0]] }),
    )
    .await;
    assert_eq!(skipped, Value::Null);
    assert_eq!(next(&api).await, r[1]);

    // flag_item, list_flags, unflag_item.
    let flag = call(
        &api,
        "flag_item",
        json!({ "project_id": p, "annotator": "ana", "kind": "thumbs", "response_ids": [r[1]], "reason": "unsafe", "note": "harmful" }),
    )
    .await;
    assert_eq!(flag["reason"], "unsafe");
    assert_eq!(flag["note"], "harmful");
    assert_eq!(flag["prompt_id"], prompt);
    assert_eq!(flag["annotator"], "ana");
    assert_eq!(
        next(&api).await,
        r[2],
        "the flagged unit is hidden from ana"
    );
    let flags = call(&api, "list_flags", json!({ "project_id": p })).await;
    assert_eq!(flags.as_array().unwrap().len(), 1);
    assert_eq!(flags[0]["id"], flag["id"]);
    let stats = call(&api, "project_stats", json!({ "project_id": p })).await;
    assert_eq!(stats["skips"], 1);
    assert_eq!(stats["flags"]["unsafe"], 1);
    assert_eq!(stats["flagged_prompts"][0]["prompt_id"], prompt);
    assert_eq!(
        call(&api, "unflag_item", json!({ "flag_id": flag["id"] })).await,
        Value::Null
    );
    assert_eq!(
        call(&api, "list_flags", json!({ "project_id": p })).await,
        json!([])
    );
    let err = api
        .call(
            "flag_item",
            json!({ "project_id": p, "annotator": "ana", "kind": "thumbs", "response_ids": [r[1]], "reason": "boring" }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "bad_arguments", "{err:?}");
    let err = api
        .call(
            "skip_item",
            json!({ "project_id": p, "annotator": "ana", "kind": "comparison", "response_ids": [r[1]] }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.field.as_deref()),
        ("invalid", Some("response_ids"))
    );

    // record_feedback: nothing wrong, then a re-judgment with `supersedes`.
    let first = call(
        &api,
        "record_feedback",
        json!({ "project_id": p, "annotator": "ana", "kind": { "kind": "span", "response_id": r[2], "spans": [] } }),
    )
    .await;
    let first_id = first["judgment_id"].as_i64().unwrap();
    let detail = call(&api, "judgment_detail", json!({ "judgment_id": first_id })).await;
    assert_eq!(detail["verdict"], "accepted");
    assert_eq!(
        detail["feedback"],
        json!({ "kind": "span", "response_id": r[2], "spans": [] })
    );
    assert_eq!(detail["prompt"]["text"], "How do I reset my password?");
    assert_eq!(detail["responses"][0]["text"], "Reinstall.");
    assert_eq!(detail["superseded_by"], Value::Null);
    let second = call(
        &api,
        "record_feedback",
        json!({ "project_id": p, "annotator": "ana", "supersedes": first_id, "kind": { "kind": "span", "response_id": r[2], "spans": [{ "start": 0, "end": 9, "label": "factual_error", "note": null }] } }),
    )
    .await;
    let second_id = second["judgment_id"].as_i64().unwrap();
    let err = api
        .call(
            "record_feedback",
            json!({ "project_id": p, "annotator": "bo", "supersedes": second_id, "kind": { "kind": "span", "response_id": r[2], "spans": [] } }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.field.as_deref()),
        ("invalid", Some("supersedes"))
    );

    // judgment_history: the current judgment by default, both with include_superseded.
    let page = call(
        &api,
        "judgment_history",
        json!({ "project_id": p, "annotator": "ana", "include_superseded": false, "offset": 0 }),
    )
    .await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["entries"][0]["judgment_id"], second_id);
    assert_eq!(page["entries"][0]["verdict"], "marked");
    assert_eq!(page["entries"][0]["supersedes"], first_id);
    let page = call(
        &api,
        "judgment_history",
        json!({ "project_id": p, "kind": "span", "verdict": "accepted", "text": "PASSWORD", "include_superseded": true, "limit": 10, "offset": 0 }),
    )
    .await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["entries"][0]["judgment_id"], first_id);
    assert_eq!(page["entries"][0]["superseded_by"], second_id);
    let page = call(&api, "judgment_history", json!({ "project_id": p })).await;
    assert_eq!(page["limit"], 50, "the optional fields may be left out");
    let err = api
        .call(
            "judgment_history",
            json!({ "project_id": p, "verdict": "perhaps" }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("verdict"));
    let err = api
        .call("judgment_detail", json!({ "judgment_id": 9_999 }))
        .await
        .unwrap_err();
    assert_eq!(err.code, "not_found");
}
