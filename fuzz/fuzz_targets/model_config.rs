//! Any `config.json`: a model whose shapes fit together, or an error that names the field;
//! never a panic or a silently impossible model.
#![no_main]

use hone_model::config::Config;
use hone_model::ModelError;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    match Config::from_value(json) {
        Ok(c) => {
            assert!(c.hidden_size > 0 && c.vocab_size > 0 && c.num_hidden_layers > 0);
            assert!(c.num_key_value_heads > 0);
            assert_eq!(c.num_attention_heads % c.num_key_value_heads, 0);
            assert_eq!(c.head_dim % 2, 0);
            assert!(c.rms_norm_eps > 0.0 && c.rms_norm_eps < 1.0);
            assert!(c.rope_theta.is_finite() && c.rope_theta > 1.0);
        }
        Err(ModelError::Config { field, .. }) => assert!(!field.is_empty(), "no field named"),
        // Not an object, or an architecture Hone does not run: said as such.
        Err(other) => assert!(!other.to_string().is_empty(), "an empty error"),
    }
});
