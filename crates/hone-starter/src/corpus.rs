//! The starter model's training corpus: conversations between a user and the help desk, the
//! answers drawn from a mix of styles so that the trained model is mediocre in the ways the
//! expert's feedback can fix.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::{answer, DomainPrompt, Style, Tone};

/// One user question and the help desk's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub question: String,
    pub answer: String,
    pub style: Style,
}

/// How often a corpus answer has the right procedure (the starter model is right about this
/// often), and the share of each tone; the two are drawn independently.
pub const RIGHT_SHARE: f64 = 0.6;
pub const TONE_MIX: [(Tone, f64); 3] = [
    (Tone::Good, 0.35),
    (Tone::Rude, 0.30),
    (Tone::Verbose, 0.35),
];

fn draw_style(rng: &mut StdRng) -> Style {
    let right = rng.random::<f64>() < RIGHT_SHARE;
    let mut u: f64 = rng.random();
    for (tone, share) in TONE_MIX {
        if u < share {
            return Style { right, tone };
        }
        u -= share;
    }
    Style {
        right,
        tone: Tone::Verbose,
    }
}

/// `per_prompt` conversations for each prompt, styles drawn from [`RIGHT_SHARE`] and [`TONE_MIX`].
pub fn conversations(prompts: &[DomainPrompt], per_prompt: usize, seed: u64) -> Vec<Conversation> {
    let mut rng = StdRng::seed_from_u64(seed);
    prompts
        .iter()
        .flat_map(|p| std::iter::repeat_n(p, per_prompt))
        .map(|p| {
            let style = draw_style(&mut rng);
            Conversation {
                question: p.text.clone(),
                answer: answer(p.topic, style, &mut rng),
                style,
            }
        })
        .collect()
}
