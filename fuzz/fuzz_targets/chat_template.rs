//! Any chat template rendering any conversation: a text within the output bound, or an error
//! with a message; never a panic, a hang past the template's fuel, or unbounded memory.
//!
//! The input is the template's source, a NUL byte, then one message per line as `role:content`
//! (a first line `+` asks for the generation prompt), so real templates seed the corpus.
#![no_main]

use hone_model::chat_template::{ChatTemplate, Message, TEMPLATE_OUTPUT_SLACK};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(input) = std::str::from_utf8(bytes) else {
        return;
    };
    let (source, conversation) = input.split_once('\0').unwrap_or((input, ""));
    let generation = conversation.starts_with('+');
    let messages: Vec<Message> = conversation
        .trim_start_matches('+')
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(role, content)| Message::new(role, content.replace("\\n", "\n")))
        .collect();
    let Ok(template) = ChatTemplate::new(source, "<s>", "</s>") else {
        return;
    };
    let text: usize = messages
        .iter()
        .map(|m| m.content.len() + m.role.len())
        .sum();
    match template.render(&messages, generation) {
        Ok(out) => assert!(
            out.len() <= 2 * text + TEMPLATE_OUTPUT_SLACK,
            "{} bytes rendered from {text}",
            out.len()
        ),
        Err(e) => assert!(!e.to_string().trim().is_empty(), "an empty error"),
    }
});
