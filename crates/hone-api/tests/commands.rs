//! Commands through `Api::call`, as the UI sends them: the labeling-at-scale ones (skip, flag,
//! unflag, list flags, history, detail, and a re-judgment with `supersedes`), and the
//! playground (a job streaming `token` events) with `add_candidate`.

use hone_api::{Api, JobEvent};
use hone_core::model::tiny::{write_tiny_model, TinyArch, TinySize};
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

/// The server and the desktop app answer people while a job trains: their jobs train at
/// background priority (`compute_priority`'s own tests show what that does to the threads);
/// a workspace opened for the CLI keeps normal priority.
#[tokio::test]
async fn jobs_started_through_the_api_train_at_background_priority() {
    use hone_core::model::compute_priority::ComputePriority;
    let dir = tempfile::tempdir().unwrap();
    let api = Api::open(dir.path()).await.unwrap();
    assert_eq!(api.hone().training_priority(), ComputePriority::Background);
    let cli = hone_core::Hone::open(&dir.path().join("cli"))
        .await
        .unwrap();
    assert_eq!(cli.training_priority(), ComputePriority::Normal);
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
                .map(hone_core::ResponseId)
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
    assert_eq!(flag["prompt_id"], prompt.0);
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
    assert_eq!(stats["flagged_prompts"][0]["prompt_id"], prompt.0);
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

/// Every event of job `job_id`, the last one `finished` or `failed`.
async fn job_events(api: &Api, started: &Value) -> Vec<JobEvent> {
    let mut stream = api
        .subscribe(started["job_id"].as_u64().expect("a job id"))
        .unwrap();
    let mut out = Vec::new();
    while let Some(event) = tokio::time::timeout(std::time::Duration::from_secs(120), stream.next())
        .await
        .expect("the job ends")
    {
        out.push(event);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_playground_streams_tokens_and_its_answer_becomes_a_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("tiny-model");
    write_tiny_model(TinyArch::Llama, TinySize::default(), &model_dir, 0).unwrap();
    let api = Api::open(&dir.path().join("ws")).await.unwrap();
    let p = api
        .hone()
        .create_project(&ProjectSpec::named("help"))
        .await
        .unwrap()
        .project
        .id;
    let model = json!({ "kind": "base", "dir": model_dir });
    let sampling = |max: usize| json!({ "temperature": 1.0, "top_k": null, "top_p": null, "repetition_penalty": 1.0, "max_new_tokens": max, "stop": [], "seed": 11 });
    let prompt = "How do I share a notebook?";

    let started = call(
        &api,
        "playground",
        json!({ "model": model, "prompt": prompt, "sampling": sampling(24) }),
    )
    .await;
    let events = job_events(&api, &started).await;
    let (last, before) = events.split_last().unwrap();
    let tokens: Vec<&str> = before
        .iter()
        .map(|e| match e {
            JobEvent::Token { text } => text.as_str(),
            other => panic!("only token events before the end: {other:?}"),
        })
        .collect();
    assert!(!tokens.is_empty(), "at least one token event");
    assert_eq!(
        serde_json::to_value(&before[0]).unwrap(),
        json!({ "event": "token", "text": tokens[0] })
    );
    let answer = match last {
        JobEvent::Finished { result } => result.clone(),
        other => panic!("the job finishes: {other:?}"),
    };
    assert_eq!(answer["text"], tokens.concat().trim());
    assert_eq!(answer["sampling"], sampling(24));
    assert!(["eos", "length"].contains(&answer["finish_reason"].as_str().unwrap()));
    assert!(answer["new_tokens"].as_u64().unwrap() > 0);
    assert!(answer["seconds"].as_f64().unwrap() >= 0.0);

    // Refused at once, naming the field.
    let err = api
        .call(
            "playground",
            json!({ "model": model, "prompt": "  ", "sampling": sampling(24) }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.field.as_deref()),
        ("invalid", Some("prompt"))
    );

    // cancel_job stops it within a token; the answer is the text so far.
    let started = call(
        &api,
        "playground",
        json!({ "model": model, "prompt": prompt, "sampling": sampling(1000) }),
    )
    .await;
    assert_eq!(
        call(&api, "cancel_job", json!({ "job_id": started["job_id"] })).await,
        Value::Null
    );
    match job_events(&api, &started).await.last() {
        Some(JobEvent::Finished { result }) => {
            assert_eq!(result["finish_reason"], "cancelled", "{result}");
            assert!(result["new_tokens"].as_u64().unwrap() < 1000);
        }
        other => panic!("a cancelled playground finishes: {other:?}"),
    }

    // add_candidate: the prompt is created, then found; the same text is the same response.
    let input = json!({ "project_id": p, "prompt": prompt, "text": answer["text"], "model": model, "sampling": answer["sampling"] });
    let added = call(&api, "add_candidate", input.clone()).await;
    assert_eq!(added["new_prompt"], true);
    let again = call(&api, "add_candidate", input).await;
    assert_eq!(
        again,
        json!({ "prompt_id": added["prompt_id"], "response_id": added["response_id"], "new_prompt": false })
    );
    let stored = call(
        &api,
        "prompt_with_responses",
        json!({ "prompt_id": added["prompt_id"] }),
    )
    .await;
    assert_eq!(stored["prompt"]["text"], prompt);
    assert_eq!(stored["responses"][0]["text"], answer["text"]);
    assert_eq!(stored["responses"][0]["source"], "model");
    assert_eq!(
        stored["responses"][0]["generation"]["sampling"],
        sampling(24)
    );
    let err = api
        .call(
            "add_candidate",
            json!({ "project_id": p, "prompt": prompt, "text": "", "model": model }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.field.as_deref()),
        ("invalid", Some("text"))
    );
}
