//! Any `adapter_config.json`: an adapter configuration that is sane to apply, or an error;
//! never a panic or a silently different adapter.
#![no_main]

use hone_model::lora::LoraConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("adapter_config.json");
    std::fs::write(&path, bytes).expect("the file written");
    if let Ok(c) = LoraConfig::from_peft_file(&path) {
        assert!((1..=4096).contains(&c.r), "r {}", c.r);
        assert!(
            c.lora_alpha > 0.0 && c.lora_alpha <= 1e6,
            "alpha {}",
            c.lora_alpha
        );
        assert!(
            (0.0..1.0).contains(&c.lora_dropout),
            "dropout {}",
            c.lora_dropout
        );
        assert!(c.scale().is_finite() && c.scale() > 0.0);
        assert!(!c.target_modules.is_empty());
    }
});
