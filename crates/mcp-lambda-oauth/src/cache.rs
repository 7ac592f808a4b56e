//! Tokens already validated: a client sends the same token with every request, so after the
//! first, a token costs one SHA-256 and a lookup instead of a signature check.
//!
//! Contract: [`Validated::get`] gives the claims of a token validated for the same resource
//! while it is still before its `exp` (no leeway here) and at most [`MAX_TTL`] after it was
//! validated; entries are keyed by SHA-256 of resource and token (the token itself is not kept).
//! At most [`MAX_ENTRIES`]: when full, expired entries go first, then everything.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::token::Claims;

/// Most tokens remembered.
pub const MAX_ENTRIES: usize = 4096;

/// Longest a validation is reused (a key the issuer withdrew stops working within this).
pub const MAX_TTL: Duration = Duration::from_secs(300);

/// The cache (see the module docs).
#[derive(Default)]
pub struct Validated {
    map: Mutex<HashMap<[u8; 32], (Claims, SystemTime)>>,
}

fn key(resource: &str, token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(resource.as_bytes());
    h.update([0u8]);
    h.update(token.as_bytes());
    h.finalize().into()
}

impl Validated {
    /// The claims of `token` for `resource`, if validated and still good.
    pub fn get(&self, resource: &str, token: &str) -> Option<Claims> {
        let k = key(resource, token);
        let mut map = self.map.lock().ok()?;
        match map.get(&k) {
            Some((claims, until)) if SystemTime::now() < *until => Some(claims.clone()),
            Some(_) => {
                map.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Remembers that `token` is valid for `resource` with `claims`.
    pub fn put(&self, resource: &str, token: &str, claims: &Claims) {
        let now = SystemTime::now();
        let until = (UNIX_EPOCH + Duration::from_secs(claims.expires)).min(now + MAX_TTL);
        if until <= now {
            return;
        }
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (_, u)| *u > now);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key(resource, token), (claims.clone(), until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires: u64) -> Claims {
        Claims {
            issuer: "i".into(),
            subject: "s".into(),
            scopes: vec![],
            expires,
        }
    }

    #[test]
    fn hits_only_for_the_same_resource_and_until_exp() {
        let c = Validated::default();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        c.put("r", "t", &claims(now + 3600));
        assert_eq!(c.get("r", "t"), Some(claims(now + 3600)));
        assert_eq!(c.get("other", "t"), None);
        assert_eq!(c.get("r", "u"), None);
        c.put("r", "old", &claims(now.saturating_sub(1)));
        assert_eq!(c.get("r", "old"), None);
    }

    #[test]
    fn it_stays_bounded() {
        let c = Validated::default();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        for i in 0..MAX_ENTRIES + 10 {
            c.put("r", &i.to_string(), &claims(now + 3600));
        }
        assert!(c.map.lock().map(|m| m.len()).unwrap_or(0) <= MAX_ENTRIES);
    }
}
