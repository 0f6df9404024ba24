use hone_store::models::{self, NewBaseModel, NewModelVersion, VersionFile};
use hone_store::projects::{self, NewProject};
use hone_store::{jobs, snapshots, BaseModelId, Conn, JobId, ProjectId, SnapshotId, VersionId};
use serde_json::json;
use sqlx::error::ErrorKind;

use crate::{assert_constraint, assert_duplicate, assert_not_found, count_rows, open_store};

fn base(name: &str) -> NewBaseModel {
    NewBaseModel {
        name: name.into(),
        location: format!("/models/{name}"),
        architecture: "Qwen2ForCausalLM".into(),
        sha256: Some("ab".repeat(32)),
        config: json!({"hidden_size": 896, "num_hidden_layers": 24, "torch_dtype": "bfloat16"}),
    }
}

fn file(path: &str, bytes: i64) -> VersionFile {
    VersionFile {
        path: path.into(),
        sha256: format!("{:0>64}", bytes),
        bytes,
    }
}

fn version(project_id: ProjectId, base_model_id: BaseModelId, name: &str) -> NewModelVersion {
    NewModelVersion {
        project_id,
        name: name.into(),
        parent_id: None,
        base_model_id,
        method: "sft".into(),
        hyperparams: json!({}),
        snapshot_id: None,
        metrics: json!({}),
        adapter_dir: None,
        job_id: None,
        files: vec![],
    }
}

async fn project_and_base(conn: &mut Conn) -> (ProjectId, BaseModelId) {
    let p = projects::create(conn, &NewProject::named("p"))
        .await
        .unwrap();
    let b = models::insert_base(conn, &base("qwen-0.5b")).await.unwrap();
    (p.id, b.id)
}

#[tokio::test]
async fn base_models_round_trip() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let new = base("qwen-0.5b");
    let b = models::insert_base(&mut conn, &new).await.unwrap();
    assert_eq!(
        (&b.name, &b.location, &b.architecture, &b.sha256, &b.config),
        (
            &new.name,
            &new.location,
            &new.architecture,
            &new.sha256,
            &new.config
        ),
        "base model fields as written"
    );
    assert_eq!(
        models::get_base(&mut conn, b.id).await.unwrap(),
        b,
        "get_base returns what insert_base returned"
    );

    let hub = models::insert_base(
        &mut conn,
        &NewBaseModel {
            name: "smol".into(),
            location: "HuggingFaceTB/SmolLM2-135M".into(),
            architecture: String::new(),
            sha256: None,
            config: json!({}),
        },
    )
    .await
    .unwrap();
    assert_eq!(hub.sha256, None, "no hash stays None");
    assert_eq!(
        models::list_bases(&mut conn).await.unwrap(),
        vec![b, hub],
        "list_bases in insertion order"
    );
}

#[tokio::test]
async fn base_model_names_are_unique_and_missing_ids_not_found() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    models::insert_base(&mut conn, &base("dup")).await.unwrap();
    let err = models::insert_base(
        &mut conn,
        &NewBaseModel {
            location: "elsewhere".into(),
            ..base("dup")
        },
    )
    .await
    .unwrap_err();
    assert_duplicate(err, "base model", "dup");
    assert_eq!(
        models::list_bases(&mut conn).await.unwrap().len(),
        1,
        "the duplicate is not stored"
    );
    assert_not_found(
        models::get_base(&mut conn, BaseModelId(50))
            .await
            .unwrap_err(),
        "base model",
        "50",
    );
}

#[tokio::test]
async fn versions_round_trip_with_files_parent_snapshot_and_job() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let (p, b) = project_and_base(&mut conn).await;
    let snapshot = snapshots::insert(&mut conn, p, &[], "h", &json!({}))
        .await
        .unwrap();
    let job = jobs::create(&mut conn, Some(p), "train", &json!({}))
        .await
        .unwrap();

    let v1_new = NewModelVersion {
        hyperparams: json!({"lr": 2e-4, "epochs": 3, "lora_r": 16}),
        snapshot_id: Some(snapshot.id),
        metrics: json!({"train_loss": 0.42}),
        adapter_dir: Some("versions/v1".into()),
        job_id: Some(job.id),
        // not sorted by path on purpose
        files: vec![
            file("adapter_model.safetensors", 8_388_608),
            file("README.md", 12),
            file("adapter_config.json", 700),
        ],
        ..version(p, b, "v1")
    };
    let v1 = models::insert_version(&mut conn, &v1_new).await.unwrap();
    assert_eq!(
        (v1.project_id, v1.base_model_id, v1.parent_id),
        (p, b, None),
        "owners of v1"
    );
    assert_eq!(
        (v1.name.as_str(), v1.method.as_str()),
        ("v1", "sft"),
        "name and method"
    );
    assert_eq!(
        v1.hyperparams, v1_new.hyperparams,
        "hyperparameters round-trip"
    );
    assert_eq!(v1.metrics, v1_new.metrics, "metrics round-trip");
    assert_eq!(
        (v1.snapshot_id, v1.job_id),
        (Some(snapshot.id), Some(job.id)),
        "snapshot and job links"
    );
    assert_eq!(
        v1.adapter_dir.as_deref(),
        Some("versions/v1"),
        "adapter folder"
    );
    let mut sorted = v1_new.files.clone();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(v1.files, sorted, "files come back complete, sorted by path");
    assert_eq!(
        models::get_version(&mut conn, v1.id).await.unwrap(),
        v1,
        "get_version returns what insert_version returned"
    );

    let v2 = models::insert_version(
        &mut conn,
        &NewModelVersion {
            parent_id: Some(v1.id),
            method: "dpo".into(),
            ..version(p, b, "v2")
        },
    )
    .await
    .unwrap();
    assert_eq!(v2.parent_id, Some(v1.id), "v2 is trained on top of v1");
    assert!(v2.files.is_empty(), "no files given, none stored");
}

#[tokio::test]
async fn list_versions_is_per_project_in_insertion_order() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let (p, b) = project_and_base(&mut conn).await;
    let q = projects::create(&mut conn, &NewProject::named("q"))
        .await
        .unwrap()
        .id;
    let mut expected = Vec::new();
    for name in ["second-best", "alpha", "zeta"] {
        expected.push(
            models::insert_version(
                &mut conn,
                &NewModelVersion {
                    files: vec![file(&format!("{name}.bin"), 1)],
                    ..version(p, b, name)
                },
            )
            .await
            .unwrap(),
        );
    }
    // The same name in another project is allowed.
    let other = models::insert_version(&mut conn, &version(q, b, "alpha"))
        .await
        .unwrap();
    assert_eq!(
        models::list_versions(&mut conn, p).await.unwrap(),
        expected,
        "the project's versions with their files, by id"
    );
    assert_eq!(
        models::list_versions(&mut conn, q).await.unwrap(),
        vec![other],
        "the other project's only"
    );
}

#[tokio::test]
async fn version_names_are_unique_per_project_and_inserts_are_atomic() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let (p, b) = project_and_base(&mut conn).await;
    models::insert_version(&mut conn, &version(p, b, "v1"))
        .await
        .unwrap();
    assert_duplicate(
        models::insert_version(&mut conn, &version(p, b, "v1"))
            .await
            .unwrap_err(),
        "model version",
        "v1",
    );

    // Two files with the same path: the second file row fails, so the version must not exist either.
    let bad = NewModelVersion {
        files: vec![file("a.bin", 1), file("a.bin", 2)],
        ..version(p, b, "v2")
    };
    let err = models::insert_version(&mut conn, &bad)
        .await
        .expect_err("duplicate file path");
    assert_constraint(err, ErrorKind::UniqueViolation);
    assert_eq!(
        count_rows(&mut conn, "model_versions").await,
        1,
        "a version whose files fail must not be stored"
    );
    assert_eq!(
        count_rows(&mut conn, "version_files").await,
        0,
        "nor any of its files"
    );
}

#[tokio::test]
async fn versions_refuse_missing_references() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let (p, b) = project_and_base(&mut conn).await;
    let cases = [
        (
            NewModelVersion {
                parent_id: Some(VersionId(404)),
                ..version(p, b, "orphan")
            },
            "missing parent",
        ),
        (
            version(p, BaseModelId(404), "no base"),
            "missing base model",
        ),
        (version(ProjectId(404), b, "no project"), "missing project"),
        (
            NewModelVersion {
                snapshot_id: Some(SnapshotId(404)),
                ..version(p, b, "no snap")
            },
            "missing snapshot",
        ),
        (
            NewModelVersion {
                job_id: Some(JobId(404)),
                ..version(p, b, "no job")
            },
            "missing job",
        ),
    ];
    for (new, why) in cases {
        let err = models::insert_version(&mut conn, &new)
            .await
            .err()
            .unwrap_or_else(|| panic!("{why} must be refused"));
        assert_constraint(err, ErrorKind::ForeignKeyViolation);
    }
    assert_eq!(
        count_rows(&mut conn, "model_versions").await,
        0,
        "no refused version is stored"
    );
    assert_not_found(
        models::get_version(&mut conn, VersionId(404))
            .await
            .unwrap_err(),
        "model version",
        "404",
    );
}

#[tokio::test]
async fn set_version_metrics_replaces_the_metrics() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let (p, b) = project_and_base(&mut conn).await;
    let v = models::insert_version(
        &mut conn,
        &NewModelVersion {
            metrics: json!({"train_loss": 0.5}),
            ..version(p, b, "v1")
        },
    )
    .await
    .unwrap();
    let eval = json!({"win_rate_vs_parent": 0.63, "heldout": {"n": 40, "mean_rating": 5.1}});
    models::set_version_metrics(&mut conn, v.id, &eval)
        .await
        .unwrap();
    let got = models::get_version(&mut conn, v.id).await.unwrap();
    assert_eq!(got.metrics, eval, "metrics are replaced, not merged");
    assert_eq!(got.name, v.name, "nothing else changes");
    assert_not_found(
        models::set_version_metrics(&mut conn, VersionId(999), &eval)
            .await
            .unwrap_err(),
        "model version",
        "999",
    );
}
