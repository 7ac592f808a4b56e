//! Authenticated encryption of small records that travel through clients (session tokens,
//! 2026-07-28 `requestState`): XChaCha20-Poly1305 with a random 192-bit nonce per value.
//!
//! Contract: [`Sealer::seal`] gives `prefix` + base64url(nonce ‖ ciphertext); [`Sealer::open`]
//! returns the plaintext only for a value sealed with one of its keys under the same purpose
//! label (the associated data) and prefix — tampered, truncated, foreign or over-long values are
//! all `None`. The first key seals, every key opens (rotation).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// Seals and opens values for one purpose.
pub struct Sealer {
    ciphers: Vec<XChaCha20Poly1305>,
    prefix: &'static str,
    aad: &'static [u8],
    max_len: usize,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.ciphers.len())
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Sealer {
    /// A sealer with `keys` (the first seals; `None` without keys), for values starting with
    /// `prefix`, bound to the purpose label `aad`, refusing to open values over `max_len` bytes.
    pub fn new(
        keys: &[[u8; 32]],
        prefix: &'static str,
        aad: &'static [u8],
        max_len: usize,
    ) -> Option<Self> {
        if keys.is_empty() {
            return None;
        }
        Some(Self {
            ciphers: keys
                .iter()
                .map(|k| XChaCha20Poly1305::new(Key::from_slice(k)))
                .collect(),
            prefix,
            aad,
            max_len,
        })
    }

    /// A sealer with a fresh random key: values open only in this process.
    pub fn ephemeral(prefix: &'static str, aad: &'static [u8], max_len: usize) -> Self {
        let key: [u8; 32] = rand::random();
        Self {
            ciphers: vec![XChaCha20Poly1305::new(Key::from_slice(&key))],
            prefix,
            aad,
            max_len,
        }
    }

    /// Seals `plain`; `None` only if encryption itself fails.
    pub fn seal(&self, plain: &[u8]) -> Option<String> {
        let cipher = self.ciphers.first()?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: self.aad,
                },
            )
            .ok()?;
        let mut raw = Vec::with_capacity(nonce.len() + sealed.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        Some(format!("{}{}", self.prefix, URL_SAFE_NO_PAD.encode(raw)))
    }

    /// `true` if `value` looks like one of ours (by its prefix; not verified).
    pub fn is_ours(&self, value: &str) -> bool {
        value.starts_with(self.prefix)
    }

    /// The plaintext of a value this sealer's keys sealed, else `None`.
    pub fn open(&self, value: &str) -> Option<Vec<u8>> {
        if value.len() > self.max_len {
            return None;
        }
        let raw = URL_SAFE_NO_PAD
            .decode(value.strip_prefix(self.prefix)?)
            .ok()?;
        if raw.len() < 24 + 16 {
            return None;
        }
        let (nonce, sealed) = raw.split_at(24);
        let nonce = XNonce::from_slice(nonce);
        self.ciphers.iter().find_map(|c| {
            c.decrypt(
                nonce,
                Payload {
                    msg: sealed,
                    aad: self.aad,
                },
            )
            .ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_rotation_and_tampering() {
        let a = Sealer::new(&[[1; 32]], "x1.", b"test", 4096).unwrap();
        let s = a.seal(b"hello").unwrap();
        assert!(s.starts_with("x1.") && a.is_ours(&s));
        assert_eq!(a.open(&s).as_deref(), Some(&b"hello"[..]));
        // Rotation: a new first key still opens the old value.
        let b = Sealer::new(&[[2; 32], [1; 32]], "x1.", b"test", 4096).unwrap();
        assert_eq!(b.open(&s).as_deref(), Some(&b"hello"[..]));
        // Another purpose, another key, a changed byte, a long value: nothing.
        let other = Sealer::new(&[[1; 32]], "x1.", b"other", 4096).unwrap();
        assert!(other.open(&s).is_none());
        assert!(
            Sealer::new(&[[3; 32]], "x1.", b"test", 4096)
                .unwrap()
                .open(&s)
                .is_none()
        );
        let mut t = s.clone().into_bytes();
        let last = t.len() - 1;
        t[last] = if t[last] == b'A' { b'B' } else { b'A' };
        assert!(a.open(&String::from_utf8(t).unwrap()).is_none());
        assert!(
            Sealer::new(&[[1; 32]], "x1.", b"test", 10)
                .unwrap()
                .open(&s)
                .is_none()
        );
        assert!(Sealer::new(&[], "x1.", b"test", 10).is_none());
        let e = Sealer::ephemeral("x1.", b"test", 4096);
        assert_eq!(e.open(&e.seal(b"z").unwrap()).as_deref(), Some(&b"z"[..]));
    }
}
