//! Projects: the task, its guidelines (versioned), rating criteria and span labels.

use hone_store::projects::{self, Guideline, NamedItem, NewProject, Project, SpanLabel};
use hone_store::SpanPolarity;
use serde::{Deserialize, Serialize};

use crate::{CoreError, Hone, ProjectId, Result};

/// Everything needed to create a project; `ProjectSpec::named` gives the defaults.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectSpec {
    pub settings: NewProject,
    pub guidelines: Option<String>,
    /// Empty means the single criterion `overall`.
    pub criteria: Vec<NamedItem>,
    /// Without an error label (empty, or good labels only), the default error labels (see
    /// [`DEFAULT_SPAN_LABELS`]) come first.
    pub span_labels: Vec<SpanLabel>,
}

pub const DEFAULT_CRITERION: &str = "overall";
pub const DEFAULT_SPAN_LABELS: &[(&str, &str)] = &[
    ("factual_error", "states something false"),
    ("unsafe", "harmful or dangerous content"),
    ("off_topic", "does not address the request"),
    ("style", "tone, verbosity or formatting problem"),
];

/// The names of the project's span labels that mark what is right: a span judgment that marks
/// only these (or nothing) says the answer is good.
pub(crate) async fn good_span_labels(
    conn: &mut hone_store::Conn,
    project_id: ProjectId,
) -> Result<std::collections::BTreeSet<String>> {
    Ok(projects::span_labels(conn, project_id)
        .await?
        .into_iter()
        .filter(|l| l.polarity == SpanPolarity::Good)
        .map(|l| l.name)
        .collect())
}

impl ProjectSpec {
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            settings: NewProject::named(name),
            guidelines: None,
            criteria: Vec::new(),
            span_labels: Vec::new(),
        }
    }
}

/// A project with the lists that belong to it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectDetails {
    pub project: Project,
    pub guideline: Option<Guideline>,
    pub criteria: Vec<NamedItem>,
    pub span_labels: Vec<SpanLabel>,
}

/// Digits only (after trimming): what the CLI reads as a project id.
fn is_id_like(name: &str) -> bool {
    let name = name.trim();
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

fn validate_settings(s: &NewProject) -> Result<()> {
    if s.name.trim().is_empty() {
        return Err(CoreError::invalid("project.name", "must not be empty"));
    }
    if s.rating_min >= s.rating_max {
        return Err(CoreError::invalid(
            "project.rating_max",
            format!(
                "must be above rating_min ({} ≥ {})",
                s.rating_min, s.rating_max
            ),
        ));
    }
    if !(s.rating_min as f64..=s.rating_max as f64).contains(&s.kto_threshold) {
        return Err(CoreError::invalid(
            "project.kto_threshold",
            format!(
                "{} is outside the rating scale {}–{}",
                s.kto_threshold, s.rating_min, s.rating_max
            ),
        ));
    }
    if s.overlap < 1 {
        return Err(CoreError::invalid("project.overlap", "must be at least 1"));
    }
    if !(0.0..=1.0).contains(&s.gold_rate) {
        return Err(CoreError::invalid(
            "project.gold_rate",
            format!("{} is not a share between 0 and 1", s.gold_rate),
        ));
    }
    Ok(())
}

fn validate_names<'a>(field: &str, names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.into_iter().enumerate() {
        if name.trim().is_empty() {
            return Err(CoreError::invalid(
                format!("{field}[{i}].name"),
                "must not be empty",
            ));
        }
        if !seen.insert(name) {
            return Err(CoreError::invalid(
                format!("{field}[{i}].name"),
                format!("{name:?} appears twice"),
            ));
        }
    }
    Ok(())
}

impl Hone {
    pub async fn create_project(&self, spec: &ProjectSpec) -> Result<ProjectDetails> {
        validate_settings(&spec.settings)?;
        if is_id_like(&spec.settings.name) {
            return Err(CoreError::invalid(
                "project.name",
                "must not be digits only: it would read as a project id (add a letter)",
            ));
        }
        validate_names("criteria", spec.criteria.iter().map(|c| c.name.as_str()))?;
        validate_names(
            "span_labels",
            spec.span_labels.iter().map(|l| l.name.as_str()),
        )?;
        let default_criteria = [NamedItem {
            name: DEFAULT_CRITERION.into(),
            description: "overall quality".into(),
        }];
        let criteria = if spec.criteria.is_empty() {
            &default_criteria[..]
        } else {
            &spec.criteria[..]
        };
        let default_labels: Vec<SpanLabel> = DEFAULT_SPAN_LABELS
            .iter()
            .map(|(name, description)| SpanLabel::error(*name, *description))
            .collect();
        // Without an error label the defaults come first: a project always has some.
        let has_error_label = spec
            .span_labels
            .iter()
            .any(|l| l.polarity == SpanPolarity::Error);
        let labels: Vec<&SpanLabel> = match has_error_label {
            true => spec.span_labels.iter().collect(),
            false => default_labels.iter().chain(&spec.span_labels).collect(),
        };

        let mut tx = self.store().begin().await?;
        let project = projects::create(&mut tx, &spec.settings).await?;
        for item in criteria {
            projects::add_criterion(&mut tx, project.id, item).await?;
        }
        // A good label may not take a default error label's name.
        validate_names("span_labels", labels.iter().map(|l| l.name.as_str()))?;
        for item in labels {
            projects::add_span_label(&mut tx, project.id, item).await?;
        }
        if let Some(text) = &spec.guidelines {
            projects::add_guideline(&mut tx, project.id, text).await?;
        }
        tx.commit().await?;
        self.project_details(project.id).await
    }

    /// Finds a project by id when `key` is digits, else by name. New names cannot be digits
    /// only, so the two never meet; a digits-only name from an older workspace is still found
    /// when no project has that id.
    pub async fn find_project(&self, key: &str) -> Result<Project> {
        let mut conn = self.store().conn().await?;
        if is_id_like(key) {
            if let Ok(id) = key.parse::<ProjectId>() {
                match projects::get(&mut conn, id).await {
                    Err(hone_store::StoreError::NotFound { .. }) => {}
                    other => return Ok(other?),
                }
            }
        }
        Ok(projects::get_by_name(&mut conn, key).await?)
    }

    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        Ok(projects::list(&mut *self.store().conn().await?).await?)
    }

    pub async fn project_details(&self, project_id: ProjectId) -> Result<ProjectDetails> {
        let mut conn = self.store().conn().await?;
        Ok(ProjectDetails {
            project: projects::get(&mut conn, project_id).await?,
            guideline: projects::latest_guideline(&mut conn, project_id).await?,
            criteria: projects::criteria(&mut conn, project_id).await?,
            span_labels: projects::span_labels(&mut conn, project_id).await?,
        })
    }

    /// Publishes a new guideline version; judgments made from now on cite it.
    pub async fn set_guidelines(&self, project_id: ProjectId, text: &str) -> Result<Guideline> {
        if text.trim().is_empty() {
            return Err(CoreError::invalid("guidelines", "must not be empty"));
        }
        let mut conn = self.store().conn().await?;
        projects::get(&mut conn, project_id).await?;
        Ok(projects::add_guideline(&mut conn, project_id, text).await?)
    }

    /// Replaces the settings; `settings.name` is ignored (a project keeps its name).
    pub async fn update_project_settings(
        &self,
        project_id: ProjectId,
        settings: &NewProject,
    ) -> Result<Project> {
        let mut conn = self.store().conn().await?;
        let current = projects::get(&mut conn, project_id).await?;
        drop(conn);
        let settings = &NewProject {
            name: current.name,
            ..settings.clone()
        };
        validate_settings(settings)?;
        Ok(
            projects::update_settings(&mut *self.store().conn().await?, project_id, settings)
                .await?,
        )
    }

    pub async fn add_rating_criterion(
        &self,
        project_id: ProjectId,
        item: &NamedItem,
    ) -> Result<()> {
        validate_names("criterion", [item.name.as_str()])?;
        let mut conn = self.store().conn().await?;
        projects::get(&mut conn, project_id).await?;
        Ok(projects::add_criterion(&mut conn, project_id, item).await?)
    }

    /// Adds a span label; one of [`SpanPolarity::Good`](hone_store::SpanPolarity::Good)
    /// marks what is right (its marks train for their tokens).
    pub async fn add_span_label(&self, project_id: ProjectId, label: &SpanLabel) -> Result<()> {
        validate_names("span_label", [label.name.as_str()])?;
        let mut conn = self.store().conn().await?;
        projects::get(&mut conn, project_id).await?;
        Ok(projects::add_span_label(&mut conn, project_id, label).await?)
    }
}
