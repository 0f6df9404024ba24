//! The server as a browser meets it: a real listener on a free port, real HTTP.

use std::path::Path;

use hone_server::{ServeConfig, ServeError, UiFiles, CSP};
use serde_json::{json, Value};

mod common;

async fn start(workspace: &Path, token: Option<&str>) -> String {
    start_with_ui(workspace, token, UiFiles::None).await
}

async fn start_with_ui(workspace: &Path, token: Option<&str>, ui: UiFiles) -> String {
    let config = ServeConfig {
        ui,
        ..common::loopback(token, false)
    };
    common::start(workspace, config).await.unwrap()
}

async fn call_with_token(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    command: &str,
) -> (u16, Value) {
    let r = client
        .post(format!("{base}/api/{command}"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn call(client: &reqwest::Client, base: &str, command: &str, args: Value) -> (u16, Value) {
    let r = client
        .post(format!("{base}/api/{command}"))
        .json(&args)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Reads a job's event stream to its end; returns the events.
async fn events(client: &reqwest::Client, base: &str, job_id: u64) -> Vec<Value> {
    let text = client
        .get(format!("{base}/api/jobs/{job_id}/events"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_errors_and_job_events_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let base = start(dir.path(), None).await;
    let client = reqwest::Client::new();

    let health = client
        .get(format!("{base}/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.headers()["content-security-policy"],
        CSP,
        "every response carries the CSP"
    );

    let (status, project) = call(&client, &base, "create_project", json!({ "settings": { "name": "support", "task_description": "", "rating_min": 1, "rating_max": 5, "kto_threshold": 4.0, "overlap": 1 }, "guidelines": null, "criteria": [], "span_labels": [] })).await;
    assert_eq!(status, 200, "{project}");
    let project_id = project["project"]["id"].as_i64().unwrap();
    let (status, err) = call(&client, &base, "create_project", json!({ "settings": { "name": "support", "task_description": "", "rating_min": 1, "rating_max": 5, "kto_threshold": 4.0, "overlap": 1 }, "guidelines": null, "criteria": [], "span_labels": [] })).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("duplicate")));
    let (status, err) = call(&client, &base, "project_details", json!({ "project": 1 })).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("bad_arguments")),
        "{err}"
    );
    let (status, err) = call(&client, &base, "no_such_thing", json!({})).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("unknown_command"))
    );
    let (status, err) = call(
        &client,
        &base,
        "set_guidelines",
        json!({ "project_id": 999, "text": "x" }),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );

    let (status, report) = call(&client, &base, "import_text", json!({ "project_id": project_id, "file_name": "p.jsonl", "split": "train", "content": "{\"prompt\": \"How do I reset my password?\"}\n{\"prompt\": \"Hi\", \"split\": \"heldout\"}\n" })).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["prompts_created"], 2);
    let (_, bad) = call(&client, &base, "import_text", json!({ "project_id": project_id, "file_name": "p.jsonl", "split": "train", "content": "{\"prompt\": 3}\n" })).await;
    assert_eq!(bad["code"], "bad_import", "{bad}");
    // A 300-character name (once a 500: too long for the file system) imports; uploads are
    // not kept once imported or refused.
    let long_name = format!("{}.jsonl", "é".repeat(300));
    let (status, report) = call(&client, &base, "import_text", json!({ "project_id": project_id, "file_name": long_name, "split": "train", "content": "{\"prompt\": \"A long-named question?\"}\n" })).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["prompts_created"], 1);
    // The browser's upload: the file as the raw body, streamed to disk, then imported.
    let upload = |query: String, body: &'static str| {
        client
            .post(format!("{base}/api/upload/import?{query}"))
            .body(body)
            .send()
    };
    let r = upload(
        format!("project_id={project_id}&file_name=pairs.jsonl&split=heldout"),
        "{\"prompt\": \"Streamed question?\"}\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["prompts_created"], 1, "{report}");
    let (_, held_out) = call(
        &client,
        &base,
        "list_prompts",
        json!({ "project_id": project_id, "split": "heldout" }),
    )
    .await;
    assert!(
        held_out
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["text"] == "Streamed question?"),
        "the upload's split is kept: {held_out}"
    );
    let r = upload(
        format!("project_id={project_id}&file_name=bad.jsonl"),
        "{\"prompt\": 3}\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let bad: Value = r.json().await.unwrap();
    assert_eq!(bad["code"], "bad_import", "{bad}");
    let r = upload("file_name=p.jsonl".into(), "{}\n").await.unwrap();
    assert_eq!(r.status(), 400, "a missing project id is a bad request");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("imports"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "uploads left behind: {left:?}");

    let model = dir.path().join("tiny");
    hone_core::model::tiny::write_tiny_model(
        hone_core::model::tiny::TinyArch::Llama,
        Default::default(),
        &model,
        1,
    )
    .unwrap();
    let (_, prompts) = call(
        &client,
        &base,
        "list_prompts",
        json!({ "project_id": project_id, "split": "train" }),
    )
    .await;
    let prompt_id = prompts[0]["id"].as_i64().unwrap();
    let (status, started) = call(&client, &base, "generate_candidates", json!({ "model": { "kind": "base", "dir": model }, "prompt_ids": [prompt_id], "n": 3, "sampling": { "temperature": 1.0, "top_k": null, "top_p": null, "repetition_penalty": 1.0, "max_new_tokens": 4, "stop": [], "seed": 1 } })).await;
    assert_eq!(status, 200, "{started}");
    let job = started["job_id"].as_u64().unwrap();
    let stream = events(&client, &base, job).await;
    assert_eq!(stream.first().unwrap()["event"], "progress", "{stream:?}");
    let last = stream.last().unwrap();
    assert_eq!(
        last["event"], "finished",
        "the stream ends with the result: {last}"
    );
    let responses = last["result"][0]["responses"].as_array().unwrap();
    assert!(!responses.is_empty());
    // A late subscriber gets the same events again (replayed).
    assert_eq!(events(&client, &base, job).await, stream);

    let ids: Vec<i64> = responses
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    if ids.len() >= 2 {
        let (status, recorded) = call(&client, &base, "record_feedback", json!({ "project_id": project_id, "annotator": "ana", "kind": { "kind": "comparison", "response_a": ids[0], "response_b": ids[1], "choice": "a", "strength": null, "reason": null } })).await;
        assert_eq!(status, 200, "{recorded}");
        let (_, stats) = call(
            &client,
            &base,
            "project_stats",
            json!({ "project_id": project_id }),
        )
        .await;
        assert_eq!(stats["judgments"]["comparison"], 1, "{stats}");
    }
    let (status, err) = call(&client, &base, "record_feedback", json!({ "project_id": project_id, "annotator": "ana", "kind": { "kind": "rating", "response_id": ids[0], "scores": { "overall": 9 } } })).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("rating.scores.overall")),
        "the field at fault: {err}"
    );
    let (status, err) = call(
        &client,
        &base,
        "download_model",
        json!({ "repo_id": "not-a-hub-id" }),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("repo_id")),
        "{err}"
    );
    let missing = client
        .get(format!("{base}/api/jobs/999/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // Whatever is wrong with a request, the answer is an ApiError in JSON.
    let odd = client
        .get(format!("{base}/api/jobs/abc/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), 404);
    assert_eq!(odd.json::<Value>().await.unwrap()["code"], "not_found");
    let garbled = client
        .post(format!("{base}/api/list_prompts"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), 400);
    assert_eq!(
        garbled.json::<Value>().await.unwrap()["code"],
        "bad_arguments"
    );
}

#[tokio::test]
async fn a_token_guards_the_api_and_a_public_address_needs_one() {
    const TOKEN: &str = "s3cret-s3cret-s3cret";
    let dir = tempfile::tempdir().unwrap();
    let base = start(dir.path(), Some(TOKEN)).await;
    let client = reqwest::Client::new();
    let denied = client
        .post(format!("{base}/api/list_projects"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let body: Value = denied.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    let allowed = client
        .post(format!("{base}/api/list_projects"))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    // In the query string the token opens reads (the event stream), never a command: a link or
    // a cross-site form that carries it cannot act.
    let by_query = client
        .post(format!("{base}/api/create_project?token={TOKEN}"))
        .json(&json!({ "settings": { "name": "x", "task_description": "", "rating_min": 1, "rating_max": 5, "kto_threshold": 4, "overlap": 1 }, "guidelines": null, "criteria": [], "span_labels": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), 401);
    let health = client
        .get(format!("{base}/api/health?token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let (_, projects) = call_with_token(&client, &base, TOKEN, "list_projects").await;
    assert_eq!(projects, json!([]));

    // An empty or short token is refused at start (an empty HONE_TOKEN once disabled the checks).
    for weak in ["", "short"] {
        let refused = common::start(dir.path(), common::loopback(Some(weak), false)).await;
        assert!(
            matches!(refused, Err(ServeError::WeakToken(n)) if n == weak.len()),
            "{weak:?}: {refused:?}"
        );
    }

    let config = ServeConfig {
        addr: "0.0.0.0:0".parse().unwrap(),
        ..common::loopback(None, false)
    };
    let refused = common::start(dir.path(), config).await;
    assert!(matches!(refused, Err(ServeError::PublicWithoutToken(_))));
}

#[tokio::test]
async fn trust_commands_answer_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let base = start(dir.path(), None).await;
    let client = reqwest::Client::new();
    let (_, project) = call(&client, &base, "create_project", json!({ "settings": { "name": "t", "task_description": "", "rating_min": 1, "rating_max": 5, "kto_threshold": 4.0, "overlap": 1 }, "guidelines": null, "criteria": [], "span_labels": [] })).await;
    let project_id = project["project"]["id"].as_i64().unwrap();
    let (status, report) = call(
        &client,
        &base,
        "annotator_report",
        json!({ "project_id": project_id }),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["group"]["name"], "all");
    let (status, err) = call(
        &client,
        &base,
        "version_provenance",
        json!({ "version_id": 42 }),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );
    // A job that fails reports it through its stream.
    let (status, started) = call(
        &client,
        &base,
        "evaluate_version",
        json!({ "version_id": 42 }),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let stream = events(&client, &base, started["job_id"].as_u64().unwrap()).await;
    assert_eq!(stream.last().unwrap()["event"], "failed");
    assert_eq!(stream.last().unwrap()["error"]["code"], "not_found");
}

/// Project settings, the queue's reason, gold items and a judge model's suggestion, over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_gold_and_suggestion_commands_answer_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let base = start(dir.path(), None).await;
    let client = reqwest::Client::new();
    let (_, project) = call(&client, &base, "create_project", json!({ "settings": { "name": "q", "task_description": "help desk", "rating_min": 1, "rating_max": 5, "kto_threshold": 4.0, "overlap": 1 }, "guidelines": null, "criteria": [], "span_labels": [] })).await;
    assert_eq!(
        project["project"]["queue_order"], "in_order",
        "omitted settings take their defaults: {project}"
    );
    let project_id = project["project"]["id"].as_i64().unwrap();
    let settings = json!({ "name": "q", "task_description": "help desk", "rating_min": 1, "rating_max": 5, "kto_threshold": 4.0, "overlap": 2, "queue_order": "disagreement", "gold_rate": 0.25 });
    let (status, updated) = call(
        &client,
        &base,
        "update_project_settings",
        json!({ "project_id": project_id, "settings": settings }),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (
            updated["queue_order"].as_str(),
            updated["gold_rate"].as_f64(),
            updated["overlap"].as_i64()
        ),
        (Some("disagreement"), Some(0.25), Some(2))
    );
    let mut unnamed = settings.clone();
    unnamed["name"] = json!("");
    let (status, kept) = call(
        &client,
        &base,
        "update_project_settings",
        json!({ "project_id": project_id, "settings": unnamed }),
    )
    .await;
    assert_eq!(
        (status, kept["name"].as_str()),
        (200, Some("q")),
        "the name is not a setting: {kept}"
    );
    let (status, err) = call(
        &client,
        &base,
        "add_rating_criterion",
        json!({ "project_id": 999, "item": { "name": "tone", "description": "" } }),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );
    let (status, err) = call(&client, &base, "cancel_job", json!({ "job_id": 999 })).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );
    let mut bad = settings.clone();
    bad["gold_rate"] = json!(-0.5);
    let (status, err) = call(
        &client,
        &base,
        "update_project_settings",
        json!({ "project_id": project_id, "settings": bad }),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("project.gold_rate")),
        "{err}"
    );

    call(&client, &base, "import_text", json!({ "project_id": project_id, "file_name": "p.jsonl", "split": "train", "content": "{\"prompt\": \"Where is my invoice?\", \"chosen\": \"In billing.\", \"rejected\": \"No idea.\"}\n" })).await;
    let (status, item) = call(
        &client,
        &base,
        "next_item",
        json!({ "project_id": project_id, "annotator": "bo", "kind": "comparison" }),
    )
    .await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(
        item["reason"],
        "no disagreement to resolve; 1 of 2 annotators have judged it: finishing its overlap first"
    );
    let ids: Vec<i64> = item["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();

    let (status, gold) = call(&client, &base, "mark_gold", json!({ "judgment_id": 1 })).await;
    assert_eq!(
        (status, gold["kind"].as_str(), gold["annotator"].as_str()),
        (200, Some("comparison"), Some("import")),
        "{gold}"
    );
    let (_, items) = call(
        &client,
        &base,
        "gold_items",
        json!({ "project_id": project_id }),
    )
    .await;
    assert_eq!(items.as_array().unwrap().len(), 1);
    let (status, _) = call(&client, &base, "unmark_gold", json!({ "judgment_id": 1 })).await;
    assert_eq!(status, 200);
    let (status, err) = call(&client, &base, "unmark_gold", json!({ "judgment_id": 1 })).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("judgment_id")),
        "{err}"
    );

    let (status, err) = call(
        &client,
        &base,
        "suggestion",
        json!({ "project_id": project_id, "response_ids": ids }),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("invalid")),
        "no reward model yet: {err}"
    );
    let model = dir.path().join("judge");
    hone_core::model::tiny::write_tiny_model(
        hone_core::model::tiny::TinyArch::Llama,
        Default::default(),
        &model,
        1,
    )
    .unwrap();
    let (status, s) = call(&client, &base, "suggestion", json!({ "project_id": project_id, "response_ids": ids, "judge": { "kind": "base", "dir": model } })).await;
    assert_eq!(
        (status, s["source"].as_str(), s["reward_model"].is_null()),
        (200, Some("judge judge"), true),
        "{s}"
    );
    let total: f64 = s["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-6, "{s}");
}

/// Without a token, only requests addressed to this machine by its own pages are answered: a
/// page of another site (a foreign Origin) or a rebound DNS name (a foreign Host) is refused.
#[tokio::test]
async fn without_a_token_foreign_hosts_and_origins_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = start(dir.path(), None).await;
    let client = reqwest::Client::new();
    let port = base.rsplit(':').next().unwrap().to_owned();
    let ok = client
        .post(format!("{base}/api/list_projects"))
        .header("origin", base.as_str())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "the UI's own origin");
    let localhost = client
        .post(format!("{base}/api/list_projects"))
        .header("host", format!("localhost:{port}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(localhost.status(), 200, "localhost is this machine");
    let rebound = client
        .post(format!("{base}/api/list_projects"))
        .header("host", format!("evil.example:{port}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403, "a DNS-rebound name");
    let body: Value = rebound.json().await.unwrap();
    assert_eq!(body["code"], "forbidden");
    let cross = client
        .post(format!("{base}/api/build_starter"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403, "another site's page");
    let events = client
        .get(format!("{base}/api/jobs/1/events"))
        .header("origin", "http://attacker.test:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 403);
}

/// The UI built into the binary answers every page path with the app, its hashed assets as
/// immutable, under the CSP; a binary built without the UI says so (CI builds the UI first).
#[tokio::test]
async fn the_embedded_ui_is_served_from_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let base = start_with_ui(dir.path(), None, UiFiles::Embedded).await;
    let client = reqwest::Client::new();
    let page = client.get(format!("{base}/")).send().await.unwrap();
    if !hone_server::embedded_ui::available() {
        assert_eq!(page.status(), 404);
        assert!(page.text().await.unwrap().contains("without its web UI"));
        return;
    }
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-security-policy"], CSP);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let html = page.text().await.unwrap();
    assert!(html.contains("<div id=\"app\""), "{html}");
    // The first script the page loads is one of the embedded assets.
    let script = html
        .split("src=\"./")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page loads a script")
        .to_string();
    let asset = client.get(format!("{base}/{script}")).send().await.unwrap();
    assert_eq!(asset.status(), 200);
    assert!(asset.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert!(asset.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    // A deep link is the app too; the API is still the API.
    let deep = client
        .get(format!("{base}/label/comparison"))
        .send()
        .await
        .unwrap();
    assert_eq!(deep.status(), 200);
    assert!(deep.text().await.unwrap().contains("<div id=\"app\""));
    let health = client
        .get(format!("{base}/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
