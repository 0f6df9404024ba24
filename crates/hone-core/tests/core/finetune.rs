use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hone_core::feedback::FeedbackKind;
use hone_core::finetune::{FineTuneEvent, Method, Recipe, StageMethod};
use hone_core::model::tiny::{write_tiny_model, TinyArch, TinySize};
use hone_core::store::{jobs, models};
use hone_core::{Choice, CoreError, JobState, ProjectId};

use crate::{compare, judge, open, project, prompt_with, Ws};

/// A project with demonstrations and comparisons, and a tiny model folder.
async fn setup() -> (Ws, ProjectId, std::path::PathBuf) {
    let ws = open().await;
    let p = project(&ws, "support").await;
    for i in 0..4 {
        let (prompt, r) = prompt_with(
            &ws,
            p,
            &format!("How do I reset password {i}?"),
            &["Open settings.", "No idea."],
        )
        .await;
        judge(&ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
        judge(
            &ws,
            p,
            "alice",
            FeedbackKind::Demonstration {
                prompt_id: prompt,
                text: format!("Open settings, then account {i}."),
            },
        )
        .await;
    }
    let model = ws.dir.path().join("tiny-model");
    write_tiny_model(TinyArch::Llama, TinySize::default(), &model, 0).unwrap();
    (ws, p, model)
}

fn small(recipe: &mut Recipe) {
    recipe.lora.r = 4;
    recipe.sft.epochs = 2;
    recipe.sft.batch_size = 2;
    recipe.sft.save_steps = 2;
    recipe.preference.epochs = 2;
    recipe.preference.batch_size = 2;
    recipe.preference.save_steps = 2;
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_plans_sft_then_dpo_and_records_a_version_with_its_lineage() {
    let (ws, p, model) = setup().await;
    let mut recipe = Recipe::new(Method::Auto, model.clone());
    small(&mut recipe);
    let plan = ws.plan_fine_tune(p, &recipe).await.unwrap();
    let methods: Vec<StageMethod> = plan.stages.iter().map(|s| s.method).collect();
    assert_eq!(
        methods,
        vec![StageMethod::Sft, StageMethod::Dpo],
        "demonstrations then pairs"
    );
    assert_eq!((plan.stages[0].examples, plan.stages[1].examples), (4, 4));
    assert_eq!(plan.stages[0].steps, 4, "4 examples / batch 2 × 2 epochs");
    assert!(
        plan.estimated_memory_mib > 0.0 && plan.stages.iter().all(|s| s.estimated_seconds > 0.0)
    );
    // A step's own memory is part of the run's peak, and a DPO step (a chosen and a rejected
    // row per pair, the same batch size) needs more than an SFT one.
    let (sft, dpo) = (
        plan.stages[0].step_memory_mib,
        plan.stages[1].step_memory_mib,
    );
    assert!(
        0.0 < sft && sft < dpo && dpo < plan.estimated_memory_mib,
        "steps {sft} and {dpo} MiB, run {} MiB",
        plan.estimated_memory_mib
    );
    // This machine has no GPU (and this build no CUDA): auto plans on the CPU, in f32.
    assert_eq!(
        (plan.device.name.as_str(), plan.device.dtype.as_str()),
        ("cpu", "f32"),
        "{:?}",
        plan.device
    );
    assert!(plan.device.memory_mib.is_some_and(|m| m > 0.0));
    assert!(!plan.device.reason.is_empty());

    let mut events = Vec::new();
    let outcome = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |e| {
            events.push(e.clone())
        })
        .await
        .unwrap();
    let v = &outcome.version;
    assert_eq!(v.name, "v1");
    assert_eq!(v.method, "sft+dpo");
    assert!(v.snapshot_id.is_some() && v.job_id == Some(outcome.job_id));
    assert!(
        v.metrics.get("dpo/rewards/accuracies").is_some(),
        "final DPO metrics are kept: {}",
        v.metrics
    );
    let names: Vec<&str> = v.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, ["adapter_config.json", "adapter_model.safetensors"]);
    let dir = ws.dir.path().join(v.adapter_dir.as_ref().unwrap());
    for f in &v.files {
        let bytes = std::fs::read(dir.join(&f.path)).unwrap();
        assert_eq!(bytes.len() as i64, f.bytes, "recorded size of {}", f.path);
    }
    let progress = events
        .iter()
        .filter(|e| matches!(e, FineTuneEvent::Progress { .. }))
        .count();
    assert_eq!(progress, 8, "one event per optimiser step of both stages");

    let mut conn = ws.store().conn().await.unwrap();
    let job = jobs::get(&mut conn, outcome.job_id).await.unwrap();
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.progress, 1.0);
    let curve = jobs::metrics(&mut conn, outcome.job_id, Some("sft/loss"))
        .await
        .unwrap();
    assert_eq!(
        curve.iter().map(|p| p.step).collect::<Vec<_>>(),
        vec![1, 2, 3, 4],
        "the SFT loss curve"
    );
    assert_eq!(
        jobs::metrics(&mut conn, outcome.job_id, Some("dpo/loss"))
            .await
            .unwrap()
            .len(),
        4
    );

    // A second version continues from the first.
    let mut child = recipe.clone();
    child.method = Method::Dpo;
    child.parent_version = Some(v.id);
    let second = ws
        .fine_tune(p, &child, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap()
        .version;
    assert_eq!((second.name.as_str(), second.parent_id), ("v2", Some(v.id)));
    assert_eq!(models::list_versions(&mut conn, p).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_fine_tune_resumes_from_its_checkpoint() {
    let (ws, p, model) = setup().await;
    let mut recipe = Recipe::new(Method::Sft, model);
    small(&mut recipe);
    recipe.sft.epochs = 4;
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let err = ws
        .fine_tune(p, &recipe, cancel, move |e| {
            if let FineTuneEvent::Progress { progress, .. } = e {
                if progress.step == 3 {
                    flag.store(true, Ordering::Relaxed);
                }
            }
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "cancelled");
    let mut conn = ws.store().conn().await.unwrap();
    let job = jobs::list(&mut conn, Some(p)).await.unwrap().pop().unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    // While another process runs it (marked running, holding the job's lock), it cannot be
    // resumed again.
    jobs::update(
        &mut conn,
        job.id,
        JobState::Running,
        0.5,
        "running elsewhere",
    )
    .await
    .unwrap();
    let lock_path = ws
        .dir
        .path()
        .join("locks")
        .join(format!("job-{}.lock", job.id));
    let owner = std::fs::File::create(&lock_path).unwrap();
    owner.lock().unwrap();
    let err = ws
        .resume_fine_tune(job.id, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is running"), "{err}");
    // That process killed, its lock is free: the job resumes at once (no heartbeat to wait
    // out), as the rest of this test shows.
    drop(owner);
    drop(conn);
    let mut steps = Vec::new();
    let outcome = ws
        .resume_fine_tune(job.id, Arc::new(AtomicBool::new(false)), |e| {
            if let FineTuneEvent::Progress { progress, .. } = e {
                steps.push(progress.step)
            }
        })
        .await
        .unwrap();
    // The training thread runs ahead of the events, so it stops a step or so after the flag;
    // it resumes right after its last checkpoint (every 2 steps) and runs to the end.
    let first = steps[0];
    assert!(
        first > 1 && (first - 1) % 2 == 0,
        "resumed after a checkpoint, not from scratch: {steps:?}"
    );
    assert_eq!(
        steps,
        (first..=8).collect::<Vec<_>>(),
        "every remaining step, once"
    );
    assert_eq!(outcome.job_id, job.id);
    let err = ws
        .resume_fine_tune(job.id, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, CoreError::Invalid { .. }),
        "a finished job cannot be resumed: {err}"
    );
}

#[tokio::test]
async fn a_recipe_without_a_model_folder_is_refused_before_anything_is_frozen() {
    let ws = open().await;
    let p = project(&ws, "x").await;
    let err = ws
        .fine_tune(
            p,
            &Recipe::new(Method::Auto, "/no/model".into()),
            Arc::new(AtomicBool::new(false)),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CoreError::Invalid { field, .. } if field == "recipe.model_dir"),
        "{err}"
    );
    assert!(
        hone_core::store::snapshots::list(&mut ws.store().conn().await.unwrap(), p)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The stages' rows are checked on the rows the freeze reads, before it writes: a recipe with
/// none is refused with nothing frozen and no job.
#[tokio::test(flavor = "multi_thread")]
async fn a_recipe_whose_stages_have_no_rows_is_refused_before_anything_is_frozen() {
    let ws = open().await;
    let p = project(&ws, "only-pairs").await;
    let (_, r) = prompt_with(&ws, p, "Reset?", &["Open settings.", "No idea."]).await;
    judge(&ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    let model = ws.dir.path().join("tiny-model");
    write_tiny_model(TinyArch::Llama, TinySize::default(), &model, 0).unwrap();
    let err = ws
        .fine_tune(
            p,
            &Recipe::new(Method::Sft, model),
            Arc::new(AtomicBool::new(false)),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CoreError::Invalid { field, message }
            if field == "recipe.method" && message.contains("no rows for sft (1 preference pairs, 0 SFT examples")),
        "{err}"
    );
    let mut conn = ws.store().conn().await.unwrap();
    let snapshots = hone_core::store::snapshots::list(&mut conn, p)
        .await
        .unwrap();
    assert!(snapshots.is_empty(), "{snapshots:?}");
    assert!(jobs::list(&mut conn, Some(p)).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_exports_as_peft_merged_weights_and_trl_data_that_agree() {
    use hone_core::finetune::VersionFormat;
    use hone_core::model::lora::{Adapter, LoraContext};
    use hone_core::model::{DeviceInfo, LoadedModel};

    let (ws, p, model) = setup().await;
    let mut recipe = Recipe::new(Method::Auto, model.clone());
    small(&mut recipe);
    let version = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap()
        .version;

    let peft = ws.dir.path().join("out-peft");
    let files = ws
        .export_version(version.id, VersionFormat::Peft, &peft)
        .await
        .unwrap();
    assert_eq!(files.len(), 2);
    let merged = ws.dir.path().join("out-merged");
    ws.export_version(version.id, VersionFormat::Merged, &merged)
        .await
        .unwrap();
    let trl = ws.dir.path().join("out-trl");
    ws.export_version(version.id, VersionFormat::Trl, &trl)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(trl.join("preference.jsonl"))
            .unwrap()
            .lines()
            .count(),
        4,
        "the version's 4 pairs"
    );
    assert_eq!(
        std::fs::read_to_string(trl.join("sft.jsonl"))
            .unwrap()
            .lines()
            .count(),
        4,
        "and its 4 demonstrations"
    );

    let base = LoadedModel::load(&model, DeviceInfo::cpu("test")).unwrap();
    let adapter =
        Adapter::load_peft("v1", &peft, &base.model.linear_specs(), base.model.device()).unwrap();
    let folded = LoadedModel::load(&merged, DeviceInfo::cpu("test")).unwrap();
    let ids = candle_core::Tensor::new(&[[0u32, 5, 9, 33, 120, 7]], base.model.device()).unwrap();
    let with_adapter = base
        .model
        .forward(&ids, &LoraContext::inference(Some(&adapter)))
        .unwrap();
    let plain = base.model.forward(&ids, &LoraContext::default()).unwrap();
    let merged_logits = folded.model.forward(&ids, &LoraContext::default()).unwrap();
    let diff = |a: &candle_core::Tensor, b: &candle_core::Tensor| {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    assert!(
        diff(&with_adapter, &plain) > 1e-4,
        "the trained adapter changes the model"
    );
    assert!(
        diff(&with_adapter, &merged_logits) < 1e-4,
        "merged weights = base + adapter"
    );

    // A damaged adapter is noticed before it is exported.
    let stored = ws
        .dir
        .path()
        .join(version.adapter_dir.as_ref().unwrap())
        .join("adapter_config.json");
    std::fs::write(&stored, b"{}").unwrap();
    let err = ws
        .export_version(
            version.id,
            VersionFormat::Peft,
            &ws.dir.path().join("again"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");
}

#[tokio::test]
async fn a_method_without_data_is_refused_before_a_snapshot_or_job_is_made() {
    let (ws, p, model) = setup().await;
    let err = ws
        .fine_tune(
            p,
            &Recipe::new(Method::Kto, model),
            Arc::new(AtomicBool::new(false)),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CoreError::Invalid { field, .. } if field == "recipe.method"),
        "{err}"
    );
    let mut conn = ws.store().conn().await.unwrap();
    assert!(
        jobs::list(&mut conn, Some(p)).await.unwrap().is_empty(),
        "no job was created"
    );
    assert!(
        hone_core::store::snapshots::list(&mut conn, p)
            .await
            .unwrap()
            .is_empty(),
        "no snapshot was frozen"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reward_model_version_then_ppo_against_it() {
    let (ws, p, model) = setup().await;
    let mut rm = Recipe::new(Method::RewardModel, model.clone());
    small(&mut rm);
    let rm_version = ws
        .fine_tune(p, &rm, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap()
        .version;
    assert_eq!(rm_version.method, "rm");
    let files: Vec<&str> = rm_version.files.iter().map(|f| f.path.as_str()).collect();
    assert!(
        files.contains(&"score.safetensors"),
        "the score head is a file of the version: {files:?}"
    );
    assert!(
        rm_version.metrics.get("rm/accuracy").is_some(),
        "{}",
        rm_version.metrics
    );

    let mut ppo = Recipe::new(Method::Ppo, model.clone());
    small(&mut ppo);
    let err = ws
        .fine_tune(p, &ppo, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CoreError::Invalid { field, .. } if field == "recipe.reward_model"),
        "{err}"
    );

    ppo.reward_model = Some(rm_version.id);
    ppo.ppo_iterations = 3;
    ppo.ppo_batch_size = 2;
    ppo.ppo.max_new_tokens = 6;
    let mut iterations = 0;
    let outcome = ws
        .fine_tune(p, &ppo, Arc::new(AtomicBool::new(false)), |e| {
            if matches!(e, FineTuneEvent::Progress { .. }) {
                iterations += 1
            }
        })
        .await
        .unwrap();
    assert_eq!(iterations, 3, "one progress event per PPO iteration");
    // The prompts PPO samples from are frozen with the job, so a resume sees the same ones.
    let job = jobs::get(&mut ws.store().conn().await.unwrap(), outcome.job_id)
        .await
        .unwrap();
    let train: Vec<hone_core::PromptId> = ws
        .list_prompts(p, Some(hone_core::Split::Train))
        .await
        .unwrap()
        .iter()
        .map(|q| q.id)
        .collect();
    assert_eq!(job.params["prompt_ids"], serde_json::json!(train));
    // The reward model's folder holds its own files only (PPO checkpoints live in the job).
    let rm_dir = ws.dir.path().join(rm_version.adapter_dir.as_ref().unwrap());
    let mut on_disk: Vec<String> = std::fs::read_dir(&rm_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = rm_version.files.iter().map(|f| f.path.clone()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "nothing was written beside the reward model"
    );
    // A second PPO job against the same reward model trains from the start, not from the first's checkpoints.
    let mut again = 0;
    ws.fine_tune(p, &ppo, Arc::new(AtomicBool::new(false)), |e| {
        if matches!(e, FineTuneEvent::Progress { .. }) {
            again += 1
        }
    })
    .await
    .unwrap();
    assert_eq!(again, 3, "all three iterations run again");
    let v = outcome.version;
    assert_eq!(v.method, "ppo");
    for key in [
        "ppo/score",
        "ppo/kl",
        "ppo/loss/policy",
        "ppo/loss/value",
        "ppo/clipfrac",
        "ppo/entropy",
    ] {
        assert!(
            v.metrics.get(key).is_some(),
            "PPO reports {key}: {}",
            v.metrics
        );
    }

    // "Retrain without" has nothing to leave out of a PPO version's data: refused with the way.
    let refused = ws
        .retrain_without(
            v.id,
            &hone_core::retrain::Exclusions {
                annotators: vec!["alice".into()],
                ..Default::default()
            },
            None,
            Arc::new(AtomicBool::new(false)),
            |_| {},
        )
        .await;
    crate::assert_invalid(refused, "version");

    // A version that is not a reward model cannot serve as one.
    let mut wrong = ppo.clone();
    wrong.reward_model = Some(v.id);
    let err = ws
        .fine_tune(p, &wrong, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not as a reward model"), "{err}");
}

/// Held-out pairs and demonstrations next to the train ones of `setup`.
async fn add_held_out(ws: &Ws, p: ProjectId) {
    for i in 0..4 {
        let (prompt, r) = prompt_with(
            ws,
            p,
            &format!("Where do I reset my password {i}?"),
            &["Open settings.", "No idea."],
        )
        .await;
        ws.set_prompt_split(prompt, hone_core::Split::Heldout)
            .await
            .unwrap();
        judge(ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
        judge(
            ws,
            p,
            "alice",
            FeedbackKind::Demonstration {
                prompt_id: prompt,
                text: format!("Open settings, then account {i}."),
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn evaluation_measures_a_version_and_promotion_refuses_a_regression_unless_forced() {
    let (ws, p, model) = setup().await;
    add_held_out(&ws, p).await;
    let mut recipe = Recipe::new(Method::Dpo, model.clone());
    small(&mut recipe);
    recipe.preference.learning_rate = 5e-3;
    recipe.preference.epochs = 4;
    let mut events = Vec::new();
    let outcome = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |e| {
            events.push(e.clone())
        })
        .await
        .unwrap();
    let v1 = outcome.version;
    // Evaluated automatically right after training, and stored with the version.
    assert!(
        matches!(events.last(), Some(FineTuneEvent::Evaluating { version_id }) if *version_id == v1.id),
        "{:?}",
        events.last()
    );
    let automatic = outcome
        .evaluation
        .expect("a new version is evaluated automatically");
    assert_eq!(
        v1.metrics["eval/preference_accuracy"].as_f64(),
        automatic.preference_accuracy.and_then(|h| h.win_rate())
    );

    let e1 = ws.evaluate_version(v1.id).await.unwrap();
    assert_eq!(
        e1.preference_accuracy, automatic.preference_accuracy,
        "the same measure when run again"
    );
    assert_eq!(e1.against, "base");
    assert_eq!(e1.held_out_prompts, 4);
    let acc = e1.preference_accuracy.expect("held-out pairs are scored");
    assert_eq!(
        acc.wins + acc.ties + acc.losses,
        4,
        "one verdict per held-out pair"
    );
    assert!(
        acc.win_rate().unwrap() >= 0.75,
        "v1 learned to prefer the chosen answers: {acc:?}"
    );
    assert_eq!(
        e1.completion_loss.unwrap().n,
        4,
        "the held-out demonstrations are scored"
    );
    // The k1 estimate (log-ratio averaged over v1's own sampled answers): non-zero when the
    // adapter moved the model, bounded, and, over a handful of samples, of either sign.
    let kl = e1.kl_to_base.unwrap();
    assert!(
        kl != 0.0 && kl.abs() < 50.0,
        "v1's adapter moved the model from the base, by a bounded amount: {kl}"
    );
    let stored = models::get_version(&mut ws.store().conn().await.unwrap(), v1.id)
        .await
        .unwrap();
    assert_eq!(
        stored.metrics["eval/preference_accuracy"].as_f64(),
        acc.win_rate(),
        "the evaluation is stored with the version"
    );

    // The same annotator reverses every train verdict (the latest vote counts): v2, trained from
    // v1 on that, ranks the held-out pairs the wrong way round.
    let train: Vec<hone_core::PromptId> = ws
        .list_prompts(p, Some(hone_core::Split::Train))
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    let pairs: Vec<(hone_core::ResponseId, hone_core::ResponseId)> = {
        let mut conn = ws.store().conn().await.unwrap();
        hone_core::store::judgments::list(&mut conn, p, Some(hone_core::JudgmentKind::Comparison))
            .await
            .unwrap()
            .into_iter()
            .filter_map(|j| match j.body {
                hone_core::store::judgments::JudgmentBody::Comparison {
                    response_a,
                    response_b,
                    ..
                } => Some((j.prompt_id, response_a, response_b)),
                _ => None,
            })
            .filter(|(prompt, _, _)| train.contains(prompt))
            .map(|(_, a, b)| (a, b))
            .collect()
    };
    for (a, b) in pairs {
        judge(&ws, p, "alice", compare(a, b, Choice::B)).await;
    }
    let mut flipped = recipe.clone();
    flipped.parent_version = Some(v1.id);
    let v2 = ws
        .fine_tune(p, &flipped, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap()
        .version;

    let refused = ws.promote_version(v2.id, false).await.unwrap();
    assert!(
        !refused.promoted,
        "a regressing version is not promoted without force"
    );
    assert!(
        refused
            .regressions
            .iter()
            .any(|r| r.contains("preference accuracy")),
        "{:?}",
        refused.regressions
    );
    let project = ws.find_project("support").await.unwrap();
    assert_eq!(project.promoted_version_id, None);
    let forced = ws.promote_version(v2.id, true).await.unwrap();
    assert!(forced.promoted);
    assert_eq!(
        ws.find_project("support")
            .await
            .unwrap()
            .promoted_version_id,
        Some(v2.id)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retrain_without_an_annotator_leaves_out_exactly_their_judgments() {
    let (ws, p, model) = setup().await;
    // bob adds comparisons on two more prompts, one tagged "legal".
    let (_, r1) = prompt_with(
        &ws,
        p,
        "How do I close my account?",
        &["Settings, then Close.", "Call us."],
    )
    .await;
    let bob_1 = judge(&ws, p, "bob", compare(r1[0], r1[1], Choice::A)).await;
    let mut tagged = hone_core::store::prompts::NewPrompt::text("Can I get a refund?");
    tagged.tags = vec!["legal".into()];
    let prompt = ws.add_prompt(p, &tagged).await.unwrap();
    let a = ws
        .add_response(&hone_core::store::responses::NewResponse::new(
            prompt.id,
            "Yes, within 30 days.",
            hone_core::ResponseSource::Human,
        ))
        .await
        .unwrap();
    let b = ws
        .add_response(&hone_core::store::responses::NewResponse::new(
            prompt.id,
            "No.",
            hone_core::ResponseSource::Human,
        ))
        .await
        .unwrap();
    let alice_legal = judge(&ws, p, "alice", compare(a.id, b.id, Choice::A)).await;

    let mut recipe = Recipe::new(Method::Dpo, model.clone());
    small(&mut recipe);
    let v1 = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap()
        .version;
    let snapshot_of = |v: &hone_core::store::models::ModelVersion| v.snapshot_id.unwrap();
    let v1_ids =
        hone_core::store::snapshots::get(&mut ws.store().conn().await.unwrap(), snapshot_of(&v1))
            .await
            .unwrap()
            .judgment_ids;
    assert!(v1_ids.contains(&bob_1) && v1_ids.contains(&alice_legal));

    let exclusions = hone_core::retrain::Exclusions {
        annotators: vec!["bob".into()],
        tags: vec!["legal".into()],
        ..Default::default()
    };
    let v2 = ws
        .retrain_without(
            v1.id,
            &exclusions,
            None,
            Arc::new(AtomicBool::new(false)),
            |_| {},
        )
        .await
        .unwrap()
        .version;
    assert_eq!(v2.name, format!("{}-without", v1.name));
    assert_eq!(
        (v2.parent_id, v2.method.as_str()),
        (v1.parent_id, v1.method.as_str()),
        "same parent, same method"
    );
    let v2_ids =
        hone_core::store::snapshots::get(&mut ws.store().conn().await.unwrap(), snapshot_of(&v2))
            .await
            .unwrap()
            .judgment_ids;
    let expected: Vec<hone_core::JudgmentId> = v1_ids
        .iter()
        .copied()
        .filter(|id| *id != bob_1 && *id != alice_legal)
        .collect();
    assert_eq!(
        v2_ids, expected,
        "exactly bob's and the tagged prompt's judgments are left out"
    );

    // A time range: everything judged from the start of time is out, so nothing is left to train on.
    let everything = hone_core::retrain::Exclusions {
        from: Some("2000-01-01".into()),
        ..Default::default()
    };
    assert!(matches!(
        ws.retrain_without(
            v1.id,
            &everything,
            Some("empty".into()),
            Arc::new(AtomicBool::new(false)),
            |_| {}
        )
        .await,
        Err(CoreError::Invalid { .. })
    ));
    let bad = hone_core::retrain::Exclusions {
        until: Some("yesterday".into()),
        ..Default::default()
    };
    crate::assert_invalid(
        ws.retrain_without(v1.id, &bad, None, Arc::new(AtomicBool::new(false)), |_| {})
            .await,
        "exclude_until",
    );
    crate::assert_invalid(
        ws.retrain_without(
            v1.id,
            &Default::default(),
            None,
            Arc::new(AtomicBool::new(false)),
            |_| {},
        )
        .await,
        "exclusions",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reward_model_suggests_and_the_judgment_records_that_it_was_shown() {
    let (ws, p, model) = setup().await;
    let (_, r) = prompt_with(
        &ws,
        p,
        "How do I reset password 9?",
        &["Open settings.", "No idea."],
    )
    .await;
    assert!(
        matches!(ws.suggestion(p, &r).await, Err(CoreError::Invalid { .. })),
        "no reward model yet"
    );
    let mut recipe = Recipe::new(Method::RewardModel, model);
    small(&mut recipe);
    recipe.preference.learning_rate = 5e-3;
    let rm = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap()
        .version;

    let s = ws.suggestion(p, &r).await.unwrap();
    assert_eq!(
        (s.reward_model, s.source.as_str()),
        (Some(rm.id), rm.name.as_str())
    );
    assert_eq!(s.scores.len(), 2);
    let best = if s.scores[0] >= s.scores[1] {
        r[0]
    } else {
        r[1]
    };
    assert_eq!(
        s.preferred, best,
        "the preferred response is the best-scored one"
    );
    assert_eq!(
        s.scores,
        ws.score_responses(rm.id, &r).await.unwrap(),
        "the same scores as the reward model gives"
    );

    let mut seen = crate::input(p, "alice", compare(r[0], r[1], Choice::A));
    seen.suggested_response_id = Some(s.preferred);
    crate::assert_invalid(ws.record_feedback(&seen).await, "suggested_response_id");
    seen.suggestion_visible = true;
    seen.suggested_response_id = Some(hone_core::ResponseId(9999));
    crate::assert_invalid(ws.record_feedback(&seen).await, "suggested_response_id");
    seen.suggested_response_id = Some(s.preferred);
    let id = crate::record(&ws, &seen).await.judgment_id;
    let stored = crate::stored_judgment(&ws, id).await;
    assert!(
        stored.suggestion_visible,
        "the judgment records that a suggestion was shown"
    );
    assert_eq!(
        stored.suggested_response_id,
        Some(s.preferred),
        "and which answer it preferred"
    );
    let hidden = judge(&ws, p, "bob", compare(r[0], r[1], Choice::A)).await;
    assert!(!crate::stored_judgment(&ws, hidden).await.suggestion_visible);

    // The suggestion's pull: alice chose r[0] with it shown, and "Open settings." over "No
    // idea." on the four setup prompts with it hidden; whether that went the reward model's
    // way is its scores' order.
    let report = ws.annotator_report(p).await.unwrap();
    assert_eq!(report.reward_model.as_deref(), Some(rm.name.as_str()));
    let mut hidden_agree = 0;
    for prompt in ws
        .list_prompts(p, None)
        .await
        .unwrap()
        .iter()
        .filter(|q| q.text.starts_with("How do I reset password") && !q.text.ends_with("9?"))
    {
        let answers: Vec<hone_core::ResponseId> = ws
            .prompt_with_responses(prompt.id)
            .await
            .unwrap()
            .responses
            .iter()
            .map(|x| x.id)
            .collect();
        let s = ws.score_responses(rm.id, &answers).await.unwrap();
        hidden_agree += usize::from(s[0] > s[1]);
    }
    let alice = report
        .annotators
        .iter()
        .find(|a| a.name == "alice")
        .unwrap()
        .suggestion;
    assert_eq!(
        (alice.shown, alice.shown_agree),
        (1, usize::from(s.preferred == r[0])),
        "against the answer the suggestion on screen preferred"
    );
    assert_eq!((alice.hidden, alice.hidden_agree), (4, hidden_agree));
    let bob = report
        .annotators
        .iter()
        .find(|a| a.name == "bob")
        .unwrap()
        .suggestion;
    assert_eq!(
        (bob.shown, bob.hidden, bob.hidden_agree),
        (0, 1, usize::from(s.scores[0] > s.scores[1]))
    );
    assert_eq!(
        (
            report.group.suggestion.shown,
            report.group.suggestion.hidden
        ),
        (1, 5)
    );
}

/// With a reward model and the least-sure order, the queue offers the pair whose scores are
/// closest, then the next closest; a rating goes to the answer nearest the median score.
#[tokio::test(flavor = "multi_thread")]
async fn the_least_sure_order_picks_the_smallest_margin_first() {
    let (ws, p, model) = setup().await;
    let mut recipe = Recipe::new(Method::RewardModel, model.clone());
    small(&mut recipe);
    recipe.preference.learning_rate = 5e-3;
    let rm = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap()
        .version;
    let answers = crate::count_rows(&ws, "responses").await;
    assert_eq!(
        crate::count_rows(&ws, "reward_scores").await,
        answers,
        "a new reward model scores the project's answers ahead of the queue"
    );
    assert_eq!(ws.prescore(p).await.unwrap(), 0, "nothing left to score");
    let (_, r) = prompt_with(
        &ws,
        p,
        "Where is my invoice?",
        &[
            "In billing.",
            "Ask finance.",
            "Nowhere.",
            "Billing, then invoices.",
        ],
    )
    .await;
    crate::queue::set_queue(&ws, p, hone_core::QueueOrder::LeastSure, 0.0).await;

    // Every pair of answers to one prompt that nobody has compared yet (overlap 1), with its margin.
    let judged: Vec<Vec<hone_core::ResponseId>> = hone_core::store::judgments::list(
        &mut ws.store().conn().await.unwrap(),
        p,
        Some(hone_core::JudgmentKind::Comparison),
    )
    .await
    .unwrap()
    .iter()
    .map(|j| {
        let mut ids = j.body.response_ids();
        ids.sort_unstable();
        ids
    })
    .collect();
    let mut pairs: Vec<(f64, Vec<hone_core::ResponseId>)> = Vec::new();
    for prompt in ws.list_prompts(p, None).await.unwrap() {
        let answers: Vec<hone_core::ResponseId> = ws
            .prompt_with_responses(prompt.id)
            .await
            .unwrap()
            .responses
            .iter()
            .map(|x| x.id)
            .collect();
        let scores = ws.score_responses(rm.id, &answers).await.unwrap();
        for i in 0..answers.len() {
            for j in i + 1..answers.len() {
                let pair = vec![answers[i].min(answers[j]), answers[i].max(answers[j])];
                if !judged.contains(&pair) {
                    pairs.push(((scores[i] - scores[j]).abs(), pair));
                }
            }
        }
    }
    assert!(
        pairs.len() > 6,
        "the new prompt's six pairs and the setup's answers against their demonstrations"
    );
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(r
        .iter()
        .all(|id| pairs.iter().any(|(_, pair)| pair.contains(id))));
    for (margin, pair) in pairs.iter().take(2) {
        let item = ws
            .next_item(p, "bob", hone_core::JudgmentKind::Comparison)
            .await
            .unwrap()
            .unwrap();
        let mut got: Vec<hone_core::ResponseId> = item.responses.iter().map(|x| x.id).collect();
        got.sort_unstable();
        assert_eq!(&got, pair, "the smallest margin left is {margin}");
        assert_eq!(item.reason, format!("the reward model {} is least sure here: the two answers' scores differ by {margin:.3}", rm.name));
        judge(&ws, p, "bob", compare(got[0], got[1], Choice::A)).await;
    }

    // Ratings: every answer of the project is open; the one nearest the median score first.
    let all: Vec<hone_core::PromptId> = ws
        .list_prompts(p, None)
        .await
        .unwrap()
        .iter()
        .map(|q| q.id)
        .collect();
    let mut ids = Vec::new();
    for prompt in all {
        ids.extend(
            ws.prompt_with_responses(prompt)
                .await
                .unwrap()
                .responses
                .iter()
                .map(|x| x.id),
        );
    }
    let s = ws.score_responses(rm.id, &ids).await.unwrap();
    let mut sorted = s.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0;
    let nearest = (0..ids.len())
        .min_by(|&a, &b| (s[a] - median).abs().total_cmp(&(s[b] - median).abs()))
        .unwrap();
    let item = ws
        .next_item(p, "bob", hone_core::JudgmentKind::Rating)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        item.responses[0].id,
        ids[nearest],
        "{} answers, an even number: the median is the mean of the middle two",
        ids.len()
    );

    // New candidates are scored as they are generated.
    let (fresh, _) = prompt_with(&ws, p, "How do I export my notes?", &[]).await;
    let sampling = hone_core::model::sampling::SamplingParams {
        max_new_tokens: 4,
        seed: 3,
        ..Default::default()
    };
    let request = hone_core::generation::GenerationRequest {
        model: hone_core::inference::ModelRef::Base { dir: model },
        prompt_ids: vec![fresh],
        n: 2,
        sampling,
    };
    let made = ws.generate_candidates(&request, |_, _| {}).await.unwrap();
    assert!(!made[0].responses.is_empty());
    assert_eq!(
        crate::count_rows(&ws, "reward_scores").await,
        crate::count_rows(&ws, "responses").await,
        "every answer has its score"
    );
}

/// A judge model's suggestion is the probability of each answer's letter as its reply to the
/// judge prompt: the same log-probs the engine gives for that prompt and reply.
#[tokio::test(flavor = "multi_thread")]
async fn a_judge_model_suggests_by_the_probability_of_each_answers_letter() {
    let (ws, p, model) = setup().await;
    ws.set_guidelines(p, "Correct first, then polite.")
        .await
        .unwrap();
    let (prompt, r) = prompt_with(
        &ws,
        p,
        "Where is my invoice?",
        &["In billing.", "Ask finance.", "Nowhere."],
    )
    .await;
    let judge = hone_core::inference::ModelRef::Base { dir: model.clone() };
    let s = ws.judge_suggestion(p, &r, &judge).await.unwrap();
    assert_eq!(
        (s.reward_model, s.source.as_str()),
        (None, "judge tiny-model")
    );
    assert!(
        (s.scores.iter().sum::<f64>() - 1.0).abs() < 1e-9,
        "probabilities over the letters: {:?}",
        s.scores
    );

    // The same numbers from the engine directly.
    let lm = hone_core::model::LoadedModel::load(
        &model,
        hone_core::model::device::DeviceInfo::cpu("test"),
    )
    .unwrap();
    let stored = ws.prompt_with_responses(prompt).await.unwrap().prompt;
    // Asked with the answers in order and reversed; each answer's two letter probabilities averaged.
    let letters = |answers: &[&str]| -> Vec<f64> {
        let text = hone_core::suggestion::judge_prompt(
            "",
            Some("Correct first, then polite."),
            "Where is my invoice?",
            answers,
        );
        let question = hone_core::store::prompts::Prompt {
            text,
            ..stored.clone()
        };
        let pairs: Vec<_> = ["A", "B", "C"]
            .iter()
            .map(|l| hone_core::inference::encode_answer(&lm, &question, l).unwrap())
            .collect();
        let logprobs: Vec<f64> = hone_core::model::score::score(&lm, None, &pairs)
            .unwrap()
            .iter()
            .map(|x| f64::from(x.sum))
            .collect();
        hone_core::suggestion::softmax(&logprobs)
    };
    let (forward, backward) = (
        letters(&["In billing.", "Ask finance.", "Nowhere."]),
        letters(&["Nowhere.", "Ask finance.", "In billing."]),
    );
    let expected: Vec<f64> = (0..3)
        .map(|i| (forward[i] + backward[2 - i]) / 2.0)
        .collect();
    assert!(
        forward
            .iter()
            .zip(&expected)
            .any(|(f, e)| (f - e).abs() > 1e-6),
        "the reversed order changes the numbers: {forward:?}"
    );
    for (got, want) in s.scores.iter().zip(&expected) {
        assert!((got - want).abs() < 1e-6, "{:?} vs {expected:?}", s.scores);
    }
    let argmax = (0..3).fold(0, |b, i| if expected[i] > expected[b] { i } else { b });
    assert_eq!(s.preferred, r[argmax]);

    let (_, other) = prompt_with(&ws, p, "Another?", &["Yes."]).await;
    crate::assert_invalid(
        ws.judge_suggestion(p, &[r[0], other[0]], &judge).await,
        "response_ids",
    );
    let nowhere = hone_core::inference::ModelRef::Base {
        dir: ws.dir.path().join("no-such-model"),
    };
    crate::assert_invalid(ws.judge_suggestion(p, &r, &nowhere).await, "model.dir");
}

/// A stage records its wall time and tokens; the next plan on the same model takes its times
/// from them instead of the FLOP-count guess.
#[tokio::test(flavor = "multi_thread")]
async fn plans_take_their_times_from_this_machines_last_run_of_the_model() {
    let (ws, p, model) = setup().await;
    let mut recipe = Recipe::new(Method::Sft, model.clone());
    small(&mut recipe);
    recipe.evaluate = false;
    let guessed = ws.plan_fine_tune(p, &recipe).await.unwrap();
    assert!(
        guessed
            .notes
            .iter()
            .all(|n| !n.contains("this machine's last run")),
        "{:?}",
        guessed.notes
    );
    let v1 = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap()
        .version;
    let seconds = v1.metrics["sft/train_seconds"].as_f64().unwrap();
    let tokens = v1.metrics["sft/train_tokens"].as_f64().unwrap();
    assert!(seconds > 0.0);
    assert_eq!(
        tokens, guessed.stages[0].tokens as f64,
        "the stage's planned tokens"
    );

    let measured = ws.plan_fine_tune(p, &recipe).await.unwrap();
    let expected = measured.stages[0].tokens as f64 / (tokens / seconds);
    assert!(
        (measured.stages[0].estimated_seconds - expected).abs() < 1e-9,
        "{} vs {expected}",
        measured.stages[0].estimated_seconds
    );
    assert!(
        measured
            .notes
            .iter()
            .any(|n| n
                == "times of sft are from this machine's last run of that method on this model"),
        "{:?}",
        measured.notes
    );
    // Another method keeps the guess until it has run here.
    let dpo = ws
        .plan_fine_tune(
            p,
            &Recipe {
                method: Method::Dpo,
                ..recipe.clone()
            },
        )
        .await
        .unwrap();
    assert!(
        dpo.notes
            .iter()
            .all(|n| !n.contains("this machine's last run")),
        "{:?}",
        dpo.notes
    );
}

/// Version names are checked before anything is made: taken or unsafe names are refused, the
/// default skips taken ones, and each retrain without gets its own name.
#[tokio::test(flavor = "multi_thread")]
async fn version_names_are_settled_before_training_and_never_reuse_a_folder() {
    let (ws, p, model) = setup().await;
    let mut recipe = Recipe::new(Method::Sft, model.clone());
    small(&mut recipe);
    recipe.evaluate = false;
    recipe.version_name = Some("v2".into());
    let v2 = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap()
        .version;
    let jobs_before = jobs::list(&mut ws.store().conn().await.unwrap(), Some(p))
        .await
        .unwrap()
        .len();
    let err = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CoreError::Duplicate { entity: "version", key } if key == "v2"),
        "{err}"
    );
    for bad in ["../escape", ".hidden", "a/b", ""] {
        recipe.version_name = Some(bad.into());
        crate::assert_invalid(
            ws.fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |_| {})
                .await,
            "recipe.version_name",
        );
    }
    assert_eq!(
        jobs::list(&mut ws.store().conn().await.unwrap(), Some(p))
            .await
            .unwrap()
            .len(),
        jobs_before,
        "no job for a refused name"
    );
    recipe.version_name = None;
    let auto = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap()
        .version;
    assert_eq!(auto.name, "v3", "v2 is taken");
    assert!(ws
        .dir
        .path()
        .join(auto.adapter_dir.unwrap())
        .join("adapter_model.safetensors")
        .is_file());

    let (_, extra) = prompt_with(
        &ws,
        p,
        "How do I log out?",
        &["Menu, then log out.", "Close it."],
    )
    .await;
    judge(&ws, p, "bob", compare(extra[0], extra[1], Choice::A)).await;
    let without = hone_core::retrain::Exclusions {
        annotators: vec!["bob".into()],
        ..Default::default()
    };
    let first = ws
        .retrain_without(
            v2.id,
            &without,
            None,
            Arc::new(AtomicBool::new(false)),
            |_| {},
        )
        .await
        .unwrap()
        .version;
    let second = ws
        .retrain_without(
            v2.id,
            &without,
            None,
            Arc::new(AtomicBool::new(false)),
            |_| {},
        )
        .await
        .unwrap()
        .version;
    assert_eq!(
        (first.name.as_str(), second.name.as_str()),
        ("v2-without", "v2-without-2")
    );
    assert_ne!(first.adapter_dir, second.adapter_dir, "each its own folder");

    // A parent from another project is refused.
    let other = crate::project(&ws, "other").await;
    let (_, r) = prompt_with(&ws, other, "Q?", &["A.", "B."]).await;
    judge(&ws, other, "alice", compare(r[0], r[1], Choice::A)).await;
    let mut foreign = Recipe::new(Method::Dpo, model);
    small(&mut foreign);
    foreign.parent_version = Some(v2.id);
    crate::assert_invalid(
        ws.fine_tune(other, &foreign, Arc::new(AtomicBool::new(false)), |_| {})
            .await,
        "recipe.parent_version",
    );
}
