//! The command table: each arm parses its arguments, calls `hone-core`, and serialises the
//! result. Long work becomes a job (see `jobs.rs`).

use hone_core::feedback::FeedbackInput;
use hone_core::finetune::{FineTuneEvent, Recipe};
use hone_core::generation::GenerationRequest;
use hone_core::history::HistoryQuery;
use hone_core::model::LoadedModel;
use hone_core::playground::{CandidateInput, PlaygroundRequest};
use hone_core::projects::ProjectSpec;
use hone_core::triage::{FlagInput, SkipInput};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::jobs::{JobEvent, Reporter};
use crate::types::*;
use crate::Api;

fn parse<T: DeserializeOwned>(command: &str, args: Value) -> Result<T, ApiError> {
    serde_json::from_value(args).map_err(|e| ApiError {
        code: "bad_arguments".into(),
        message: format!("{command}: {e}"),
        field: None,
    })
}

fn json<T: Serialize>(value: T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::new("internal", e.to_string()))
}

fn started(job_id: u64) -> Result<Value, ApiError> {
    json(JobStarted { job_id })
}

/// What the UI shows about a model folder, loading it to be sure it loads.
fn model_info(
    dir: &std::path::Path,
    device: hone_core::model::DeviceChoice,
) -> Result<ModelInfo, ApiError> {
    let device = hone_core::model::device::select(device)?;
    let lm = LoadedModel::load(dir, device)?;
    let c = lm.model.config();
    Ok(ModelInfo {
        dir: dir.to_owned(),
        gguf_file: hone_core::model::gguf::GgufSource::read(dir).map(|s| s.path),
        architecture: c.model_type.clone(),
        parameters: c.parameter_count(),
        hidden_size: c.hidden_size,
        layers: c.num_hidden_layers,
        vocab_size: c.vocab_size,
        max_positions: c.max_position_embeddings,
        has_chat_template: lm.chat_template.is_some(),
        device: lm.device.name(),
        device_description: lm.device.description.clone(),
        device_dtype: hone_core::model::device::dtype_name(lm.device.dtype).into(),
        device_reason: lm.device.reason.clone(),
    })
}

pub(crate) async fn dispatch(api: &Api, command: &str, args: Value) -> Result<Value, ApiError> {
    let hone = api.hone.as_ref();
    match command {
        "health" => json("ok"),
        "workspace_info" => json(WorkspaceInfo {
            dir: hone.dir().to_owned(),
            projects: hone.list_projects().await?.len(),
            starter_dir: api.starter_dir.clone(),
            starter_built: hone_starter::starter::existing(
                &api.starter_dir,
                &hone_starter::starter::StarterSpec::standard(),
            )
            .is_some(),
        }),

        // Projects
        "list_projects" => json(hone.list_projects().await?),
        "create_project" => json(
            hone.create_project(&parse::<ProjectSpec>(command, args)?)
                .await?,
        ),
        "update_project_settings" => {
            let a: ProjectSettingsArgs = parse(command, args)?;
            json(
                hone.update_project_settings(a.project_id, &a.settings)
                    .await?,
            )
        }
        "project_details" => json(
            hone.project_details(parse::<ProjectArgs>(command, args)?.project_id)
                .await?,
        ),
        "set_guidelines" => {
            let a: GuidelinesArgs = parse(command, args)?;
            json(hone.set_guidelines(a.project_id, &a.text).await?)
        }
        "add_rating_criterion" => {
            let a: NamedItemArgs = parse(command, args)?;
            hone.add_rating_criterion(a.project_id, &a.item).await?;
            json(hone.project_details(a.project_id).await?)
        }
        "add_span_label" => {
            let a: SpanLabelArgs = parse(command, args)?;
            hone.add_span_label(a.project_id, &a.item).await?;
            json(hone.project_details(a.project_id).await?)
        }
        "project_stats" => json(
            hone.stats(parse::<ProjectArgs>(command, args)?.project_id)
                .await?,
        ),

        // Models
        "inspect_model" => {
            let a: DirArgs = parse(command, args)?;
            // A .gguf file is imported into the workspace once, then inspected as a folder.
            let dir = hone
                .model_folder(&a.dir)
                .await
                .map_err(|e| e.for_field("dir"))?;
            let device = hone.device_choice();
            json(
                tokio::task::spawn_blocking(move || model_info(&dir, device))
                    .await
                    .map_err(|e| ApiError::new("internal", e.to_string()))??,
            )
        }
        "download_model" => {
            let a: DownloadArgs = parse(command, args)?;
            if a.repo_id.trim().is_empty() || !a.repo_id.contains('/') {
                return Err(ApiError {
                    code: "invalid".into(),
                    message: format!("{:?} is not a Hub id (owner/name)", a.repo_id),
                    field: Some("repo_id".into()),
                });
            }
            let device = hone.device_choice();
            started(api.jobs.spawn(move |reporter: Reporter| async move {
                let progress = reporter.clone();
                let dir = tokio::task::spawn_blocking(move || {
                    hone_core::model::loader::download_with_progress(
                        a.repo_id.trim(),
                        |done, total, name| progress.progress(done as u64, total as u64, name),
                    )
                })
                .await
                .map_err(|e| ApiError::new("internal", e.to_string()))??;
                json(
                    tokio::task::spawn_blocking(move || model_info(&dir, device))
                        .await
                        .map_err(|e| ApiError::new("internal", e.to_string()))??,
                )
            }))
        }
        "list_base_models" => json(hone.base_models().await?),
        "build_starter" => {
            let dir = api.starter_dir.clone();
            let device = hone.device_choice();
            started(api.jobs.spawn(move |reporter: Reporter| async move {
                let cancel = reporter.cancel_flag();
                let progress = reporter.clone();
                let built = tokio::task::spawn_blocking(move || -> Result<ModelInfo, ApiError> {
                    let spec = hone_starter::starter::StarterSpec::standard();
                    if hone_starter::starter::existing(&dir, &spec).is_none() {
                        hone_starter::starter::build(&dir, &spec, &cancel, |p| {
                            progress.progress(p.step, p.total_steps, format!("loss {:.3}", p.loss))
                        })?;
                    }
                    model_info(&dir, device)
                })
                .await
                .map_err(|e| ApiError::new("internal", e.to_string()))??;
                json(built)
            }))
        }

        // Prompts and candidates
        "list_prompts" => {
            let a: ListPromptsArgs = parse(command, args)?;
            json(hone.list_prompts(a.project_id, a.split).await?)
        }
        "import_text" => {
            let a: ImportTextArgs = parse(command, args)?;
            let path = api.upload_path(&a.file_name)?;
            hone_core::export::write_atomically(&path, a.content.as_bytes())?;
            drop(a.content);
            json(api.import_upload(a.project_id, &path, a.split).await?)
        }
        "set_prompt_split" => {
            let a: SetSplitArgs = parse(command, args)?;
            hone.set_prompt_split(a.prompt_id, a.split).await?;
            json(Value::Null)
        }
        "prompt_with_responses" => json(
            hone.prompt_with_responses(parse::<PromptArgs>(command, args)?.prompt_id)
                .await?,
        ),
        "generate_candidates" => {
            let request: GenerationRequest = parse(command, args)?;
            let api = api.clone();
            started(
                api.clone()
                    .jobs
                    .spawn(move |reporter: Reporter| async move {
                        let out = api
                            .hone
                            .generate_candidates(&request, |done, total| {
                                reporter.progress(done as u64, total as u64, "prompts")
                            })
                            .await?;
                        json(out)
                    }),
            )
        }
        "playground" => {
            let request: PlaygroundRequest = parse(command, args)?;
            // An empty or oversized prompt is refused now, not as the job's failure.
            request.validate()?;
            let api = api.clone();
            started(api.clone().jobs.spawn(move |reporter: Reporter| {
                // Taken before the work starts, so `cancel_job` right after the start
                // is not refused.
                let cancel = reporter.cancel_flag();
                async move {
                    let answer = api
                        .hone
                        .playground_until(&request, cancel, move |text| {
                            reporter.send(JobEvent::Token {
                                text: text.to_owned(),
                            })
                        })
                        .await?;
                    json(answer)
                }
            }))
        }
        "add_candidate" => json(
            hone.add_candidate(&parse::<CandidateInput>(command, args)?)
                .await?,
        ),

        // Labeling
        // Team accounts (owners; `roles`)
        "list_users" => json(hone.list_users().await?),
        "add_user" => {
            let a: AddUserArgs = parse(command, args)?;
            json(
                hone.add_user(&a.name, a.role, a.claim.unwrap_or(false))
                    .await?,
            )
        }
        // Project membership (leads): the projects an annotator account sees.
        "list_members" => json(
            hone.project_members(parse::<ProjectArgs>(command, args)?.project_id)
                .await?,
        ),
        "add_member" => {
            let a: MemberArgs = parse(command, args)?;
            json(hone.add_member(a.project_id, &a.name).await?)
        }
        "remove_member" => {
            let a: MemberArgs = parse(command, args)?;
            json(hone.remove_member(a.project_id, &a.name).await?)
        }
        "new_token" => json(
            hone.new_token(&parse::<UserArgs>(command, args)?.name)
                .await?,
        ),
        "revoke_user" => json(
            hone.revoke_user(&parse::<UserArgs>(command, args)?.name)
                .await?,
        ),

        "queue_progress" => {
            let a: QueueProgressArgs = parse(command, args)?;
            json(hone.queue_progress(a.project_id, a.kind).await?)
        }
        "next_item" => {
            let a: NextItemArgs = parse(command, args)?;
            json(
                hone.next_item_excluding(
                    a.project_id,
                    &a.annotator,
                    a.kind,
                    a.exclude.as_deref().unwrap_or(&[]),
                )
                .await?,
            )
        }
        "record_feedback" => json(
            hone.record_feedback(&parse::<FeedbackInput>(command, args)?)
                .await?,
        ),
        "mark_gold" => json(
            hone.mark_gold(parse::<JudgmentArgs>(command, args)?.judgment_id)
                .await?,
        ),
        "unmark_gold" => {
            hone.unmark_gold(parse::<JudgmentArgs>(command, args)?.judgment_id)
                .await?;
            json(Value::Null)
        }
        "gold_items" => json(
            hone.gold_items(parse::<ProjectArgs>(command, args)?.project_id)
                .await?,
        ),
        "skip_item" => {
            hone.skip_item(&parse::<SkipInput>(command, args)?).await?;
            json(Value::Null)
        }
        "flag_item" => json(hone.flag_item(&parse::<FlagInput>(command, args)?).await?),
        "unflag_item" => {
            hone.unflag_item(parse::<FlagArgs>(command, args)?.flag_id)
                .await?;
            json(Value::Null)
        }
        "list_flags" => json(
            hone.list_flags(parse::<ProjectArgs>(command, args)?.project_id)
                .await?,
        ),
        "judgment_history" => json(
            hone.judgment_history(&parse::<HistoryQuery>(command, args)?)
                .await?,
        ),
        "judgment_detail" => json(
            hone.judgment_detail(parse::<JudgmentArgs>(command, args)?.judgment_id)
                .await?,
        ),
        "undo_judgment" => {
            hone.undo_judgment(parse::<JudgmentArgs>(command, args)?.judgment_id)
                .await?;
            json(Value::Null)
        }

        // Fine-tuning and jobs
        "project_token_level" => json(
            hone.project_token_level(parse::<ProjectArgs>(command, args)?.project_id)
                .await?,
        ),
        "set_project_token_level" => {
            let a: ProjectTokenLevelArgs = parse(command, args)?;
            json(
                hone.set_project_token_level(a.project_id, &a.settings)
                    .await?,
            )
        }
        "default_recipe" => {
            let a: DefaultRecipeArgs = parse(command, args)?;
            json(Recipe::new(a.method, a.model_dir))
        }
        "plan_fine_tune" => {
            let a: FineTuneArgs = parse(command, args)?;
            json(hone.plan_fine_tune(a.project_id, &a.recipe).await?)
        }
        "start_fine_tune" => {
            let a: FineTuneArgs = parse(command, args)?;
            let api = api.clone();
            started(
                api.clone()
                    .jobs
                    .spawn(move |reporter: Reporter| async move {
                        let cancel = reporter.cancel_flag();
                        let send = |e: &FineTuneEvent| reporter.send(JobEvent::from(e.clone()));
                        let outcome = if a.recipe.method == hone_core::finetune::Method::Rlhf {
                            json(api.hone.rlhf(a.project_id, &a.recipe, cancel, send).await?)?
                        } else {
                            json(
                                api.hone
                                    .fine_tune(a.project_id, &a.recipe, cancel, send)
                                    .await?,
                            )?
                        };
                        Ok(outcome)
                    }),
            )
        }
        "resume_job" => {
            let a: StoredJobArgs = parse(command, args)?;
            let api = api.clone();
            started(
                api.clone()
                    .jobs
                    .spawn(move |reporter: Reporter| async move {
                        let cancel = reporter.cancel_flag();
                        json(
                            api.hone
                                .resume_fine_tune(a.job_id, cancel, |e: &FineTuneEvent| {
                                    reporter.send(JobEvent::from(e.clone()))
                                })
                                .await?,
                        )
                    }),
            )
        }
        "cancel_job" => {
            api.jobs.cancel(parse::<JobArgs>(command, args)?.job_id)?;
            json(Value::Null)
        }
        "list_jobs" => {
            let a: ListJobsArgs = parse(command, args)?;
            json(hone.jobs(a.project_id).await?)
        }
        "job_metrics" => {
            let a: StoredJobArgs = parse(command, args)?;
            json(hone.job_metrics(a.job_id).await?)
        }

        // Versions and arena
        "list_versions" => json(
            hone.versions(parse::<ProjectArgs>(command, args)?.project_id)
                .await?,
        ),
        "export_version" => {
            let a: ExportVersionArgs = parse(command, args)?;
            let quant = a.quant.unwrap_or(hone_core::model::gguf::GgufQuant::F16);
            json(
                hone.export_version_as(a.version_id, a.format, &a.out, quant)
                    .await?,
            )
        }
        "evaluate_version" => {
            let a: VersionArgs = parse(command, args)?;
            let api = api.clone();
            started(
                api.clone()
                    .jobs
                    .spawn(move |_reporter: Reporter| async move {
                        json(api.hone.evaluate_version(a.version_id).await?)
                    }),
            )
        }
        "promote_version" => {
            let a: PromoteArgs = parse(command, args)?;
            let api = api.clone();
            started(
                api.clone()
                    .jobs
                    .spawn(move |_reporter: Reporter| async move {
                        json(api.hone.promote_version(a.version_id, a.force).await?)
                    }),
            )
        }
        "retrain_without" => {
            let a: RetrainArgs = parse(command, args)?;
            let api = api.clone();
            started(
                api.clone()
                    .jobs
                    .spawn(move |reporter: Reporter| async move {
                        let cancel = reporter.cancel_flag();
                        json(
                            api.hone
                                .retrain_without(
                                    a.version_id,
                                    &a.exclusions,
                                    a.name,
                                    cancel,
                                    |e: &FineTuneEvent| reporter.send(JobEvent::from(e.clone())),
                                )
                                .await?,
                        )
                    }),
            )
        }
        "version_provenance" => json(
            hone.version_provenance(parse::<VersionArgs>(command, args)?.version_id)
                .await?,
        ),
        "judgment_provenance" => json(
            hone.judgment_provenance(parse::<JudgmentArgs>(command, args)?.judgment_id)
                .await?,
        ),
        "suggestion" => {
            let a: SuggestionArgs = parse(command, args)?;
            match &a.judge {
                Some(judge) => json(
                    hone.judge_suggestion(a.project_id, &a.response_ids, judge)
                        .await?,
                ),
                None => json(hone.suggestion(a.project_id, &a.response_ids).await?),
            }
        }
        "annotator_report" => json(
            hone.annotator_report(parse::<ProjectArgs>(command, args)?.project_id)
                .await?,
        ),
        "arena_round" => {
            let a: ArenaArgs = parse(command, args)?;
            json(hone.arena_round(a.project_id, &a.a, &a.b).await?)
        }
        "arena_results" => {
            let a: ArenaArgs = parse(command, args)?;
            json(hone.arena_results(a.project_id, &a.a, &a.b).await?)
        }
        other => Err(ApiError::new(
            "unknown_command",
            format!("there is no command {other:?}"),
        )),
    }
}
