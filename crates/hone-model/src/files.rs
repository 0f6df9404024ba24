//! Writing files so that a reader never sees half of one, and hashing them.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use crate::{ModelError, Result};

/// A new temporary file beside `path` (its folder made if missing), with the mode the umask
/// gives a new file.
fn temporary_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ModelError::file(dir, e))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".hone-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder
        .tempfile_in(dir)
        .map_err(|e| ModelError::file(dir, e))
}

/// Writes `tensors` as a safetensors file at `path`, streamed one tensor at a time to a
/// temporary file beside it and renamed (the safetensors crate's `serialize_to_file`), then
/// synced, with the mode a new file gets. `serialize` instead makes the whole file in one
/// buffer: an allocation as large as the adapter or the optimiser's moments at the end of a
/// run, above the training's peak.
pub fn write_safetensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a candle_core::Tensor)>,
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<()> {
    // The crate's temporary file is private to the user: the mode comes from one of ours.
    let probe = temporary_beside(path)?;
    let mode = probe
        .as_file()
        .metadata()
        .map_err(|e| ModelError::file(probe.path(), e))?
        .permissions();
    safetensors::serialize_to_file(tensors, metadata, path)
        .map_err(|e| ModelError::file(path, format!("cannot write safetensors: {e}")))?;
    std::fs::set_permissions(path, mode)
        .and_then(|_| File::open(path)?.sync_all())
        .map_err(|e| ModelError::file(path, e))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temporary_beside(path)?;
    tmp.write_all(bytes)
        .map_err(|e| ModelError::file(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| ModelError::file(tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| ModelError::file(path, e.error))?;
    Ok(())
}

/// The sha256 of a file, read in chunks (a model file can be many GiB).
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = File::open(path).map_err(|e| ModelError::file(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| ModelError::file(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
