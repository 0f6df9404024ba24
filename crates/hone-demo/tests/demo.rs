//! The demo end to end at the reduced size (`DemoOptions::quick`, the same code path as
//! `hone demo`), and the starter build's determinism.

use std::sync::atomic::AtomicBool;

use hone_core::inference::ModelRef;
use hone_core::model::lora::{Adapter, LoraContext};
use hone_core::store::{models, snapshots};
use hone_core::{Hone, JudgmentKind};
use hone_demo::demo::{run, DemoEvent, DemoOptions, Stage};
use hone_demo::starter::{build, existing, StarterSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_demo_runs_every_stage_and_v1_beats_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let options = DemoOptions {
        rlhf: true,
        ..DemoOptions::quick()
    };
    let mut events = Vec::new();
    let report = run(dir.path(), &options, |e| events.push(e.clone()))
        .await
        .unwrap();

    let stages: Vec<Stage> = report.stage_seconds.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        stages,
        [
            Stage::Starter,
            Stage::Setup,
            Stage::Candidates,
            Stage::Feedback,
            Stage::FineTune,
            Stage::Rlhf,
            Stage::Evaluate,
            Stage::Export
        ]
    );
    assert!(
        events.iter().any(|e| matches!(e, DemoEvent::Plan { .. })),
        "the auto plan is shown before training"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        DemoEvent::StageProgress {
            stage: Stage::FineTune,
            ..
        }
    )));
    for kind in [
        JudgmentKind::Comparison,
        JudgmentKind::Ranking,
        JudgmentKind::Rating,
        JudgmentKind::Edit,
        JudgmentKind::Span,
    ] {
        assert!(
            report.judgments.get(&kind).copied().unwrap_or(0) > 0,
            "the expert gave no {kind} judgment"
        );
    }

    // v1: lineage, snapshot and metrics are recorded.
    let hone = Hone::open(dir.path()).await.unwrap();
    let mut conn = hone.store().conn().await.unwrap();
    let v1 = models::get_version(&mut conn, report.v1.id).await.unwrap();
    assert_eq!(
        (v1.name.as_str(), v1.method.as_str(), v1.parent_id),
        ("v1", "sft+dpo", None)
    );
    let snapshot = snapshots::get(&mut conn, v1.snapshot_id.expect("v1 has a snapshot"))
        .await
        .unwrap();
    assert_eq!(snapshot.project_id, v1.project_id);
    for metric in ["sft/loss", "dpo/rewards/accuracies", "dpo/rewards/margins"] {
        assert!(
            v1.metrics
                .get(metric)
                .and_then(|v| v.as_f64())
                .is_some_and(f64::is_finite),
            "v1 lacks metric {metric}: {}",
            v1.metrics
        );
    }
    let (rm, (v2, v2_eval)) = (
        report.reward_model.as_ref().unwrap(),
        report.ppo.as_ref().unwrap(),
    );
    assert_eq!(rm.method, "rm");
    assert_eq!(
        (v2.method.as_str(), v2.parent_id),
        ("ppo", Some(v1.id)),
        "PPO continues from v1"
    );
    assert!(report
        .reward_model_accuracy
        .is_some_and(|a| (0.0..=1.0).contains(&a)));
    // The k1 estimate over v2's own answers: non-zero and bounded (its sign varies with few
    // samples).
    assert!(
        v2_eval.kl_to_base != 0.0 && v2_eval.kl_to_base.abs() < 50.0,
        "PPO moved v2 from the base by a bounded amount: {}",
        v2_eval.kl_to_base
    );

    // The exported adapter reloads and gives v1's outputs.
    assert!(report.export_dir.join("adapter_config.json").is_file());
    let loaded = hone
        .resolve_model(&ModelRef::Version { id: v1.id })
        .await
        .unwrap()
        .load()
        .unwrap();
    let exported = Adapter::load_peft(
        "exported",
        &report.export_dir,
        &loaded.lm.model.linear_specs(),
        loaded.lm.model.device(),
    )
    .unwrap();
    let ids = loaded
        .lm
        .tokenizer
        .encode(
            "<|im_start|>user\nHow do I reset my password?<|im_end|>\n<|im_start|>assistant\n",
            false,
        )
        .unwrap();
    let input = candle_core::Tensor::new(ids.as_slice(), loaded.lm.model.device())
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let logits = |adapter: &Adapter| {
        loaded
            .lm
            .model
            .forward(&input, &LoraContext::inference(Some(adapter)))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    let (a, b) = (logits(loaded.adapter.as_ref().unwrap()), logits(&exported));
    let base = loaded
        .lm
        .model
        .forward(&input, &LoraContext::default())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(a, b, "the exported adapter gives exactly v1's logits");
    assert_ne!(a, base, "and v1 is not the base model");

    // The feedback made the model better on prompts it never trained on.
    let e = &report.v1_eval;
    assert_eq!(
        e.versus_base.wins + e.versus_base.ties + e.versus_base.losses,
        report.held_out_prompts * options.eval_samples
    );
    assert!(
        e.win_rate.unwrap() > 0.5,
        "v1 must beat the base on held-out prompts: {:?}",
        e.versus_base
    );
    assert!(e.version_quality.perfect > e.base_quality.perfect);
    hone.close().await;
}

#[test]
fn the_starter_build_is_deterministic_and_reused() {
    let spec = StarterSpec::tiny();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = build(&a.path().join("m"), &spec, &AtomicBool::new(false), |_| {}).unwrap();
    let second = build(&b.path().join("m"), &spec, &AtomicBool::new(false), |_| {}).unwrap();
    assert_eq!(first.sha256, second.sha256, "same spec, same bytes");
    assert!(
        first.sha256.contains_key("model.safetensors")
            && first.sha256.contains_key("tokenizer.json")
    );
    assert!(
        !a.path().join("m.partial").exists(),
        "the build folder is renamed into place"
    );
    assert_eq!(existing(&a.path().join("m"), &spec).unwrap(), first);
    let other = StarterSpec {
        seed: 8,
        ..spec.clone()
    };
    assert!(
        existing(&a.path().join("m"), &other).is_none(),
        "a build of another spec is not reused"
    );
    let third = build(&b.path().join("n"), &other, &AtomicBool::new(false), |_| {}).unwrap();
    assert_ne!(
        third.sha256["model.safetensors"],
        first.sha256["model.safetensors"]
    );
    // The folder is a normal model folder with a chat template.
    let lm = hone_core::model::LoadedModel::load(
        &a.path().join("m"),
        hone_core::model::DeviceInfo::cpu("test"),
    )
    .unwrap();
    assert!(lm.chat_template.is_some());
}
