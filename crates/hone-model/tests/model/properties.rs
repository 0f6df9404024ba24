//! Property tests of what Hone reads from a model folder (issue 17): `config.json`,
//! `adapter_config.json` and chat templates with any values give a usable result or an error
//! that names the field, never a panic or a silently impossible model; a template, however
//! hostile, returns within its fuel and output bounds.

use hone_model::chat_template::{ChatTemplate, Message, TEMPLATE_OUTPUT_SLACK};
use hone_model::config::Config;
use hone_model::lora::LoraConfig;
use hone_model::ModelError;
use proptest::prelude::*;
use serde_json::{json, Value};

/// A JSON value of the kinds config files hold, valid and not.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop::sample::select(vec![0i64, 1, 2, 3, 4, 8, 16, 64, 576, 4096, -1, -64])
            .prop_map(Value::from),
        prop::sample::select(vec![
            0.0, 1e-6, 1e-5, 0.5, 1.0, 10_000.0, -1.0, 1e308, 1e-320
        ])
        .prop_map(Value::from),
        Just(Value::from("8")),
        Just(Value::from("silu")),
        Just(json!([1, 2])),
        Just(json!({"rope_type": "llama3", "factor": 8.0})),
    ]
}

const CONFIG_FIELDS: [&str; 14] = [
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "rms_norm_eps",
    "rope_theta",
    "max_position_embeddings",
    "tie_word_embeddings",
    "hidden_act",
    "rope_scaling",
    "sliding_window",
];

fn valid_config() -> serde_json::Map<String, Value> {
    let json = json!({
        "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 100, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "max_position_embeddings": 256, "hidden_act": "silu"
    });
    json.as_object().unwrap().clone()
}

fn peft_config() -> serde_json::Map<String, Value> {
    let json = json!({
        "peft_type": "LORA", "r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
        "target_modules": ["q_proj", "v_proj"], "bias": "none", "use_rslora": false
    });
    json.as_object().unwrap().clone()
}

/// A few of `fields` replaced by arbitrary values (or removed, as `Null` stands for).
fn edits(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    prop::collection::vec((prop::sample::select(fields), value()), 1..4)
}

fn apply(mut base: serde_json::Map<String, Value>, edits: &[(&str, Value)]) -> Value {
    for (field, v) in edits {
        match v {
            Value::Null => base.remove(*field),
            v => base.insert((*field).to_string(), v.clone()),
        };
    }
    Value::Object(base)
}

/// Template pieces: real chat-template syntax and the constructs a hostile one uses.
fn template() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "{% for m in messages %}",
        "{% endfor %}",
        "{{ m.content }}",
        "{{ m['role'] }}",
        "{% if add_generation_prompt %}<|assistant|>{% endif %}",
        "{% if m.role == 'user' %}",
        "{% endif %}",
        "{{ bos_token }}",
        "{{ raise_exception('no system role') }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% set ns = namespace(s='ab') %}",
        "{{ 'abc' * 1000000 }}",
        "{{ messages | tojson }}",
        "{{ strftime_now('%Y') }}",
        "<|im_start|>",
        "\n",
        "{{",
        "{%",
        "}}",
        "text",
    ]);
    prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat())
}

fn messages() -> impl Strategy<Value = Vec<Message>> {
    let role = prop::sample::select(vec!["system", "user", "assistant", "tool"]);
    prop::collection::vec((role, "[a-z {}%'\"]{0,12}"), 0..5).prop_map(|m| {
        m.into_iter()
            .map(|(role, content)| Message::new(role, content))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_config_values_load_a_consistent_model_or_name_the_field(
        edits in edits(&CONFIG_FIELDS)
    ) {
        match Config::from_value(apply(valid_config(), &edits)) {
            Ok(c) => {
                prop_assert!(c.hidden_size > 0 && c.vocab_size > 0 && c.num_hidden_layers > 0);
                prop_assert!(c.num_key_value_heads > 0);
                prop_assert_eq!(c.num_attention_heads % c.num_key_value_heads, 0);
                prop_assert_eq!(c.head_dim % 2, 0);
                prop_assert!(c.rms_norm_eps > 0.0 && c.rms_norm_eps < 1.0);
                prop_assert!(c.rope_theta.is_finite() && c.rope_theta > 1.0);
            }
            Err(ModelError::Config { field, .. }) => {
                prop_assert!(
                    CONFIG_FIELDS.contains(&field.as_str()) || field.starts_with("rope_scaling"),
                    "the error names {field:?}, not a field of the file"
                );
            }
            Err(other) => prop_assert!(false, "{edits:?}: {other}"),
        }
    }

    #[test]
    fn any_adapter_config_values_give_a_sane_adapter_or_name_the_field(
        edits in edits(&["r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora", "bias"])
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adapter_config.json");
        std::fs::write(&path, apply(peft_config(), &edits).to_string()).unwrap();
        match LoraConfig::from_peft_file(&path) {
            Ok(c) => {
                prop_assert!((1..=4096).contains(&c.r), "r {}", c.r);
                prop_assert!(c.lora_alpha > 0.0 && c.lora_alpha <= 1e6, "alpha {}", c.lora_alpha);
                prop_assert!((0.0..1.0).contains(&c.lora_dropout), "dropout {}", c.lora_dropout);
                prop_assert!(c.scale().is_finite() && c.scale() > 0.0);
                prop_assert!(!c.target_modules.is_empty());
            }
            Err(ModelError::Config { field, .. }) => {
                prop_assert!(edits.iter().any(|(f, _)| *f == field), "{field} was not edited: {edits:?}");
            }
            Err(other) => prop_assert!(false, "{edits:?}: {other}"),
        }
    }

    #[test]
    fn any_template_renders_within_its_bounds_or_fails_with_a_message(
        source in template(),
        messages in messages(),
        generation in any::<bool>(),
    ) {
        let Ok(template) = ChatTemplate::new(&source, "<s>", "</s>") else {
            return Ok(());
        };
        let text: usize = messages.iter().map(|m| m.content.len() + m.role.len()).sum();
        match template.render(&messages, generation) {
            Ok(out) => prop_assert!(out.len() <= 2 * text + TEMPLATE_OUTPUT_SLACK),
            Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
        }
    }
}
