//! DPO (and IPO, hinge, cDPO) and KTO as objectives for the training loop. The reference is
//! the model with the adapter off (or a parent adapter); its log-probs are computed once,
//! without a graph, and cached per example.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, Tensor};
use hone_model::lora::{Adapter, LoraContext};
use hone_model::score::{completion_logprobs, SequencePair};
use hone_model::Model;

use crate::losses::{dpo_loss, kto_loss, DpoLossType, KtoInputs, PreferenceLogps};
use crate::metrics::Metrics;
use crate::token_losses::{masked_sums, padded};
use crate::trainer::Objective;
use crate::{Result, TrainError};

/// The rows a reference pass (DPO's and KTO's log-probs cached before the first step) runs
/// at once: each pair's chosen answers in such batches, then its rejected ones.
pub const REFERENCE_BATCH_ROWS: usize = 8;

/// A tokenised preference pair: the same prompt, a chosen and a rejected completion.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPair {
    pub prompt: Vec<u32>,
    pub chosen: Vec<u32>,
    pub rejected: Vec<u32>,
    /// Token-level DPO: the tokens the margin is computed on (an edit's changed tokens);
    /// `None`, every completion token.
    pub focus: Option<PairFocus>,
}

/// 0/1 per completion token of each side of a pair: which tokens its log-prob sums keep.
#[derive(Debug, Clone, PartialEq)]
pub struct PairFocus {
    pub chosen: Vec<f32>,
    pub rejected: Vec<f32>,
}

impl TokenPair {
    fn chosen(&self) -> SequencePair {
        SequencePair {
            prompt: self.prompt.clone(),
            completion: self.chosen.clone(),
        }
    }

    fn rejected(&self) -> SequencePair {
        SequencePair {
            prompt: self.prompt.clone(),
            completion: self.rejected.clone(),
        }
    }

    fn chosen_focus(&self) -> Option<&[f32]> {
        self.focus.as_ref().map(|f| f.chosen.as_slice())
    }

    fn rejected_focus(&self) -> Option<&[f32]> {
        self.focus.as_ref().map(|f| f.rejected.as_slice())
    }
}

/// Sums of completion log-probs of `sequences` under `lora`, in batches, without a graph.
pub fn logp_sums(
    model: &Model,
    sequences: &[SequencePair],
    lora: &LoraContext,
    batch_size: usize,
) -> Result<Vec<f32>> {
    let everything = vec![None; sequences.len()];
    let pass = Pass {
        watch: &Watch::none(),
        before: 0,
        total: sequences.len(),
    };
    focused_logp_sums(model, sequences, &everything, lora, batch_size, &pass)
}

/// A cancel flag nobody sets.
static NEVER: AtomicBool = AtomicBool::new(false);

/// Told nothing.
fn nobody(_scored: usize, _total: usize) {}

/// What watches a reference pass (the log-probs DPO and KTO cache before their first step,
/// minutes over a large project): the job's cancel flag, checked between batches (once it is
/// set the pass stops with [`TrainError::Cancelled`]), and who is told, after each batch, how
/// many sequences it has scored of how many.
pub struct Watch<'a> {
    pub cancel: &'a AtomicBool,
    pub scored: &'a (dyn Fn(usize, usize) + Sync),
}

impl Watch<'static> {
    /// Nobody cancels, nobody is told.
    pub fn none() -> Self {
        Self {
            cancel: &NEVER,
            scored: &nobody,
        }
    }
}

/// One run of [`focused_logp_sums`] within a pass of `total` sequences, `before` of which
/// were scored by earlier runs (DPO scores the chosen answers, then the rejected ones).
struct Pass<'a, 'w> {
    watch: &'a Watch<'w>,
    before: usize,
    total: usize,
}

/// [`logp_sums`] over the tokens each sequence's focus keeps (every token where it has none),
/// watched by `pass` (see [`Watch`]).
fn focused_logp_sums(
    model: &Model,
    sequences: &[SequencePair],
    focus: &[Option<&[f32]>],
    lora: &LoraContext,
    batch_size: usize,
    pass: &Pass,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(sequences.len());
    let size = batch_size.max(1);
    for (chunk, focus) in sequences.chunks(size).zip(focus.chunks(size)) {
        if pass.watch.cancel.load(Ordering::Relaxed) {
            return Err(TrainError::Cancelled);
        }
        let lp = completion_logprobs(model, chunk, lora)?;
        let sums = focused_sums(&lp, chunk, focus)?;
        out.extend(sums.0.to_vec1::<f32>()?);
        (pass.watch.scored)(pass.before + out.len(), pass.total);
    }
    Ok(out)
}

/// Each row's log-prob sum over its focus (or all its tokens), and how many tokens it kept.
fn focused_sums(
    lp: &hone_model::score::CompletionLogprobs,
    rows: &[SequencePair],
    focus: &[Option<&[f32]>],
) -> Result<(Tensor, Vec<f32>)> {
    if focus.iter().all(Option::is_none) {
        let counts = rows.iter().map(|r| r.completion.len() as f32).collect();
        return Ok((lp.sums()?, counts));
    }
    let ones: Vec<Vec<f32>> = rows.iter().map(|r| vec![1.0; r.completion.len()]).collect();
    let masks: Vec<&[f32]> = focus
        .iter()
        .zip(&ones)
        .map(|(f, all)| f.unwrap_or(all.as_slice()))
        .collect();
    let counts = masks.iter().map(|m| m.iter().sum()).collect();
    let mask = padded(&masks, lp.per_token.dim(1)?, lp.per_token.device())?;
    Ok((masked_sums(&lp.per_token, &mask)?, counts))
}

pub struct DpoSettings {
    pub beta: f64,
    pub loss_type: DpoLossType,
    pub label_smoothing: f64,
}

impl Default for DpoSettings {
    fn default() -> Self {
        Self {
            beta: 0.1,
            loss_type: DpoLossType::Sigmoid,
            label_smoothing: 0.0,
        }
    }
}

pub struct Dpo<'a> {
    model: &'a Model,
    pairs: &'a [TokenPair],
    /// Reference log-prob sums of (chosen, rejected), per pair.
    reference: Vec<(f32, f32)>,
    settings: DpoSettings,
}

impl<'a> Dpo<'a> {
    /// Caches the reference log-probs: the base model, or `reference` (a parent adapter).
    pub fn new(
        model: &'a Model,
        pairs: &'a [TokenPair],
        reference: Option<&Adapter>,
        settings: DpoSettings,
    ) -> Result<Self> {
        Self::watched(model, pairs, reference, settings, &Watch::none())
    }

    /// [`Dpo::new`], its reference pass (each pair's chosen answer, then each rejected one)
    /// watched by `watch`: a job's cancel flag (the trainer's loop checks the same one) and its
    /// progress.
    pub fn watched(
        model: &'a Model,
        pairs: &'a [TokenPair],
        reference: Option<&Adapter>,
        settings: DpoSettings,
        watch: &Watch,
    ) -> Result<Self> {
        if pairs.is_empty() {
            return Err(TrainError::Invalid {
                field: "pairs".into(),
                message: "no preference pair to train on".into(),
            });
        }
        for (i, pair) in pairs.iter().enumerate() {
            if let Some(focus) = &pair.focus {
                let sides = [
                    ("chosen", &focus.chosen, pair.chosen.len()),
                    ("rejected", &focus.rejected, pair.rejected.len()),
                ];
                for (side, mask, len) in sides {
                    if mask.len() != len || !mask.iter().any(|m| *m > 0.0) {
                        return Err(TrainError::Invalid {
                            field: format!("pairs[{i}].focus.{side}"),
                            message: format!(
                                "needs one 0/1 value per completion token ({len}) and at least one 1"
                            ),
                        });
                    }
                }
            }
        }
        let lora = LoraContext::inference(reference);
        let total = 2 * pairs.len();
        let chosen = focused_logp_sums(
            model,
            &pairs.iter().map(TokenPair::chosen).collect::<Vec<_>>(),
            &pairs.iter().map(|p| p.chosen_focus()).collect::<Vec<_>>(),
            &lora,
            REFERENCE_BATCH_ROWS,
            &Pass {
                watch,
                before: 0,
                total,
            },
        )?;
        let rejected = focused_logp_sums(
            model,
            &pairs.iter().map(TokenPair::rejected).collect::<Vec<_>>(),
            &pairs.iter().map(|p| p.rejected_focus()).collect::<Vec<_>>(),
            &lora,
            REFERENCE_BATCH_ROWS,
            &Pass {
                watch,
                before: pairs.len(),
                total,
            },
        )?;
        Ok(Self {
            model,
            pairs,
            reference: chosen.into_iter().zip(rejected).collect(),
            settings,
        })
    }

    /// The cached reference log-prob sums of pair `i`: (chosen, rejected).
    pub fn reference_logps(&self, i: usize) -> (f32, f32) {
        self.reference[i]
    }
}

impl Objective for Dpo<'_> {
    fn loss(&mut self, batch: &[usize], lora: &LoraContext) -> Result<(Tensor, Metrics, usize)> {
        let n = batch.len();
        // Chosen and rejected in one forward pass: the first n rows, then the next n.
        let mut sequences: Vec<SequencePair> =
            batch.iter().map(|&i| self.pairs[i].chosen()).collect();
        sequences.extend(batch.iter().map(|&i| self.pairs[i].rejected()));
        let tokens = sequences
            .iter()
            .map(|s| s.prompt.len() + s.completion.len())
            .sum();
        let mut focus: Vec<Option<&[f32]>> = batch
            .iter()
            .map(|&i| self.pairs[i].chosen_focus())
            .collect();
        focus.extend(batch.iter().map(|&i| self.pairs[i].rejected_focus()));
        let lp = completion_logprobs(self.model, &sequences, lora)?;
        let (sums, counts) = focused_sums(&lp, &sequences, &focus)?;
        let device = sums.device().clone();
        let vec = |values: Vec<f32>, device: &Device| Tensor::new(values.as_slice(), device);
        let ref_chosen = vec(
            batch.iter().map(|&i| self.reference[i].0).collect(),
            &device,
        )?;
        let ref_rejected = vec(
            batch.iter().map(|&i| self.reference[i].1).collect(),
            &device,
        )?;
        // The tokens each side's sum covers (IPO averages over them).
        let chosen_tokens = vec(counts[..n].to_vec(), &device)?;
        let rejected_tokens = vec(counts[n..].to_vec(), &device)?;
        let policy_chosen = sums.narrow(0, 0, n)?;
        let policy_rejected = sums.narrow(0, n, n)?;
        let inputs = PreferenceLogps {
            policy_chosen: &policy_chosen,
            policy_rejected: &policy_rejected,
            reference_chosen: &ref_chosen,
            reference_rejected: &ref_rejected,
            chosen_tokens: &chosen_tokens,
            rejected_tokens: &rejected_tokens,
        };
        let (loss, metrics) = dpo_loss(
            &inputs,
            self.settings.loss_type,
            self.settings.beta,
            self.settings.label_smoothing,
        )?;
        Ok((loss, metrics, tokens))
    }
}

/// An unpaired example: a completion that is desirable (`label`) or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabeledExample {
    pub prompt: Vec<u32>,
    pub completion: Vec<u32>,
    pub label: bool,
}

pub struct KtoSettings {
    pub beta: f64,
    pub desirable_weight: f64,
    pub undesirable_weight: f64,
}

impl Default for KtoSettings {
    fn default() -> Self {
        Self {
            beta: 0.1,
            desirable_weight: 1.0,
            undesirable_weight: 1.0,
        }
    }
}

pub struct Kto<'a> {
    model: &'a Model,
    examples: &'a [LabeledExample],
    reference_adapter: Option<&'a Adapter>,
    reference: Vec<f32>,
    settings: KtoSettings,
}

impl<'a> Kto<'a> {
    pub fn new(
        model: &'a Model,
        examples: &'a [LabeledExample],
        reference: Option<&'a Adapter>,
        settings: KtoSettings,
    ) -> Result<Self> {
        Self::watched(model, examples, reference, settings, &Watch::none())
    }

    /// [`Kto::new`], its reference pass watched by `watch` (see [`Dpo::watched`]).
    pub fn watched(
        model: &'a Model,
        examples: &'a [LabeledExample],
        reference: Option<&'a Adapter>,
        settings: KtoSettings,
        watch: &Watch,
    ) -> Result<Self> {
        if examples.is_empty() {
            return Err(TrainError::Invalid {
                field: "examples".into(),
                message: "no KTO example to train on".into(),
            });
        }
        let sequences: Vec<SequencePair> = examples
            .iter()
            .map(|e| SequencePair {
                prompt: e.prompt.clone(),
                completion: e.completion.clone(),
            })
            .collect();
        let everything = vec![None; sequences.len()];
        let lora = LoraContext::inference(reference);
        let pass = Pass {
            watch,
            before: 0,
            total: sequences.len(),
        };
        let reference_logps = focused_logp_sums(
            model,
            &sequences,
            &everything,
            &lora,
            REFERENCE_BATCH_ROWS,
            &pass,
        )?;
        Ok(Self {
            model,
            examples,
            reference_adapter: reference,
            reference: reference_logps,
            settings,
        })
    }
}

impl Objective for Kto<'_> {
    fn loss(&mut self, batch: &[usize], lora: &LoraContext) -> Result<(Tensor, Metrics, usize)> {
        let sequences: Vec<SequencePair> = batch
            .iter()
            .map(|&i| SequencePair {
                prompt: self.examples[i].prompt.clone(),
                completion: self.examples[i].completion.clone(),
            })
            .collect();
        // KL estimate: each prompt with the next example's completion (TRL's mismatched pairs),
        // policy and reference both without a graph (z is detached).
        let mismatched: Vec<SequencePair> = (0..batch.len())
            .map(|k| SequencePair {
                prompt: sequences[k].prompt.clone(),
                completion: sequences[(k + 1) % batch.len()].completion.clone(),
            })
            .collect();
        let policy_kl = logp_sums(
            self.model,
            &mismatched,
            &LoraContext::inference(lora.adapter),
            batch.len(),
        )?;
        let reference_kl = logp_sums(
            self.model,
            &mismatched,
            &LoraContext::inference(self.reference_adapter),
            batch.len(),
        )?;
        let kl: Vec<f32> = policy_kl
            .iter()
            .zip(&reference_kl)
            .map(|(p, r)| p - r)
            .collect();

        let tokens = sequences
            .iter()
            .map(|s| s.prompt.len() + s.completion.len())
            .sum();
        let sums = completion_logprobs(self.model, &sequences, lora)?.sums()?;
        let reference = Tensor::new(
            batch
                .iter()
                .map(|&i| self.reference[i])
                .collect::<Vec<_>>()
                .as_slice(),
            sums.device(),
        )?;
        let ratios = (sums - reference)?;
        let pick = |want: bool| -> Result<Tensor> {
            let idx: Vec<u32> = batch
                .iter()
                .enumerate()
                .filter(|(_, &i)| self.examples[i].label == want)
                .map(|(k, _)| k as u32)
                .collect();
            if idx.is_empty() {
                return Ok(Tensor::zeros(0, candle_core::DType::F32, ratios.device())?);
            }
            Ok(ratios.index_select(&Tensor::new(idx.as_slice(), ratios.device())?, 0)?)
        };
        let (desirable, undesirable) = (pick(true)?, pick(false)?);
        let kl = Tensor::new(kl.as_slice(), ratios.device())?;
        let inputs = KtoInputs {
            desirable: &desirable,
            undesirable: &undesirable,
            kl_pairs: &kl,
        };
        let (loss, metrics) = kto_loss(
            &inputs,
            self.settings.beta,
            self.settings.desirable_weight,
            self.settings.undesirable_weight,
        )?;
        Ok((loss, metrics, tokens))
    }
}
