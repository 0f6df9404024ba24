use hone_core::projects::{ProjectSpec, DEFAULT_CRITERION, DEFAULT_SPAN_LABELS};
use hone_core::store::projects::{NamedItem, SpanLabel};
use hone_core::store::SpanPolarity;
use hone_core::CoreError;

use crate::{assert_invalid, count_rows, open};

fn item(name: &str) -> NamedItem {
    NamedItem {
        name: name.into(),
        description: format!("about {name}"),
    }
}

fn label(name: &str) -> SpanLabel {
    SpanLabel::error(name, format!("about {name}"))
}

#[tokio::test]
async fn a_new_project_gets_the_default_criterion_and_span_labels() {
    let ws = open().await;
    let details = ws.create_project(&ProjectSpec::named("law")).await.unwrap();
    let criteria: Vec<_> = details.criteria.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        criteria,
        vec![DEFAULT_CRITERION],
        "no criteria given means the single criterion `overall`"
    );
    let labels: Vec<_> = details
        .span_labels
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    let defaults: Vec<_> = DEFAULT_SPAN_LABELS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        labels, defaults,
        "no labels given means the default labels, in order"
    );
    assert_eq!(details.guideline, None, "no guidelines were given");
    assert_eq!(
        (details.project.rating_min, details.project.rating_max),
        (1, 7)
    );
}

#[tokio::test]
async fn given_criteria_labels_and_guidelines_are_kept_in_order() {
    let ws = open().await;
    let mut spec = ProjectSpec::named("medicine");
    spec.criteria = vec![item("accuracy"), item("clarity")];
    spec.span_labels = vec![
        label("dosage_error"),
        SpanLabel {
            polarity: SpanPolarity::Good,
            ..label("cites_source")
        },
    ];
    spec.guidelines = Some("Cite the source.".into());
    let details = ws.create_project(&spec).await.unwrap();
    assert_eq!(
        details.criteria, spec.criteria,
        "criteria are stored as given, in order"
    );
    assert_eq!(
        details.span_labels, spec.span_labels,
        "labels replace the defaults, with their polarity"
    );
    let guideline = details.guideline.expect("the guidelines were given");
    assert_eq!(
        (guideline.version, guideline.text.as_str()),
        (1, "Cite the source.")
    );
}

#[tokio::test]
async fn good_labels_alone_come_after_the_default_error_labels() {
    let ws = open().await;
    let mut spec = ProjectSpec::named("praise");
    let good = SpanLabel {
        polarity: SpanPolarity::Good,
        ..label("clear_step")
    };
    spec.span_labels = vec![good.clone()];
    let details = ws.create_project(&spec).await.unwrap();
    let mut expected: Vec<SpanLabel> = DEFAULT_SPAN_LABELS
        .iter()
        .map(|(n, d)| SpanLabel::error(*n, *d))
        .collect();
    expected.push(good);
    assert_eq!(details.span_labels, expected);
    // A good label may not take a default error label's name.
    let mut clash = ProjectSpec::named("clash");
    clash.span_labels = vec![SpanLabel {
        polarity: SpanPolarity::Good,
        ..label("style")
    }];
    assert_invalid(ws.create_project(&clash).await, "span_labels[4].name");
}

#[tokio::test]
async fn bad_settings_are_refused_naming_the_field_and_nothing_is_created() {
    let ws = open().await;
    type Change = Box<dyn Fn(&mut ProjectSpec)>;
    let cases: Vec<(&str, Change)> = vec![
        ("project.name", Box::new(|s| s.settings.name = "  ".into())),
        (
            "project.rating_max",
            Box::new(|s| s.settings.rating_max = s.settings.rating_min),
        ),
        (
            "project.kto_threshold",
            Box::new(|s| s.settings.kto_threshold = 9.0),
        ),
        ("project.overlap", Box::new(|s| s.settings.overlap = 0)),
        (
            "criteria[1].name",
            Box::new(|s| s.criteria = vec![item("a"), item("a")]),
        ),
        (
            "span_labels[0].name",
            Box::new(|s| s.span_labels = vec![label(" ")]),
        ),
    ];
    for (field, change) in cases {
        let mut spec = ProjectSpec::named("p");
        change(&mut spec);
        assert_invalid(ws.create_project(&spec).await, field);
    }
    assert_eq!(
        count_rows(&ws, "projects").await,
        0,
        "a refused project must not be written"
    );
}

#[tokio::test]
async fn a_second_project_of_the_same_name_is_a_duplicate() {
    let ws = open().await;
    ws.create_project(&ProjectSpec::named("law")).await.unwrap();
    match ws.create_project(&ProjectSpec::named("law")).await {
        Err(CoreError::Duplicate {
            entity: "project", ..
        }) => {}
        other => panic!("a project name is unique, got {other:?}"),
    }
    assert_eq!(
        count_rows(&ws, "rating_criteria").await,
        1,
        "the refused project's criteria must be rolled back"
    );
}

#[tokio::test]
async fn projects_are_found_by_name_or_id() {
    let ws = open().await;
    let a = ws
        .create_project(&ProjectSpec::named("alpha"))
        .await
        .unwrap()
        .project;
    let b = ws
        .create_project(&ProjectSpec::named("beta"))
        .await
        .unwrap()
        .project;
    assert_eq!(
        ws.find_project("beta").await.unwrap().id,
        b.id,
        "found by name"
    );
    assert_eq!(
        ws.find_project(&a.id.to_string()).await.unwrap().id,
        a.id,
        "found by id when the key is a number"
    );
    assert!(
        matches!(
            ws.find_project("gamma").await,
            Err(CoreError::NotFound { .. })
        ),
        "an unknown name is NotFound"
    );
    assert!(
        matches!(
            ws.find_project("999").await,
            Err(CoreError::NotFound { .. })
        ),
        "an unknown id is NotFound"
    );
    let names: Vec<_> = ws
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, vec!["alpha", "beta"]);
}

#[tokio::test]
async fn guidelines_are_versioned_and_settings_updated() {
    let ws = open().await;
    let id = crate::project(&ws, "law").await;
    assert_eq!(ws.set_guidelines(id, "v1").await.unwrap().version, 1);
    assert_eq!(
        ws.set_guidelines(id, "v2").await.unwrap().version,
        2,
        "each publication is a new version"
    );
    assert_invalid(ws.set_guidelines(id, " ").await, "guidelines");
    assert_eq!(
        ws.project_details(id)
            .await
            .unwrap()
            .guideline
            .unwrap()
            .text,
        "v2",
        "the latest version is current"
    );

    let mut settings = ws.project_details(id).await.unwrap().project;
    let mut new = hone_core::store::projects::NewProject::named(settings.name.clone());
    new.overlap = 3;
    new.kto_threshold = 4.5;
    settings = ws.update_project_settings(id, &new).await.unwrap();
    assert_eq!((settings.overlap, settings.kto_threshold), (3, 4.5));
    new.overlap = 0;
    assert_invalid(
        ws.update_project_settings(id, &new).await,
        "project.overlap",
    );

    ws.add_rating_criterion(id, &item("tone")).await.unwrap();
    assert!(matches!(
        ws.add_rating_criterion(id, &item("tone")).await,
        Err(CoreError::Duplicate { .. })
    ));
    ws.add_span_label(id, &label("legal_error")).await.unwrap();
    let good = SpanLabel {
        polarity: SpanPolarity::Good,
        ..label("well_argued")
    };
    ws.add_span_label(id, &good).await.unwrap();
    let details = ws.project_details(id).await.unwrap();
    assert_eq!(
        details.criteria.last().unwrap().name,
        "tone",
        "a new criterion is appended"
    );
    assert_eq!(
        details.span_labels[details.span_labels.len() - 2..],
        [label("legal_error"), good],
        "new labels are appended, with their polarity"
    );
}

/// A project named "2" once shadowed project id 2 in the CLI: digits-only names are refused,
/// and a number finds the project with that id.
#[tokio::test]
async fn project_names_and_ids_never_meet() {
    let ws = open().await;
    let first = ws
        .create_project(&ProjectSpec::named("alpha"))
        .await
        .unwrap();
    let second = ws
        .create_project(&ProjectSpec::named("beta"))
        .await
        .unwrap();
    assert_invalid(
        ws.create_project(&ProjectSpec::named("2")).await,
        "project.name",
    );
    assert_invalid(
        ws.create_project(&ProjectSpec::named(" 17 ")).await,
        "project.name",
    );
    // Names with digits and a letter are fine.
    ws.create_project(&ProjectSpec::named("2b")).await.unwrap();
    let by_id = ws
        .find_project(&second.project.id.to_string())
        .await
        .unwrap();
    assert_eq!(by_id.name, "beta");
    assert_eq!(ws.find_project("alpha").await.unwrap().id, first.project.id);
    assert_eq!(ws.find_project("2b").await.unwrap().name, "2b");
    assert!(ws.find_project("999").await.is_err());
}
