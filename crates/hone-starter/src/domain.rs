//! The demo's domain: the help desk of a fictional notes app, "Quill". Twelve topics, each
//! with the ways users ask about it and the one right procedure. Answer quality here can be
//! judged by a program — the procedure is right or wrong, the tone polite or rude, the length
//! concise or padded — which is what lets a simulated expert stand in for a person.
//!
//! Everything is generated from the tables below with seeded shuffles: the same seed gives the
//! same prompts and corpus on every machine.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// One thing users ask the help desk about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic {
    pub key: &'static str,
    /// The core questions; prompts wrap them in greetings and sign-offs.
    pub questions: &'static [&'static str],
    /// The right procedure, as a clause ("open Settings, choose Security and …").
    pub steps: &'static str,
}

pub const TOPICS: [Topic; 12] = [
    Topic {
        key: "reset_password",
        questions: &[
            "How do I reset my password?",
            "I forgot my password, what do I do?",
            "Can you help me reset my password?",
            "How can I get a new password?",
        ],
        steps: "open Settings, choose Security and click Reset password",
    },
    Topic {
        key: "change_email",
        questions: &[
            "How do I change my email address?",
            "Can I use a different email for my account?",
            "How do I update the email on my account?",
        ],
        steps: "open Settings, choose Profile and edit the Email field",
    },
    Topic {
        key: "delete_account",
        questions: &[
            "How do I delete my account?",
            "I want to close my account.",
            "How can I remove my account for good?",
        ],
        steps: "open Settings, choose Privacy and click Delete account",
    },
    Topic {
        key: "export_notes",
        questions: &[
            "How do I export my notes?",
            "Can I download all my notes?",
            "How do I get a copy of my notes?",
        ],
        steps: "open the File menu and click Export all",
    },
    Topic {
        key: "two_factor",
        questions: &[
            "How do I turn on two-factor authentication?",
            "How can I add 2FA to my account?",
            "How do I make my login more secure?",
        ],
        steps: "open Settings, choose Security and switch on Two-factor",
    },
    Topic {
        key: "update_card",
        questions: &[
            "How do I update my credit card?",
            "My card expired, how do I change it?",
            "Where do I change my payment method?",
        ],
        steps: "open Billing, choose Payment and click Edit card",
    },
    Topic {
        key: "cancel_plan",
        questions: &[
            "How do I cancel my subscription?",
            "I want to stop paying for Pro.",
            "How do I end my plan?",
        ],
        steps: "open Billing, choose Plan and click Cancel plan",
    },
    Topic {
        key: "invite_teammate",
        questions: &[
            "How do I invite a teammate?",
            "Can I add a colleague to my workspace?",
            "How do I share my workspace with someone?",
        ],
        steps: "open Team, click Invite and enter their email",
    },
    Topic {
        key: "change_language",
        questions: &[
            "How do I change the language?",
            "Can I use the app in French?",
            "How do I switch the display language?",
        ],
        steps: "open Settings, choose General and pick a Language",
    },
    Topic {
        key: "restore_note",
        questions: &[
            "How do I get back a deleted note?",
            "I deleted a note by mistake.",
            "Can I restore a note I removed?",
        ],
        steps: "open the Trash and click Restore",
    },
    Topic {
        key: "dark_mode",
        questions: &[
            "How do I turn on dark mode?",
            "Can I make the app dark?",
            "How do I change the theme?",
        ],
        steps: "open Settings, choose Appearance and pick Dark",
    },
    Topic {
        key: "contact_support",
        questions: &[
            "How do I talk to a person?",
            "How can I reach support?",
            "Is there a phone number for help?",
        ],
        steps: "open Help and click Contact us",
    },
];

const GREETINGS: [&str; 5] = ["", "Hi! ", "Hello. ", "Quick question: ", "Hey, "];
const SIGN_OFFS: [&str; 3] = ["", " Thanks!", " Please help."];

/// Polite openings of an answer.
pub const ACKNOWLEDGEMENTS: [&str; 3] = ["Sure!", "Happy to help.", "Of course."];
/// What a rude answer adds; the expert's tone check looks for these.
pub const RUDE_REMARKS: [&str; 4] = [
    "Obviously.",
    "Read the manual next time.",
    "This is not hard.",
    "Ugh, again?",
];
/// The padding of a verbose answer; the expert's length check counts words.
pub const PADDING_BEFORE: [&str; 2] = [
    "Thank you so much for reaching out, I am always very happy to answer questions like this one.",
    "What a great question, and thank you for taking the time to write to us today.",
];
pub const PADDING_AFTER: [&str; 2] = [
    "I hope this helps, and please do not hesitate to write again if anything else comes up.",
    "Let me know if there is anything else at all that I can do for you, I am always here.",
];

/// How an answer is written: whether its procedure is the right one, and its tone. The
/// starter corpus mixes them independently, so the starter model is right only some of the
/// time and often rude or long-winded, whatever its tone — what feedback then fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub right: bool,
    pub tone: Tone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Polite, one sentence: what the expert wants.
    Good,
    /// A rude remark after the procedure.
    Rude,
    /// The procedure buried in padding.
    Verbose,
}

impl Style {
    pub const GOOD: Style = Style {
        right: true,
        tone: Tone::Good,
    };
}

/// A prompt of the domain and the topic it asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainPrompt {
    pub text: String,
    pub topic: usize,
}

/// The topic index of `key`.
pub fn topic_index(key: &str) -> Option<usize> {
    TOPICS.iter().position(|t| t.key == key)
}

/// Every prompt the domain can make (topic × question × greeting × sign-off), in a seeded order.
pub fn all_prompts(seed: u64) -> Vec<DomainPrompt> {
    let mut prompts: Vec<DomainPrompt> = TOPICS
        .iter()
        .enumerate()
        .flat_map(|(topic, t)| {
            t.questions.iter().flat_map(move |q| {
                GREETINGS.iter().flat_map(move |g| {
                    SIGN_OFFS.iter().map(move |s| DomainPrompt {
                        text: format!("{g}{q}{s}"),
                        topic,
                    })
                })
            })
        })
        .collect();
    prompts.shuffle(&mut StdRng::seed_from_u64(seed));
    prompts
}

/// The prompts split three ways, disjoint: the starter model's corpus, the demo's train
/// prompts (feedback is given on these) and its held-out prompts (evaluation only). Each
/// demo set covers every topic.
pub struct PromptSets {
    pub corpus: Vec<DomainPrompt>,
    pub train: Vec<DomainPrompt>,
    pub held_out: Vec<DomainPrompt>,
}

pub fn prompt_sets(seed: u64, train_per_topic: usize, held_out_per_topic: usize) -> PromptSets {
    let mut sets = PromptSets {
        corpus: Vec::new(),
        train: Vec::new(),
        held_out: Vec::new(),
    };
    let mut taken = vec![(0usize, 0usize); TOPICS.len()];
    for p in all_prompts(seed) {
        let (train, held) = &mut taken[p.topic];
        if *held < held_out_per_topic {
            *held += 1;
            sets.held_out.push(p);
        } else if *train < train_per_topic {
            *train += 1;
            sets.train.push(p);
        } else {
            sets.corpus.push(p);
        }
    }
    sets
}

/// "open Settings, …" → "Open Settings, …".
pub fn capitalised(clause: &str) -> String {
    let mut chars = clause.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The answer the expert wants for `topic`, with acknowledgement `ack`.
pub fn good_answer(topic: usize, ack: usize) -> String {
    format!(
        "{} {}.",
        ACKNOWLEDGEMENTS[ack % ACKNOWLEDGEMENTS.len()],
        capitalised(TOPICS[topic].steps)
    )
}

/// An answer to `topic` in `style`, its wording drawn from `rng`.
pub fn answer(topic: usize, style: Style, rng: &mut StdRng) -> String {
    let ack = rng.random_range(0..ACKNOWLEDGEMENTS.len());
    let steps_of = if style.right {
        topic
    } else {
        (topic + rng.random_range(1..TOPICS.len())) % TOPICS.len()
    };
    let steps = TOPICS[steps_of].steps;
    match style.tone {
        Tone::Good => good_answer(steps_of, ack),
        Tone::Rude => {
            let remark = RUDE_REMARKS[rng.random_range(0..RUDE_REMARKS.len())];
            format!("{}. {remark}", capitalised(steps))
        }
        Tone::Verbose => {
            let before = PADDING_BEFORE[rng.random_range(0..PADDING_BEFORE.len())];
            let after = PADDING_AFTER[rng.random_range(0..PADDING_AFTER.len())];
            format!("{before} To do that, {steps}. {after}")
        }
    }
}
