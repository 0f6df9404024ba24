//! Team mode (issue 18) over real HTTP: accounts with their own tokens, roles enforced on every
//! command and route, annotators labeling under their account's name and seeing only their
//! own judgments, revocation at once.

use std::path::Path;

use hone_core::accounts::Role;
use hone_server::ServeError;
use serde_json::{json, Value};

mod common;

/// Team mode may listen beyond loopback; the tests stay on it.
async fn start_team(workspace: &Path) -> Result<String, ServeError> {
    common::start(workspace, common::loopback(None, true)).await
}

/// The `name=value` part of a sign-in's `Set-Cookie`, as a browser sends it back.
fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    async fn call(&self, command: &str, args: Value) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/api/{command}", self.base))
            .json(&args);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn ok(&self, command: &str, args: Value) -> Value {
        let (status, body) = self.call(command, args).await;
        assert_eq!(status, 200, "{command}: {body}");
        body
    }

    async fn refused(&self, command: &str, args: Value) -> (u16, String) {
        let (status, body) = self.call(command, args).await;
        assert_ne!(status, 200, "{command} should be refused: {body}");
        (
            status,
            body["message"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_what_each_account_may_do_and_annotators_label_as_themselves() {
    let dir = common::workspace().await;
    // A team server starts only once it has an owner.
    let refused = start_team(dir.path()).await.unwrap_err();
    assert!(matches!(refused, ServeError::TeamWithoutOwner), "{refused}");

    let hone = hone_core::Hone::open(dir.path()).await.unwrap();
    assert_eq!(
        hone.store().backend() == hone_core::store::Backend::Postgres,
        std::env::var("HONE_TEST_DATABASE").is_ok_and(|url| !url.is_empty()),
        "the run is on the database it was asked for"
    );
    let owner = hone
        .add_user("olivia", Role::Owner, false)
        .await
        .unwrap()
        .token;
    let lead = hone.add_user("lee", Role::Lead, false).await.unwrap().token;
    let ana = hone
        .add_user("ana", Role::Annotator, false)
        .await
        .unwrap()
        .token;
    let bo = hone
        .add_user("bo", Role::Annotator, false)
        .await
        .unwrap()
        .token;
    // Only a hash is stored: no token appears in the database file (on PostgreSQL: in what
    // the tokens table holds).
    let db = match hone.store().path() {
        Some(file) => std::fs::read(file).unwrap(),
        None => {
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT lookup || ' ' || hash || ' ' || created_at FROM api_tokens",
            )
            .fetch_all(&mut *hone.store().conn().await.unwrap())
            .await
            .unwrap();
            assert_eq!(rows.len(), 4, "a token row per account");
            rows.join("\n").into_bytes()
        }
    };
    for token in [&owner, &lead, &ana, &bo] {
        let secret = token.rsplit('_').next().unwrap();
        assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    drop(hone);

    let base = start_team(dir.path()).await.unwrap();
    let as_ = |token: &str| Client {
        http: reqwest::Client::new(),
        base: base.clone(),
        token: Some(token.to_owned()),
    };
    let (owner, lead, ana, bo) = (as_(&owner), as_(&lead), as_(&ana), as_(&bo));
    let nobody = Client {
        http: reqwest::Client::new(),
        base: base.clone(),
        token: None,
    };

    // No token, or a made-up one with a real lookup part: 401, without saying which.
    assert_eq!(nobody.refused("list_projects", json!({})).await.0, 401);
    let forged = Client {
        token: Some(format!(
            "{}_{}",
            ana.token.as_ref().unwrap().rsplit_once('_').unwrap().0,
            "0".repeat(64)
        )),
        ..as_("x")
    };
    assert_eq!(forged.refused("list_projects", json!({})).await.0, 401);
    assert_eq!(ana.ok("whoami", json!({})).await["role"], "annotator");

    // The lead sets up a project whose pairs each of three people should judge.
    let project = lead.ok("create_project", json!({ "settings": { "name": "support", "task_description": "", "rating_min": 1, "rating_max": 5, "kto_threshold": 4.0, "overlap": 3 }, "guidelines": null, "criteria": [], "span_labels": [] })).await;
    let project_id = project["project"]["id"].as_i64().unwrap();
    let pairs = "{\"prompt\": \"How do I reset my password?\", \"chosen\": \"Settings > Account.\", \"rejected\": \"No idea.\"}\n{\"prompt\": \"Is the store open on Sunday?\", \"chosen\": \"Yes, ten to four.\", \"rejected\": \"Stores sell things.\"}\n";
    lead.ok("import_text", json!({ "project_id": project_id, "file_name": "pairs.jsonl", "split": "train", "content": pairs })).await;

    // An annotator may not set up, import, train or manage accounts.
    for (command, args) in [
        ("create_project", json!({})),
        ("import_text", json!({ "project_id": project_id })),
        ("start_fine_tune", json!({ "project_id": project_id })),
        ("project_stats", json!({ "project_id": project_id })),
        ("add_user", json!({ "name": "eve", "role": "owner" })),
    ] {
        let (status, message) = ana.refused(command, args).await;
        assert_eq!(status, 403, "{command}: {message}");
        assert!(message.contains("ana is an annotator"), "{message}");
    }
    // Found by review: an array body fills a struct's fields in order and would have skipped
    // the name check; a judge model names server folders; prompts of any project by id.
    let (status, message) = ana
        .refused("next_item", json!([project_id, "bo", "comparison"]))
        .await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("must be a JSON object"), "{message}");
    let (status, message) = ana
        .refused("suggestion", json!({ "project_id": project_id, "response_ids": [1, 2], "judge": { "kind": "base", "dir": "/etc" } }))
        .await;
    assert_eq!(status, 403, "{message}");
    assert_eq!(
        ana.refused("prompt_with_responses", json!({ "prompt_id": 1 }))
            .await
            .0,
        403
    );
    // Routes outside the command table too: uploads and job events are a lead's.
    let upload = ana
        .http
        .post(format!(
            "{base}/api/upload/import?project_id={project_id}&file_name=p.jsonl"
        ))
        .bearer_auth(ana.token.as_ref().unwrap())
        .body(pairs)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 403);
    // A lead may do all that, but not manage accounts.
    let (status, message) = lead.refused("list_users", json!({})).await;
    assert_eq!(status, 403, "{message}");
    assert!(message.contains("needs an owner"), "{message}");

    // Files on the server: models from the workspace (or `--models` folders) only, exports
    // under its exports/ folder; the rest of the machine is not a team account's to read or
    // write.
    let model = dir.path().join("models").join("tiny");
    hone_core::model::tiny::write_tiny_model(
        hone_core::model::tiny::TinyArch::Llama,
        Default::default(),
        &model,
        1,
    )
    .unwrap();
    lead.ok("inspect_model", json!({ "dir": model })).await;
    for dir in ["/etc", "/nonexistent/model"] {
        let (status, message) = lead.refused("inspect_model", json!({ "dir": dir })).await;
        assert_eq!(status, 403, "{dir}: {message}");
        assert!(message.starts_with(dir), "{message}");
    }
    let (status, message) = lead
        .refused(
            "start_fine_tune",
            json!({ "project_id": project_id, "recipe": { "model_dir": "/usr" } }),
        )
        .await;
    assert_eq!(status, 403, "{message}");
    let (status, message) = lead
        .refused(
            "export_version",
            json!({ "version_id": 1, "format": "peft", "out": "/tmp/elsewhere" }),
        )
        .await;
    assert_eq!(status, 403, "{message}");
    assert!(message.contains("exports go under"), "{message}");
    // Found by review: serde fills a struct or a tagged enum from an array too, which the
    // object-shaped checks would not have seen.
    let (status, message) = lead
        .refused(
            "playground",
            json!({ "model": ["base", "/usr"], "prompt": "hi", "sampling": { "temperature": 0.0, "top_k": null, "top_p": null, "repetition_penalty": 1.0, "max_new_tokens": 4, "stop": [], "seed": 1 } }),
        )
        .await;
    assert_eq!(status, 403, "{message}");
    let (status, message) = lead
        .refused(
            "plan_fine_tune",
            json!({ "project_id": project_id, "recipe": ["sft", "/usr"] }),
        )
        .await;
    assert_eq!(status, 400, "{message}");

    // An annotator sees and labels only the projects a lead made them a member of.
    assert_eq!(ana.ok("list_projects", json!({})).await, json!([]));
    let (status, message) = ana
        .refused(
            "next_item",
            json!({ "project_id": project_id, "kind": "comparison" }),
        )
        .await;
    assert_eq!(status, 403, "{message}");
    assert!(message.contains("not a member of project"), "{message}");
    let (status, _) = ana
        .refused(
            "add_member",
            json!({ "project_id": project_id, "name": "ana" }),
        )
        .await;
    assert_eq!(status, 403);
    lead.ok(
        "add_member",
        json!({ "project_id": project_id, "name": "ana" }),
    )
    .await;
    let members = lead
        .ok(
            "add_member",
            json!({ "project_id": project_id, "name": "bo" }),
        )
        .await;
    let names: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ana", "bo"]);
    let other = lead.ok("create_project", json!({ "settings": { "name": "private", "task_description": "", "rating_min": 1, "rating_max": 5, "kto_threshold": 4.0, "overlap": 1 }, "guidelines": null, "criteria": [], "span_labels": [] })).await;
    let other_id = other["project"]["id"].as_i64().unwrap();
    let visible = ana.ok("list_projects", json!({})).await;
    assert_eq!(visible.as_array().unwrap().len(), 1, "{visible}");
    assert_eq!(visible[0]["id"].as_i64(), Some(project_id));
    assert_eq!(
        lead.ok("list_projects", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        2,
        "a lead sees every project"
    );
    for command in ["project_details", "judgment_history"] {
        let (status, _) = ana
            .refused(command, json!({ "project_id": other_id }))
            .await;
        assert_eq!(status, 403, "{command} of a project ana is not in");
    }

    // Annotators label under their own name: the queue needs no name, another name is refused.
    let item = ana
        .ok(
            "next_item",
            json!({ "project_id": project_id, "kind": "comparison" }),
        )
        .await;
    let ids: Vec<i64> = item["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    let comparison = |annotator: Option<&str>| {
        let mut args = json!({ "project_id": project_id, "kind": { "kind": "comparison", "response_a": ids[0], "response_b": ids[1], "choice": "a", "strength": null, "reason": null } });
        if let Some(name) = annotator {
            args["annotator"] = json!(name);
        }
        args
    };
    let (status, message) = ana.refused("record_feedback", comparison(Some("bo"))).await;
    assert_eq!(status, 403);
    assert!(message.contains("not as \"bo\""), "{message}");
    // Sent with a submission id, and sent again (a lost answer, an outbox's retry): one
    // judgment, the same answer.
    let mut submitted = comparison(None);
    submitted["submission_id"] = json!("c0ffee00-0000-4000-8000-000000000001");
    let anas = ana.ok("record_feedback", submitted.clone()).await["judgment_id"]
        .as_i64()
        .unwrap();
    let retried = ana.ok("record_feedback", submitted.clone()).await;
    assert_eq!(retried["judgment_id"].as_i64(), Some(anas), "{retried}");
    // Another account cannot take it over.
    let mut borrowed = submitted.clone();
    borrowed["annotator"] = json!("bo");
    let (status, message) = bo.refused("record_feedback", borrowed).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("another annotator"), "{message}");
    let bos = bo.ok("record_feedback", comparison(Some("bo"))).await["judgment_id"]
        .as_i64()
        .unwrap();
    // The unit ana judged is not offered to her again; bo still has both.
    let next = ana
        .ok(
            "next_item",
            json!({ "project_id": project_id, "kind": "comparison" }),
        )
        .await;
    assert_eq!(next["remaining"], 1, "{next}");

    // Each annotator's history is their own; another's is refused, as are its details.
    let history = ana
        .ok("judgment_history", json!({ "project_id": project_id }))
        .await;
    let rows = history["entries"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{history}");
    assert_eq!(rows[0]["judgment_id"].as_i64(), Some(anas));
    let (status, _) = ana
        .refused(
            "judgment_history",
            json!({ "project_id": project_id, "annotator": "bo" }),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        ana.refused("judgment_detail", json!({ "judgment_id": bos }))
            .await
            .0,
        403
    );
    assert_eq!(
        ana.refused("undo_judgment", json!({ "judgment_id": bos }))
            .await
            .0,
        403
    );
    ana.ok("judgment_detail", json!({ "judgment_id": anas }))
        .await;
    // Taken off the project, bo can no longer label it; his judgment stays.
    lead.ok(
        "remove_member",
        json!({ "project_id": project_id, "name": "bo" }),
    )
    .await;
    assert_eq!(
        bo.refused(
            "next_item",
            json!({ "project_id": project_id, "kind": "comparison" })
        )
        .await
        .0,
        403
    );
    assert_eq!(bo.ok("list_projects", json!({})).await, json!([]));
    // His judgments there are out of reach too; an unknown id gets the same answer.
    for id in [bos, 99_999] {
        let (status, message) = bo
            .refused("judgment_detail", json!({ "judgment_id": id }))
            .await;
        assert_eq!(status, 403, "{message}");
        assert_eq!(message, format!("judgment {id} is not bo's"));
    }
    // The lead sees everyone's (the import's two and the two annotators').
    let all = lead
        .ok("judgment_history", json!({ "project_id": project_id }))
        .await;
    assert_eq!(all["total"], 4, "{all}");

    // The owner manages accounts; a revoked account is out at once.
    let listed = owner.ok("list_users", json!({})).await;
    assert_eq!(listed.as_array().unwrap().len(), 4);
    owner.ok("revoke_user", json!({ "name": "bo" })).await;
    assert_eq!(bo.refused("whoami", json!({})).await.0, 401);
    let issued = owner
        .ok("add_user", json!({ "name": "cy", "role": "annotator" }))
        .await;
    let cy = as_(issued["token"].as_str().unwrap());
    assert_eq!(cy.ok("whoami", json!({})).await["name"], "cy");
    // The import's judgments carry an annotator name; a new account of that name would take
    // them over: refused unless the owner claims them for it.
    let importer = lead
        .ok("judgment_history", json!({ "project_id": project_id }))
        .await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["annotator"].as_str().unwrap().to_owned())
        .find(|name| name != "ana" && name != "bo")
        .expect("the import's annotator");
    let (status, message) = owner
        .refused("add_user", json!({ "name": importer, "role": "annotator" }))
        .await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("already has 2 judgment(s)"), "{message}");
    owner
        .ok(
            "add_user",
            json!({ "name": importer, "role": "annotator", "claim": true }),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_signs_in_for_a_session_cookie_that_only_its_own_pages_can_use() {
    let dir = common::workspace().await;
    let hone = hone_core::Hone::open(dir.path()).await.unwrap();
    let owner = hone
        .add_user("olivia", Role::Owner, false)
        .await
        .unwrap()
        .token;
    let ana = hone
        .add_user("ana", Role::Annotator, false)
        .await
        .unwrap()
        .token;
    drop(hone);
    let base = start_team(dir.path()).await.unwrap();
    let http = reqwest::Client::new();
    let sign_in = |token: String| {
        http.post(format!("{base}/api/session"))
            .json(&json!({ "token": token }))
            .send()
    };
    let whoami = |cookie: String, origin: Option<&'static str>| {
        let mut r = http
            .post(format!("{base}/api/whoami"))
            .header("cookie", cookie)
            .json(&json!({}));
        if let Some(origin) = origin {
            r = r.header("origin", origin);
        }
        r.send()
    };

    let wrong = sign_in(format!("hone_{}_{}", "0".repeat(16), "0".repeat(64)))
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    let signed = sign_in(ana.clone()).await.unwrap();
    assert_eq!(signed.status().as_u16(), 200);
    let set_cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/api"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = session_cookie(&signed);
    let account: Value = signed.json().await.unwrap();
    assert_eq!(account["name"], "ana");

    // The cookie alone signs the UI's commands, from this server's own page only.
    let r = whoami(cookie.clone(), None).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "ana");
    let own_origin: &'static str = Box::leak(base.clone().into_boxed_str());
    assert_eq!(
        whoami(cookie.clone(), Some(own_origin))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        whoami(cookie.clone(), Some("http://elsewhere.example"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    // A made-up session is nobody.
    assert_eq!(
        whoami("hone_session=abc".into(), None)
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );

    // Signing out ends the session.
    let out = http
        .post(format!("{base}/api/session/end"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(whoami(cookie, None).await.unwrap().status().as_u16(), 401);

    // Signing in again and again keeps at most 16 sessions per account: the oldest ends.
    let first = session_cookie(&sign_in(ana.clone()).await.unwrap());
    for _ in 0..16 {
        assert_eq!(sign_in(ana.clone()).await.unwrap().status().as_u16(), 200);
    }
    assert_eq!(whoami(first, None).await.unwrap().status().as_u16(), 401);

    // Revoking the account ends its live sessions at their next request.
    let cookie = session_cookie(&sign_in(ana).await.unwrap());
    assert_eq!(
        whoami(cookie.clone(), None)
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let revoke = http
        .post(format!("{base}/api/revoke_user"))
        .bearer_auth(owner)
        .json(&json!({ "name": "ana" }))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status().as_u16(), 200);
    assert_eq!(whoami(cookie, None).await.unwrap().status().as_u16(), 401);
}

/// The desktop app connected to a team server calls it through `hone_api::RemoteApi`: the
/// account's token is checked at connect, commands answer as over HTTP (a refusal as the server
/// put it), and a server that cannot be reached is `network` (what the UI's outbox waits out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_calls_a_team_server_through_remote_api() {
    use hone_api::RemoteApi;
    let (dir, ana) = common::team_workspace().await;
    let base = start_team(dir.path()).await.unwrap();

    let (remote, account) = RemoteApi::connect(&format!("{base}/"), &ana).await.unwrap();
    assert_eq!(account["name"], "ana", "{account}");
    assert_eq!(remote.url(), base, "the trailing slash is dropped");
    let projects = remote.call("list_projects", json!({})).await.unwrap();
    assert_eq!(projects, json!([]), "ana is a member of no project yet");
    let refused = remote
        .call("start_fine_tune", json!({ "project_id": 1 }))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "forbidden", "{refused:?}");

    let wrong = RemoteApi::connect(&base, "hone_0000000000000000_wrong")
        .await
        .unwrap_err();
    assert_eq!(wrong.code, "unauthorized", "{wrong:?}");
    let not_a_url = RemoteApi::connect("ftp://example.org", &ana)
        .await
        .unwrap_err();
    assert_eq!(not_a_url.field.as_deref(), Some("url"));

    // A server that is not in team mode is not one to connect to.
    let local = tempfile::tempdir().unwrap();
    let shared = "a-shared-token-of-enough-length";
    let plain = common::start(local.path(), common::loopback(Some(shared), false))
        .await
        .unwrap();
    let solo = RemoteApi::connect(&plain, shared).await.unwrap_err();
    assert!(solo.message.contains("not in team mode"), "{solo:?}");

    // Nothing listens on a port just given back.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let gone = RemoteApi::new(&format!("http://{closed}"), &ana)
        .unwrap()
        .call("whoami", json!({}))
        .await
        .unwrap_err();
    assert_eq!(gone.code, "network", "{gone:?}");
}
