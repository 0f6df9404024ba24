//! The token-level feedback flags `hone train` and `hone demo` share.

use hone_core::finetune::TokenLevel;
use hone_core::train::token_losses::NegativeTerm;
use hone_core::train::token_weights::{EditWeights, SpanWeights};

#[derive(clap::Args)]
pub struct TokenLevelArgs {
    /// Token-level feedback, a comma-separated list: `edits` (an edit trains on the tokens the
    /// expert changed: likelihood on added, unlikelihood on removed), `spans` (unlikelihood on
    /// tokens marked wrong, likelihood on tokens marked good), `pairs` (an edit's DPO pair compares only the changed tokens), `all`, or
    /// `none`. Without it, a project's own settings (`hone project token-level`).
    #[arg(long, value_delimiter = ',')]
    token_level: Vec<TokenLevelPart>,
    /// Token-level edit weights: added,kept,removed (default 1,1,1).
    #[arg(long, value_delimiter = ',')]
    edit_weights: Option<Vec<f32>>,
    /// Token-level span weights: inside,outside[,good] (default 1,0,1): a token marked wrong,
    /// an unmarked token, a token marked good.
    #[arg(long, value_delimiter = ',')]
    span_weights: Option<Vec<f32>>,
    /// The loss against a removed or marked token: unlikelihood (the default) or npo (bounded,
    /// anchored to the model before training).
    #[arg(long)]
    negative_loss: Option<NegativeLoss>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum NegativeLoss {
    Npo,
    Unlikelihood,
}

/// A part of token-level feedback `--token-level` turns on.
#[derive(Clone, Copy, clap::ValueEnum)]
enum TokenLevelPart {
    Edits,
    Spans,
    Pairs,
    All,
    None,
}

/// `--flag`'s values, `n` of them (named `names`), or a clear error.
fn exactly<'a>(flag: &str, values: &'a [f32], names: &[&str]) -> anyhow::Result<&'a [f32]> {
    if values.len() != names.len() {
        return Err(super::BadInput(format!(
            "{flag} takes {} comma-separated numbers ({}), not {}",
            names.len(),
            names.join(","),
            values.len()
        ))
        .into());
    }
    Ok(values)
}

impl TokenLevelArgs {
    /// Whether no flag was given.
    pub fn is_empty(&self) -> bool {
        self.token_level.is_empty()
            && self.edit_weights.is_none()
            && self.span_weights.is_none()
            && self.negative_loss.is_none()
    }

    /// Applies the flags to `t` (a recipe's or the demo's).
    pub fn apply(&self, t: &mut TokenLevel) -> anyhow::Result<()> {
        for part in &self.token_level {
            match part {
                TokenLevelPart::Edits => t.edits = true,
                TokenLevelPart::Spans => t.spans = true,
                TokenLevelPart::Pairs => t.edit_pairs = true,
                TokenLevelPart::All => (t.edits, t.spans, t.edit_pairs) = (true, true, true),
                TokenLevelPart::None => (t.edits, t.spans, t.edit_pairs) = (false, false, false),
            }
        }
        match self.negative_loss {
            Some(NegativeLoss::Npo) => t.negative = NegativeTerm::Npo { beta: 0.1 },
            Some(NegativeLoss::Unlikelihood) => t.negative = NegativeTerm::Unlikelihood,
            None => {}
        }
        if let Some(w) = &self.edit_weights {
            let w = exactly("--edit-weights", w, &["added", "kept", "removed"])?;
            t.edit_weights = EditWeights {
                added: w[0],
                kept: w[1],
                removed: w[2],
            };
        }
        if let Some(w) = &self.span_weights {
            // The good weight is optional: it came after the other two.
            if !(2..=3).contains(&w.len()) {
                return Err(super::BadInput(format!(
                    "--span-weights takes 2 or 3 comma-separated numbers (inside,outside[,good]), not {}",
                    w.len()
                ))
                .into());
            }
            t.span_weights = SpanWeights {
                inside: w[0],
                outside: w[1],
                good: w.get(2).copied().unwrap_or(t.span_weights.good),
            };
        }
        Ok(())
    }
}

/// A project's token-level settings, as `hone project token-level` shows them.
pub fn print(project: &str, t: &TokenLevel) {
    let on: Vec<&str> = [
        (t.edits, "edits"),
        (t.spans, "spans"),
        (t.edit_pairs, "pairs"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    let negative = match t.negative {
        NegativeTerm::Unlikelihood => "unlikelihood".to_owned(),
        NegativeTerm::Npo { beta } => format!("npo (beta {beta})"),
    };
    crate::output::say!(
        "{project}: token-level {}; edit weights added {} kept {} removed {}; span weights inside {} outside {} good {}; against a token: {negative}",
        if on.is_empty() { "off".to_owned() } else { on.join(", ") },
        t.edit_weights.added,
        t.edit_weights.kept,
        t.edit_weights.removed,
        t.span_weights.inside,
        t.span_weights.outside,
        t.span_weights.good,
    );
}
