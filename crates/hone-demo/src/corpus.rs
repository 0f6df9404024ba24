//! The starter model's training corpus: conversations between a user and the help desk, the
//! answers drawn from a mix of styles so that the trained model is mediocre in the ways the
//! expert's feedback can fix.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::{answer, DomainPrompt, Style};

/// One user question and the help desk's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub question: String,
    pub answer: String,
    pub style: Style,
}

/// The share of each style in the corpus (the starter model reproduces roughly this mix).
pub const STYLE_MIX: [(Style, f64); 4] = [(Style::Good, 0.25), (Style::Wrong, 0.30), (Style::Rude, 0.20), (Style::Verbose, 0.25)];

fn draw_style(rng: &mut StdRng) -> Style {
    let mut u: f64 = rng.random();
    for (style, share) in STYLE_MIX {
        if u < share {
            return style;
        }
        u -= share;
    }
    Style::Verbose
}

/// `per_prompt` conversations for each prompt, styles drawn from [`STYLE_MIX`].
pub fn conversations(prompts: &[DomainPrompt], per_prompt: usize, seed: u64) -> Vec<Conversation> {
    let mut rng = StdRng::seed_from_u64(seed);
    prompts
        .iter()
        .flat_map(|p| std::iter::repeat_n(p, per_prompt))
        .map(|p| {
            let style = draw_style(&mut rng);
            Conversation { question: p.text.clone(), answer: answer(p.topic, style, &mut rng), style }
        })
        .collect()
}
