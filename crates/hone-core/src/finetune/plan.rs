//! A fine-tune's plan: its stages' examples, steps and tokens, the time they will take on
//! this device and the run's peak memory, from the tokenized data and the loaded model.

use hone_model::LoadedModel;
use hone_train::preference::REFERENCE_BATCH_ROWS;
use hone_train::trainer::TrainConfig;

use super::recipe::{Plan, PlanDevice, PlanStage, Recipe, StageMethod};
use super::step_time::{estimate_seconds, weight_pass_seconds, Speed, TokenWork};
use super::tokens::TokenizedData;
use crate::dataset::TrainingData;

/// Each example's (prompt, longest completion) in tokens, for the stages that train on
/// examples (a pair's completion is the longer of chosen and rejected).
fn example_lengths(method: StageMethod, tokens: &TokenizedData) -> Vec<(usize, usize)> {
    match method {
        StageMethod::Sft => tokens
            .sft
            .iter()
            .chain(tokens.weighted.iter().map(|w| &w.pair))
            .map(|p| (p.prompt.len(), p.completion.len()))
            .collect(),
        StageMethod::Kto => tokens
            .kto
            .iter()
            .map(|e| (e.prompt.len(), e.completion.len()))
            .collect(),
        StageMethod::Dpo | StageMethod::RewardModel => tokens
            .pairs
            .iter()
            .map(|p| (p.prompt.len(), p.chosen.len().max(p.rejected.len())))
            .collect(),
        StageMethod::Ppo => Vec::new(),
    }
}

/// The tokens of every pair, its prompt once with each answer.
fn pair_tokens(tokens: &TokenizedData) -> usize {
    tokens
        .pairs
        .iter()
        .map(|p| 2 * p.prompt.len() + p.chosen.len() + p.rejected.len())
        .sum()
}

/// The training-token equivalents a stage computes: every batch's rows padded to its longest
/// (in the order the run draws them), and for DPO and KTO the reference pass made once before
/// training (a forward without backward: half a training token's work per token).
fn computed_tokens(method: StageMethod, tokens: &TokenizedData, config: &TrainConfig) -> usize {
    let longest: Vec<usize> = example_lengths(method, tokens)
        .iter()
        .map(|(p, c)| p + c)
        .collect();
    let padded = config.padded_tokens(&longest, rows_per_example(method));
    match method {
        StageMethod::Sft | StageMethod::RewardModel => padded,
        StageMethod::Dpo => padded + pair_tokens(tokens) / 2,
        StageMethod::Kto => padded + longest.iter().sum::<usize>() / 2,
        StageMethod::Ppo => 0,
    }
}

/// The bytes a pass over `lm`'s weights moves: the weights themselves, or for a quantized
/// base each matrix dequantized into the compute dtype and then read by the product (twice
/// those bytes: a SmolLM2 SFT on its Q4_1 base took 1.25× the time of the same run on f32
/// weights, BENCHMARKS.md "Plan estimates", session 37).
fn pass_bytes(lm: &LoadedModel) -> usize {
    let model = &lm.model;
    if model.is_quantized() {
        2 * model.config().parameter_count() * model.dtype().size_in_bytes()
    } else {
        model.weight_bytes()
    }
}

/// The passes a stage makes over the weights: a forward and a backward for each batch, and for
/// DPO and KTO the reference pass before training, in batches of
/// [`REFERENCE_BATCH_ROWS`] (DPO: each pair's chosen answers, then its rejected ones).
fn weight_passes(method: StageMethod, examples: usize, config: &TrainConfig) -> usize {
    let batches = examples.div_ceil(config.batch_size.max(1)) * config.epochs;
    let reference = match method {
        StageMethod::Dpo => 2 * examples.div_ceil(REFERENCE_BATCH_ROWS),
        StageMethod::Kto => examples.div_ceil(REFERENCE_BATCH_ROWS),
        _ => 0,
    };
    2 * batches + reference
}

/// The largest batch a stage runs with a graph: its rows (a pair's chosen and rejected; KTO's
/// KL rows run without one), the longest row, and the most completion tokens a batch can hold
/// (its examples' own, which is where the LM head runs).
fn batch_shape(
    method: StageMethod,
    recipe: &Recipe,
    tokens: &TokenizedData,
) -> super::memory::BatchShape {
    let lengths = match method {
        StageMethod::Ppo => tokens
            .prompts
            .iter()
            .map(|p| (p.len(), recipe.ppo.max_new_tokens))
            .collect(),
        _ => example_lengths(method, tokens),
    };
    // Each example's completion tokens (a pair's chosen and rejected together).
    let mut positions: Vec<usize> = match method {
        StageMethod::Dpo => tokens
            .pairs
            .iter()
            .map(|p| p.chosen.len() + p.rejected.len())
            .collect(),
        // A reward model scores the last hidden state: no logits over the vocabulary.
        StageMethod::RewardModel => Vec::new(),
        _ => lengths.iter().map(|&(_, c)| c).collect(),
    };
    let (examples, rows_per_example) = match method {
        StageMethod::Sft => (recipe.sft.batch_size.min(tokens.sft_stage_len()), 1),
        StageMethod::Kto => (recipe.preference.batch_size.min(tokens.kto.len()), 1),
        StageMethod::Ppo => (recipe.ppo_batch_size, 1),
        StageMethod::Dpo | StageMethod::RewardModel => {
            (recipe.preference.batch_size.min(tokens.pairs.len()), 2)
        }
    };
    positions.sort_unstable_by(|a, b| b.cmp(a));
    let completion_positions = if method == StageMethod::Ppo {
        // Every response may run to the limit.
        examples * recipe.ppo.max_new_tokens
    } else {
        positions.iter().take(examples).sum()
    };
    super::memory::BatchShape {
        rows: rows_per_example * examples,
        tokens: lengths.iter().map(|(p, c)| p + c).max().unwrap_or(0),
        completion_positions,
    }
}

/// PPO's seconds before a run of it on this device has been measured. Each iteration samples
/// a response to each of its prompts, the batch's rows decoded together a token at a time
/// (`decode_step_seconds` a step, measured on the model by [`super::decode_probe`]), scores the responses in three forward passes (the
/// policy with its values, the reference, the reward model) and updates the policy
/// `ppo_epochs` times on them. Responses are counted at `max_new_tokens`, the most they can
/// take: SmolLM2-135M-Instruct's took 47 of 48 on average, the starter's 25 (BENCHMARKS.md
/// "Plan estimates").
fn ppo_seconds(
    recipe: &Recipe,
    tokens: &TokenizedData,
    config: &hone_model::Config,
    speed: Speed,
    decode_step_seconds: f64,
    checkpointed: bool,
) -> f64 {
    use super::step_time::{CHECKPOINTING_TIME_FACTOR, FORWARD_SHARE};
    if tokens.prompts.is_empty() {
        return 0.0;
    }
    let rows = recipe.ppo_batch_size.min(tokens.prompts.len());
    let prompt_tokens =
        tokens.prompts.iter().map(Vec::len).sum::<usize>() * rows / tokens.prompts.len();
    let response_tokens = rows * recipe.ppo.max_new_tokens;
    let row_tokens = (prompt_tokens + response_tokens) as f64 / rows as f64;
    let step =
        |tokens: usize| estimate_seconds(TokenWork::new(config, true, row_tokens), tokens, speed);
    let sampling = FORWARD_SHARE * step(prompt_tokens)
        + recipe.ppo.max_new_tokens as f64 * decode_step_seconds;
    let scoring = 3.0 * FORWARD_SHARE * step(prompt_tokens + response_tokens);
    let update = step(prompt_tokens + response_tokens)
        * if checkpointed {
            CHECKPOINTING_TIME_FACTOR
        } else {
            1.0
        };
    recipe.ppo_iterations as f64 * (sampling + scoring + recipe.ppo.ppo_epochs as f64 * update)
}

fn rows_per_example(method: StageMethod) -> usize {
    match method {
        StageMethod::Sft => 1,
        _ => 2,
    }
}

const MIB: f64 = 1024.0 * 1024.0;

pub(super) fn plan_for(
    recipe: &Recipe,
    data: &TrainingData,
    tokens: &TokenizedData,
    lm: &LoadedModel,
    speed: Speed,
    runtime_bytes: f64,
) -> crate::Result<Plan> {
    let r = recipe.lora.r;
    let trainable: usize = lm
        .model
        .linear_specs()
        .iter()
        .filter(|s| recipe.lora.target_modules.iter().any(|t| t == s.module))
        .map(|s| r * (s.in_dim + s.out_dim))
        .sum();
    let path = if lm.model.is_quantized() {
        super::memory::StepPath::QuantizedBase
    } else if hone_model::fused::runs_on(&lm.device.device, lm.device.dtype) {
        super::memory::StepPath::Fused
    } else {
        super::memory::StepPath::Composed
    };
    tracing::debug!(
        runtime_mib = runtime_bytes / (1024.0 * 1024.0),
        "the process's memory before loading the model"
    );
    // On a GPU the plan sizes the device's memory: what it holds now, the model loaded.
    let resident = match hone_model::device::memory_in_use(&lm.device) {
        Some(in_use) => super::memory::Resident::Device {
            in_use_bytes: in_use as f64,
        },
        None => super::memory::Resident::Host {
            runtime_bytes,
            weight_bytes: lm.model.weight_bytes(),
        },
    };
    let step_kind = |checkpointed| super::memory::StepKind {
        path,
        activation_bytes: lm.device.dtype.size_in_bytes(),
        checkpointed,
    };
    let peak = |batch, checkpointed| {
        super::memory::peak_bytes(
            resident,
            lm.model.config(),
            trainable,
            step_kind(checkpointed),
            batch,
        )
    };
    let step_mib = |method, checkpointed| {
        super::memory::step_bytes(
            lm.model.config(),
            step_kind(checkpointed),
            batch_shape(method, recipe, tokens),
        ) / MIB
    };
    let device = PlanDevice::from(&lm.device);
    let mut notes = Vec::new();
    // Gradient checkpointing where the recipe asks for it, or (auto) where the step would
    // not fit in the device's memory without it.
    let mut checkpointing = |method: StageMethod, config: &TrainConfig| -> bool {
        let batch = batch_shape(method, recipe, tokens);
        let needed = peak(batch, false) / MIB;
        tracing::debug!(
            method = method.as_str(),
            rows = batch.rows,
            tokens = batch.tokens,
            completion_positions = batch.completion_positions,
            needed_mib = needed,
            "a stage's largest batch"
        );
        let (on, note) =
            super::memory::checkpointing(config.gradient_checkpointing, needed, device.memory_mib);
        if let Some(note) = note {
            notes.push(format!("{} on {}: {note}", method.as_str(), device.name));
        }
        on
    };

    let parameters = lm.model.config().parameter_count();
    let mut stages = Vec::new();
    let mut used_rows = 0;
    for method in recipe.stages(data) {
        let (examples, tokens_per_epoch, config) = match method {
            StageMethod::Sft => (
                tokens.sft_stage_len(),
                example_lengths(method, tokens)
                    .iter()
                    .map(|(p, c)| p + c)
                    .sum::<usize>(),
                &recipe.sft,
            ),
            StageMethod::Dpo | StageMethod::RewardModel => {
                (tokens.pairs.len(), pair_tokens(tokens), &recipe.preference)
            }
            StageMethod::Kto => (
                tokens.kto.len(),
                tokens
                    .kto
                    .iter()
                    .map(|e| 2 * (e.prompt.len() + e.completion.len()))
                    .sum(),
                &recipe.preference,
            ),
            StageMethod::Ppo => {
                // Each iteration: sampling, 3 scoring passes and ppo_epochs updates per response.
                let per_prompt = tokens.prompts.iter().map(Vec::len).sum::<usize>()
                    / tokens.prompts.len().max(1)
                    + recipe.ppo.max_new_tokens;
                let total_tokens = recipe.ppo_iterations
                    * recipe.ppo_batch_size
                    * per_prompt
                    * (4 + recipe.ppo.ppo_epochs);
                // The updates follow the preference stages' setting (PPO has no TrainConfig).
                let checkpointed =
                    !tokens.prompts.is_empty() && checkpointing(method, &recipe.preference);
                let decode_step_seconds = match tokens.prompts.first() {
                    Some(prompt) => super::decode_probe::step_seconds(
                        &lm.model,
                        recipe.lora.config()?,
                        prompt,
                        recipe.ppo_batch_size.min(tokens.prompts.len()),
                    )?,
                    None => 0.0,
                };
                tracing::debug!(decode_step_seconds, "PPO's sampling, a step of its rows");
                stages.push(PlanStage {
                    method,
                    examples: tokens.prompts.len(),
                    steps: if tokens.prompts.is_empty() {
                        0
                    } else {
                        recipe.ppo_iterations as u64
                    },
                    tokens: total_tokens,
                    estimated_seconds: ppo_seconds(
                        recipe,
                        tokens,
                        lm.model.config(),
                        speed,
                        decode_step_seconds,
                        checkpointed,
                    ),
                    gradient_checkpointing: checkpointed,
                    step_memory_mib: if tokens.prompts.is_empty() {
                        0.0
                    } else {
                        step_mib(method, checkpointed)
                    },
                });
                continue;
            }
        };
        used_rows += match method {
            StageMethod::Sft => data.sft.len(),
            StageMethod::Dpo | StageMethod::RewardModel => data.preferences.len(),
            _ => data.kto.len(),
        };
        let total_tokens = tokens_per_epoch * config.epochs;
        let checkpointed = examples > 0 && checkpointing(method, config);
        let work = TokenWork::new(
            lm.model.config(),
            method != StageMethod::RewardModel,
            tokens_per_epoch as f64 / (examples * rows_per_example(method)).max(1) as f64,
        );
        let computed = computed_tokens(method, tokens, config);
        tracing::debug!(
            method = method.as_str(),
            computed_tokens = computed,
            ?work,
            ?speed,
            "a stage's work"
        );
        stages.push(PlanStage {
            method,
            examples,
            gradient_checkpointing: checkpointed,
            steps: if examples == 0 {
                0
            } else {
                config.total_steps(examples)
            },
            tokens: total_tokens,
            estimated_seconds: (estimate_seconds(work, computed, speed)
                + weight_pass_seconds(
                    pass_bytes(lm),
                    lm.model.config().num_hidden_layers,
                    weight_passes(method, examples, config),
                    speed,
                ))
                * if checkpointed {
                    super::step_time::CHECKPOINTING_TIME_FACTOR
                } else {
                    1.0
                },
            // No examples: an empty batch, whose step adds nothing (`memory::step_bytes`).
            step_memory_mib: step_mib(method, checkpointed),
        });
    }
    // The run's peak is its most demanding stage's; with no data, the model and adapter alone.
    let memory = stages
        .iter()
        .filter(|s| s.examples > 0)
        .map(|s| {
            peak(
                batch_shape(s.method, recipe, tokens),
                s.gradient_checkpointing,
            )
        })
        .fold(
            peak(super::memory::BatchShape::uniform(0, 0, 0), false),
            f64::max,
        );
    // On the CPU the peak is at least what the process holds now, the model loaded: after
    // earlier work whose freed buffers the allocator kept (left out of `runtime_bytes`), a
    // small step reuses them and the process stays at that size.
    let memory = match resident {
        super::memory::Resident::Host { .. } => memory.max(super::memory::runtime_bytes()),
        super::memory::Resident::Device { .. } => memory,
    };
    if let Some(available) = device.memory_mib {
        let needed = memory / MIB;
        if needed > available {
            notes.push(format!(
                "the estimated {needed:.0} MiB exceed {}'s {available:.0} MiB: lower the batch size or train on a larger device",
                device.name
            ));
        }
    }
    if let Speed::Gpu { matmul_flops } = speed {
        notes.push(format!(
            "times on {} assume {:.0}% of its measured {:.0} TFLOP/s {} matmul peak until a run on it is measured",
            device.name,
            super::step_time::GPU_STEP_EFFICIENCY * 100.0,
            matmul_flops / 1e12,
            device.dtype
        ));
    }
    notes.extend(token_level_notes(recipe, tokens));
    if tokens.too_long > 0 {
        notes.push(format!(
            "{} row(s) are longer than the model's context and are left out",
            tokens.too_long
        ));
    }
    if stages.is_empty() {
        notes.push("the snapshot holds no data this recipe can train on".into());
    }
    Ok(Plan {
        stages,
        parameters,
        trainable_parameters: trainable,
        estimated_memory_mib: memory / MIB,
        unused_rows: (data.preferences.len() + data.sft.len() + data.kto.len())
            .saturating_sub(used_rows),
        notes,
        device,
    })
}

/// What token-level feedback feeds, said in the plan: which judgments feed which loss, how
/// many tokens carry weight, and why.
fn token_level_notes(recipe: &Recipe, tokens: &TokenizedData) -> Vec<String> {
    let counts = tokens.token_level;
    let mut notes = Vec::new();
    if counts.edits + counts.marked_answers > 0 {
        let mut sources = Vec::new();
        if counts.edits > 0 {
            sources.push(format!(
                "{} edit(s) token by token (the correction's tokens weighted as added or kept, the removed ones against)",
                counts.edits
            ));
        }
        if counts.marked_answers > 0 {
            sources.push(format!(
                "{} marked answer(s) on their marked tokens, against those marked wrong and for those marked good (instead of whole-answer examples)",
                counts.marked_answers
            ));
        }
        let against = match recipe.token_level.negative {
            hone_train::token_losses::NegativeTerm::Unlikelihood => "unlikelihood".to_string(),
            hone_train::token_losses::NegativeTerm::Npo { beta } => {
                format!("NPO, β {beta}, anchored to the reference")
            }
        };
        notes.push(format!(
            "token-level SFT: {}; {} token(s) asked for, {} asked against ({against})",
            sources.join(" and "),
            counts.likelihood_tokens,
            counts.unlikelihood_tokens
        ));
    }
    if counts.focused_pairs > 0 {
        notes.push(format!(
            "token-level DPO: {} edit pair(s) compare only the tokens the expert changed, so the tokens both answers share do not drown the correction",
            counts.focused_pairs
        ));
    }
    if recipe.token_level.any() && notes.is_empty() {
        notes.push(
            "token-level feedback is on, but no edit or marked span is in this snapshot".into(),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use hone_train::preference::TokenPair;

    use super::*;
    use crate::finetune::recipe::Method;

    #[test]
    fn a_reward_models_step_keeps_no_vocabulary_logits_where_dpos_keeps_its_answers() {
        let pair = |chosen, rejected| TokenPair {
            prompt: vec![1; 5],
            chosen: vec![2; chosen],
            rejected: vec![3; rejected],
            focus: None,
        };
        let tokens = TokenizedData {
            pairs: vec![pair(20, 3), pair(2, 9), pair(4, 4)],
            ..Default::default()
        };
        let recipe = Recipe::new(Method::Dpo, "model".into());
        let dpo = batch_shape(StageMethod::Dpo, &recipe, &tokens);
        let rm = batch_shape(StageMethod::RewardModel, &recipe, &tokens);
        // Both run a pair's two answers through the model, the longest row padded to.
        assert_eq!((dpo.rows, dpo.tokens), (6, 25));
        assert_eq!((rm.rows, rm.tokens), (6, 25));
        // DPO's log-probs need the logits of its answers' own positions (a batch of all
        // three pairs: 23 + 11 + 8 tokens, none padded); a reward model scores the last hidden
        // state.
        assert_eq!(dpo.completion_positions, 42);
        assert_eq!(rm.completion_positions, 0);
        // Two pairs a batch: the most any batch holds is the two pairs with the most answer
        // tokens (23 + 11), less than 4 rows × the longest answer (80).
        let mut two = recipe.clone();
        two.preference.batch_size = 2;
        let dpo = batch_shape(StageMethod::Dpo, &two, &tokens);
        assert_eq!((dpo.rows, dpo.completion_positions), (4, 34));
    }

    #[test]
    fn a_stage_passes_over_the_weights_twice_a_batch_and_once_a_reference_batch() {
        let config = TrainConfig {
            batch_size: 4,
            epochs: 3,
            ..TrainConfig::default()
        };
        // 16 examples in batches of 4 for 3 epochs: 12 batches, a forward and a backward each.
        assert_eq!(weight_passes(StageMethod::Sft, 16, &config), 24);
        assert_eq!(weight_passes(StageMethod::RewardModel, 16, &config), 24);
        // DPO's reference pass: the 16 chosen answers in 2 batches of 8, then the rejected.
        assert_eq!(weight_passes(StageMethod::Dpo, 16, &config), 28);
        // KTO's: 17 verdicts in 3 batches of 8; 5 batches of 4 an epoch.
        assert_eq!(weight_passes(StageMethod::Kto, 17, &config), 33);
        assert_eq!(weight_passes(StageMethod::Sft, 0, &config), 0);
    }

    #[test]
    fn ppo_prices_each_decoding_step_of_its_rows_at_the_measured_time() {
        let config = hone_model::tiny::Shape::Smollm2_135m.config();
        let mut recipe = Recipe::new(Method::Ppo, "model".into());
        recipe.ppo_iterations = 4;
        recipe.ppo_batch_size = 8;
        recipe.ppo.max_new_tokens = 48;
        let tokens = TokenizedData {
            prompts: vec![vec![1; 40]; 16],
            ..Default::default()
        };
        let speed = Speed::Cpu(super::super::step_time::FALLBACK_CPU);
        let at = |decode| ppo_seconds(&recipe, &tokens, &config, speed, decode, false);
        // 4 iterations × 48 steps (the 8 responses decoded together), each 10 ms slower.
        assert!((at(0.06) - at(0.05) - 4.0 * 48.0 * 0.01).abs() < 1e-6);
        // The scoring and updates cost something beside the sampling.
        assert!(at(0.0) > 1.0, "{}", at(0.0));
        let none = TokenizedData::default();
        assert_eq!(
            ppo_seconds(&recipe, &none, &config, speed, 0.05, false),
            0.0
        );
        // Checkpointed updates recompute their layers: only the updates cost more.
        let checkpointed = ppo_seconds(&recipe, &tokens, &config, speed, 0.05, true);
        let updates = checkpointed - at(0.05);
        assert!(updates > 0.0, "{checkpointed} {}", at(0.05));
        let factor = super::super::step_time::CHECKPOINTING_TIME_FACTOR;
        let plain_updates = updates / (factor - 1.0);
        assert!(plain_updates < at(0.05), "{plain_updates} {}", at(0.05));
    }
}
