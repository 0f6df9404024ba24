//! Writing files so that a reader never sees half of one, and hashing them.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use crate::{ModelError, Result};

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ModelError::file(dir, e))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".hone-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| ModelError::file(dir, e))?;
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
