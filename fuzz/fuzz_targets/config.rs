//! The configuration loader on arbitrary text: TOML layers (separated by a NUL byte) through
//! `parse_layer`, then `merge_layers`, interval clamping and `Policy::from_config`; a
//! `KEY=value` override through `env_var_key` and `override_layer`; and the same text as a user's
//! detection rules file (`rules::compile`) and kinds file (`KindRegistry::parse`). Every outcome
//! is a config or a diagnostic naming its source; nothing panics.
#![no_main]

use gaffer_core::config::{self, ConfigLayer};
use gaffer_core::cycle::Policy;
use gaffer_core::detect::compile;
use gaffer_core::kinds::KindRegistry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut layers: Vec<ConfigLayer> = Vec::new();
    for (k, part) in text.split('\0').take(4).enumerate() {
        let name = format!("layer{k}.toml");
        match config::parse_layer(&name, part) {
            Ok((layer, warnings)) => {
                for w in &warnings {
                    assert_eq!(w.source_name, name);
                    let _ = w.to_string();
                }
                layers.push(layer);
            }
            Err(e) => {
                assert_eq!(e.source_name, name);
                assert!(!e.to_string().is_empty());
            }
        }
        if let Some((key, value)) = part.split_once('=') {
            let key = config::env_var_key(key.trim()).unwrap_or_else(|| key.trim().to_string());
            match config::override_layer("environment variable", &key, value) {
                Ok(layer) => layers.push(layer),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
    if let Ok(mut cfg) = config::merge_layers(&layers) {
        let _ = cfg.coordinator.clamp_intervals();
        let _ = Policy::from_config(&cfg);
    }
    let _ = config::parse_duration(&text);
    let _ = compile("rules/fuzz.toml", &text);
    let _ = KindRegistry::parse("kinds.toml", &text);
});
