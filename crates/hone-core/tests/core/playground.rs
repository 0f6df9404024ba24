//! The playground on a tiny random model: streamed pieces, the answer, repeatability,
//! cancellation and refusals; `add_candidate` finding or creating the prompt and the response.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use hone_core::generation::{prompt_seed, GenerationRequest};
use hone_core::inference::ModelRef;
use hone_core::model::sampling::SamplingParams;
use hone_core::model::tiny::{write_tiny_model, TinyArch, TinySize};
use hone_core::playground::{CandidateInput, PlaygroundAnswer, PlaygroundRequest};
use hone_core::store::models::{self, NewBaseModel, NewModelVersion};
use hone_core::store::prompts::NewPrompt;
use hone_core::store::responses;
use hone_core::{ProjectId, ResponseSource};

use crate::{assert_invalid, count_rows, open, project, Ws};

const PROMPT: &str = "How do I share a notebook with a colleague?";

fn tiny_model(ws: &Ws) -> PathBuf {
    let dir = ws.dir.path().join("tiny-model");
    write_tiny_model(TinyArch::Llama, TinySize::default(), &dir, 0).unwrap();
    dir
}

fn sampling(max_new_tokens: usize) -> SamplingParams {
    SamplingParams {
        temperature: 1.0,
        top_p: None,
        max_new_tokens,
        seed: 11,
        ..SamplingParams::default()
    }
}

fn request(model: &std::path::Path, prompt: &str, sampling: SamplingParams) -> PlaygroundRequest {
    PlaygroundRequest {
        model: ModelRef::Base {
            dir: model.to_owned(),
        },
        prompt: prompt.into(),
        sampling,
    }
}

/// The answer and the pieces streamed while it was written.
async fn ask(ws: &Ws, request: &PlaygroundRequest) -> (PlaygroundAnswer, Vec<String>) {
    let pieces = Arc::new(Mutex::new(Vec::new()));
    let sink = pieces.clone();
    let answer = ws
        .playground(request, move |text| {
            sink.lock().unwrap().push(text.to_owned())
        })
        .await
        .unwrap_or_else(|e| panic!("the playground answers: {e}"));
    let pieces = pieces.lock().unwrap().clone();
    (answer, pieces)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_playground_streams_its_answer_repeatably_and_as_candidates_are_generated() {
    let ws = open().await;
    let model = tiny_model(&ws);
    let max = 24;
    let req = request(&model, PROMPT, sampling(max));
    let (answer, pieces) = ask(&ws, &req).await;

    assert!(
        pieces.len() >= 2,
        "a couple of pieces at least: {pieces:?} ({answer:?})"
    );
    assert!(pieces.iter().all(|p| !p.is_empty()), "no empty piece");
    assert_eq!(
        pieces.concat().trim(),
        answer.text,
        "the pieces put together, trimmed at both ends, are the answer"
    );
    assert!(!answer.text.is_empty());
    match answer.finish_reason.as_str() {
        "length" => assert_eq!(answer.new_tokens, max, "{answer:?}"),
        "eos" => assert!(answer.new_tokens < max, "{answer:?}"),
        other => panic!("no stop string, no cancel: {other} ({answer:?})"),
    }
    assert!(answer.new_tokens > 0 && answer.seconds >= 0.0);
    assert_eq!(
        answer.sampling, req.sampling,
        "the settings used, seed included"
    );

    // Same seed, same answer and same pieces; another seed draws another answer.
    let (again, pieces_again) = ask(&ws, &req).await;
    assert_eq!(again.text, answer.text);
    assert_eq!(pieces_again, pieces);
    assert_eq!(
        (again.finish_reason.as_str(), again.new_tokens),
        (answer.finish_reason.as_str(), answer.new_tokens)
    );
    let mut other_seed = req.clone();
    other_seed.sampling.seed = 12;
    assert_ne!(ask(&ws, &other_seed).await.0.text, answer.text);

    // The prompt is given to the model as a candidate's prompt is: generate_candidates with
    // the seed that lands on the same draw writes the same answer.
    let p = project(&ws, "help").await;
    let prompt = ws.add_prompt(p, &NewPrompt::text(PROMPT)).await.unwrap();
    let mut settings = sampling(max);
    settings.seed = 11u64.wrapping_sub(prompt_seed(0, prompt.id));
    assert_eq!(prompt_seed(settings.seed, prompt.id), 11);
    let made = ws
        .generate_candidates(
            &GenerationRequest {
                model: ModelRef::Base { dir: model.clone() },
                prompt_ids: vec![prompt.id],
                n: 1,
                sampling: settings,
            },
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(made[0].responses[0].text, answer.text);

    // Asking for more tokens than the context leaves is lowered to what it leaves.
    let (long, _) = ask(&ws, &request(&model, PROMPT, sampling(5000))).await;
    assert!(
        long.sampling.max_new_tokens < 1024 && long.sampling.max_new_tokens > 900,
        "{:?}",
        long.sampling
    );
    assert!(long.new_tokens <= long.sampling.max_new_tokens);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_playground_stops_at_once_with_the_text_so_far() {
    let ws = open().await;
    let model = tiny_model(&ws);
    let req = request(&model, PROMPT, sampling(24));
    let (full, full_pieces) = ask(&ws, &req).await;
    assert!(full_pieces.len() >= 2, "{full_pieces:?}");

    let cancel = Arc::new(AtomicBool::new(false));
    let pieces = Arc::new(Mutex::new(Vec::new()));
    let (flag, sink) = (cancel.clone(), pieces.clone());
    let answer = ws
        .playground_until(&req, cancel, move |text| {
            sink.lock().unwrap().push(text.to_owned());
            flag.store(true, Ordering::Relaxed);
        })
        .await
        .unwrap();
    let pieces = pieces.lock().unwrap().clone();
    assert_eq!(answer.finish_reason, "cancelled");
    assert_eq!(pieces, full_pieces[..1], "nothing after the first piece");
    assert_eq!(answer.text, pieces.concat().trim());
    assert!(
        answer.new_tokens < full.new_tokens,
        "{answer:?} vs {full:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_playground_refuses_an_empty_or_oversized_prompt() {
    let ws = open().await;
    let model = tiny_model(&ws);
    let refused = |prompt: String| {
        let req = request(&model, &prompt, sampling(8));
        let ws = &ws;
        async move { ws.playground(&req, |_| {}).await }
    };
    assert_invalid(refused(String::new()).await, "prompt");
    assert_invalid(refused(" \n\t ".into()).await, "prompt");
    assert_invalid(refused("é".repeat(100_001)).await, "prompt");
    // Within the character limit but longer than the model's context (1024 positions).
    let words: String = (0..1500).map(|i| format!("word{i} ")).collect();
    assert_invalid(refused(words).await, "prompt");
    let mut bad = request(&model, PROMPT, sampling(8));
    bad.sampling.max_new_tokens = 0;
    assert_invalid(ws.playground(&bad, |_| {}).await, "sampling");
}

#[tokio::test]
async fn add_candidate_finds_or_creates_the_prompt_and_reuses_an_identical_answer() {
    let ws = open().await;
    let model = tiny_model(&ws);
    let p = project(&ws, "help").await;
    let settings = sampling(32);
    let input = |prompt: &str, text: &str| CandidateInput {
        project_id: p,
        prompt: prompt.into(),
        text: text.into(),
        model: ModelRef::Base { dir: model.clone() },
        sampling: Some(settings.clone()),
    };

    let first = ws
        .add_candidate(&input(PROMPT, "  Open the share menu.\n"))
        .await
        .unwrap();
    assert!(first.new_prompt);
    let prompt = ws.prompt_with_responses(first.prompt_id).await.unwrap();
    assert_eq!(prompt.prompt.text, PROMPT);
    assert_eq!(prompt.prompt.project_id, p);
    assert_eq!(prompt.prompt.split, hone_core::Split::Train);
    assert_eq!(prompt.responses.len(), 1);
    let response = &prompt.responses[0];
    assert_eq!(response.id, first.response_id);
    assert_eq!(
        response.text, "Open the share menu.",
        "trimmed as candidates are"
    );
    assert_eq!(response.source, ResponseSource::Model);
    assert_eq!(response.model_version_id, None);
    let bases = models::list_bases(&mut ws.store().conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(bases.len(), 1, "the base model is registered on first use");
    assert_eq!(response.base_model_id, Some(bases[0].id));
    assert_eq!(
        response.generation["sampling"],
        serde_json::to_value(&settings).unwrap()
    );
    assert_eq!(response.generation["seed"], settings.seed);

    // The same prompt again: found, not added; another answer is a new response.
    let second = ws
        .add_candidate(&input(PROMPT, "Ask the owner."))
        .await
        .unwrap();
    assert!(!second.new_prompt);
    assert_eq!(second.prompt_id, first.prompt_id);
    assert_ne!(second.response_id, first.response_id);
    // An identical answer is the response the prompt has.
    let third = ws
        .add_candidate(&input(PROMPT, "Open the share menu."))
        .await
        .unwrap();
    assert_eq!(
        (third.prompt_id, third.response_id, third.new_prompt),
        (first.prompt_id, first.response_id, false)
    );
    assert_eq!(count_rows(&ws, "prompts").await, 1);
    assert_eq!(count_rows(&ws, "responses").await, 2);

    // A prompt the project got another way (an import, add_prompt) is found by its content.
    let imported = ws
        .add_prompt(p, &NewPrompt::text("Where are my notes?"))
        .await
        .unwrap();
    let found = ws
        .add_candidate(&input("Where are my notes?", "In the sidebar."))
        .await
        .unwrap();
    assert_eq!((found.prompt_id, found.new_prompt), (imported.id, false));

    // A version's answer records the version and its base.
    let version = {
        let mut conn = ws.store().conn().await.unwrap();
        let base = models::insert_base(
            &mut conn,
            &NewBaseModel {
                name: "other-base".into(),
                location: ws.dir.path().join("other-base").display().to_string(),
                architecture: "llama".into(),
                sha256: None,
                config: serde_json::json!({}),
            },
        )
        .await
        .unwrap();
        models::insert_version(
            &mut conn,
            &NewModelVersion {
                project_id: p,
                name: "v1".into(),
                parent_id: None,
                base_model_id: base.id,
                method: "sft".into(),
                hyperparams: serde_json::json!({}),
                snapshot_id: None,
                metrics: serde_json::json!({}),
                adapter_dir: None,
                job_id: None,
                files: Vec::new(),
            },
        )
        .await
        .unwrap()
    };
    let by_version = ws
        .add_candidate(&CandidateInput {
            model: ModelRef::Version { id: version.id },
            sampling: None,
            ..input(PROMPT, "Use the share button.")
        })
        .await
        .unwrap();
    let stored = responses::get(
        &mut ws.store().conn().await.unwrap(),
        by_version.response_id,
    )
    .await
    .unwrap();
    assert_eq!(stored.model_version_id, Some(version.id));
    assert_eq!(stored.base_model_id, Some(version.base_model_id));
    assert_eq!(stored.source, ResponseSource::Model);

    // Refusals, with nothing written.
    let before = count_rows(&ws, "responses").await;
    assert_invalid(ws.add_candidate(&input(PROMPT, " \n ")).await, "text");
    assert_invalid(ws.add_candidate(&input("  ", "An answer.")).await, "prompt");
    let mut bad = input(PROMPT, "An answer.");
    bad.sampling.as_mut().unwrap().top_p = Some(2.0);
    assert_invalid(ws.add_candidate(&bad).await, "sampling");
    let mut missing = input("A new prompt", "An answer.");
    missing.project_id = ProjectId(999);
    match ws.add_candidate(&missing).await {
        Err(e) => assert_eq!(e.code(), "not_found", "{e}"),
        Ok(added) => panic!("no project 999: {added:?}"),
    }
    assert_eq!(count_rows(&ws, "responses").await, before);
    assert_eq!(count_rows(&ws, "prompts").await, 2);
}
