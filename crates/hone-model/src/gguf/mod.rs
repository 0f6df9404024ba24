//! GGUF, llama.cpp's model file (what LM Studio, Ollama and Jan keep models in).
//!
//! - [`file`]: an open GGUF file, read by candle's reader, with typed metadata look-ups.
//! - [`export`]: a model folder or a LoRA adapter → GGUF for llama.cpp and Ollama.
//! - [`import`]: a GGUF model → a Hugging Face folder the engine loads ([`import_gguf`]).
//! - [`quantized`]: a GGUF model's matrices kept quantized, for generation and scoring.
//! - [`tokenizer`]: `tokenizer.ggml.*` → `tokenizer.json`.
//! - [`names`], [`permute`]: llama.cpp's tensor names and its Q/K row order; [`rope_freqs`]:
//!   Llama 3.1-style RoPE scaling as llama.cpp stores it.
//! - [`model_folder`]: any model path (folder or `.gguf`) → a folder, importing a GGUF file
//!   once into a cache keyed by its sha256.

pub mod export;
pub mod file;
pub mod import;
pub mod names;
pub mod permute;
pub mod quantized;
mod read_blocks;
pub mod rope_freqs;
pub mod tokenizer;

use std::path::{Path, PathBuf};

pub use crate::files::sha256_file;
pub use export::{export_lora_gguf, export_model_gguf, ollama_modelfile, GgufExport, GgufQuant};
pub use file::{is_gguf, GgufFile};
pub use import::{import_gguf, GgufSource, ImportReport, SOURCE_FILE};

use crate::files::write_atomically;
use crate::{ModelError, Result};

/// The folder of a model given as a folder or as a GGUF file. A GGUF file is imported once into
/// `cache/<sha256>/`; later calls find it there. The sha256 of a file seen before (same path,
/// size and modification time) is remembered in `cache/paths/`, so a multi-GiB file is not
/// hashed again on every command.
pub fn model_folder(path: &Path, cache: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        return Ok(path.to_owned());
    }
    if !path.is_file() {
        return Err(ModelError::file(
            path,
            "does not exist (expected a model folder or a .gguf file)",
        ));
    }
    if !is_gguf(path) {
        return Err(ModelError::file(
            path,
            "is neither a model folder nor a GGUF file",
        ));
    }
    let sha256 = remembered_sha256(path, cache)?;
    let dir = cache.join(&sha256);
    if GgufSource::read(&dir).is_some_and(|s| s.sha256 == sha256) {
        return Ok(dir);
    }
    tracing::info!(file = %path.display(), into = %dir.display(), "importing the GGUF file (once)");
    match import_gguf(path, &dir) {
        Ok(_) => Ok(dir),
        // Another process imported the same file meanwhile: its folder is as good as ours.
        Err(_) if GgufSource::read(&dir).is_some_and(|s| s.sha256 == sha256) => Ok(dir),
        Err(e) => Err(e),
    }
}

fn remembered_sha256(path: &Path, cache: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let canonical = std::fs::canonicalize(path).map_err(|e| ModelError::file(path, e))?;
    let meta = std::fs::metadata(&canonical).map_err(|e| ModelError::file(path, e))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let stamp = format!("{}\n{}\n{}", canonical.display(), meta.len(), modified);
    let key = hex::encode(Sha256::digest(stamp.as_bytes()));
    let remembered = cache.join("paths").join(key);
    if let Ok(text) = std::fs::read_to_string(&remembered) {
        if let Some((seen, sha)) = text.rsplit_once('\n') {
            if seen == stamp && sha.len() == 64 {
                return Ok(sha.to_owned());
            }
        }
    }
    let sha = sha256_file(path)?;
    write_atomically(&remembered, format!("{stamp}\n{sha}").as_bytes())?;
    Ok(sha)
}
