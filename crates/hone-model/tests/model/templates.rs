use hone_model::chat_template::{ChatTemplate, Message};
use serde_json::Value;

use crate::fixtures;

#[test]
fn chat_templates_render_as_transformers_apply_chat_template() {
    let cases: Vec<Value> =
        serde_json::from_slice(&std::fs::read(fixtures().join("chat_templates.json")).unwrap())
            .unwrap();
    assert!(cases.len() >= 20, "the fixture holds the cases");
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let template = ChatTemplate::new(
            case["template"].as_str().unwrap(),
            case["bos_token"].as_str().unwrap(),
            case["eos_token"].as_str().unwrap(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let messages: Vec<Message> = serde_json::from_value(case["messages"].clone()).unwrap();
        let rendered = template.render(&messages, case["add_generation_prompt"].as_bool().unwrap());
        if let Some(error) = case.get("expected_error").and_then(Value::as_str) {
            let err = rendered.expect_err(name).to_string();
            assert!(
                err.contains(error),
                "{name}: the template's own exception message: {err}"
            );
        } else if let Some(expected) = case["expected"].as_str() {
            assert_eq!(
                rendered.unwrap_or_else(|e| panic!("{name}: {e}")),
                expected,
                "{name}"
            );
        } else {
            let pattern = regex::Regex::new(case["expected_pattern"].as_str().unwrap()).unwrap();
            let text = rendered.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                pattern.is_match(&text),
                "{name}: {text:?} does not match {pattern}"
            );
        }
    }
}
