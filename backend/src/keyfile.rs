//! Key files in the data folder: made once with fresh random bytes (mode 0600),
//! read on every later start, so that a restart keeps what the key sealed.

use std::path::Path;

use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;

/// The base64 text of the key file at `path`, creating it with `len` random bytes if it is missing.
/// `what` names the key in the log line that announces a new file.
pub fn read_or_create(path: &Path, len: usize, what: &str) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let mut key = vec![0u8; len];
            rand::rng().fill_bytes(&mut key);
            let text = STANDARD.encode(&key);
            match write_private(path, text.as_bytes()) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "created a new {what} file (mode 0600); back it up with the database");
                    Ok(text)
                }
                // Another instance made it first: use theirs.
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::fs::read_to_string(path)
                }
                Err(error) => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
