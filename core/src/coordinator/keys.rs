//! API keys: minting them, and the salted hash that is all the coordinator
//! ever stores. Lookups go by hash; the final comparison is constant-time.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Mints a new API key: 16 random bytes as 22 URL-safe characters, like upstream.
pub fn new_api_key() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a key: hex SHA-256 of the operator's salt and the key.
pub fn hash_key(salt: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(key.as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    out
}

/// Compares two stored hashes in constant time.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hash_stably() {
        let a = new_api_key();
        assert_eq!(a.len(), 22);
        assert_ne!(a, new_api_key());
        let h = hash_key("salt", &a);
        assert_eq!(h.len(), 64);
        assert!(hashes_equal(&h, &hash_key("salt", &a)));
        assert!(!hashes_equal(&h, &hash_key("pepper", &a)));
    }
}
