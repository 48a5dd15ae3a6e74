//! Values sealed with AES-256-GCM, as base64 text: a random 12-byte nonce, then the
//! ciphertext and its 16-byte tag, bound to associated data that says what the value is
//! (a cookie's name, a token's row and column), so that it opens nowhere else. The cookie
//! crate's private cookies have this form (`jar`), and so do the store's token columns.
//!
//! The base64 is standard and padded, written and read by base64-simd with the CPU's
//! vector instructions: the base64 crate's, a few bytes at a time, took about 30 k
//! instructions a sign-in (the exchange log's cookie alone is 1–2 KB).

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, Payload},
};
use rand::Rng;

const NONCE_LEN: usize = 12;

/// `plaintext` sealed under `cipher` for `aad`, as base64.
pub fn seal(cipher: &Aes256Gcm, plaintext: &[u8], aad: &[u8]) -> String {
    let nonce: [u8; NONCE_LEN] = rand::rng().random();
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // AES-GCM encryption fails only for inputs beyond 64 GiB.
        .unwrap_or_default();
    let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&sealed);
    base64_simd::STANDARD.encode_to_string(bytes)
}

/// The plaintext `sealed` (base64) holds, if it opens under `cipher` for `aad`.
pub fn open(cipher: &Aes256Gcm, sealed: &str, aad: &[u8]) -> Option<Vec<u8>> {
    open_bytes(cipher, &decode(sealed)?, aad)
}

/// [`open`] of a value already decoded from its base64 ([`decode`]).
pub fn open_bytes(cipher: &Aes256Gcm, bytes: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() <= NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

/// The bytes of a sealed value's base64, if it is base64.
pub fn decode(sealed: &str) -> Option<Vec<u8>> {
    base64_simd::STANDARD.decode_to_vec(sealed).ok()
}
