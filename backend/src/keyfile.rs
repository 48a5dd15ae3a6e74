//! Key files in the data folder: made once with fresh random bytes (mode 0600),
//! read on every later start, so that a restart keeps what the key sealed.

use std::path::Path;

use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;

/// The bytes of a key given as base64 (a file's text or a variable's value); when it is not
/// base64, what is wrong with it, without the character at fault (one of the key's own).
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::DecodeError;
    STANDARD.decode(text.trim()).map_err(|error| match error {
        DecodeError::InvalidByte(offset, _) => {
            format!("it is not base64: the character at offset {offset} is not one of base64's")
        }
        DecodeError::InvalidLastSymbol(offset, _) => {
            format!("it is not base64: its last character, at offset {offset}, cannot end it")
        }
        DecodeError::InvalidLength(_) => "it is not base64: its length cannot be".into(),
        DecodeError::InvalidPadding => "it is not base64: its padding is wrong".into(),
    })
}

/// The base64 text of the key file at `path`, creating it with `len` random bytes if it is missing.
/// `what` names the key in the log line that announces a new file. A key file that others
/// than its owner may read is refused.
pub fn read_or_create(path: &Path, len: usize, what: &str) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            private_only(path)?;
            Ok(text)
        }
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

/// Writes a new key file (mode 0600), replacing one a failed attempt left behind.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    write_private(path, bytes)
}

/// Refuses a file that its group or others may read or write.
#[cfg(unix)]
pub fn private_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "its mode is {mode:o}, so other users may read it; run chmod 600 {}",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn private_only(_: &Path) -> std::io::Result<()> {
    Ok(())
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

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_file_others_may_read_is_refused_with_the_fix() {
        let dir = std::env::temp_dir().join(format!("tb-keyfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("cookie.key");
        super::read_or_create(&path, 64, "test key").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        let error = super::read_or_create(&path, 64, "test key")
            .unwrap_err()
            .to_string();

        assert!(
            error.contains("644") && error.contains("chmod 600"),
            "{error}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
