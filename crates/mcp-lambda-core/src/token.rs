//! Sessions with no database: the `Mcp-Session-Id` *is* the session, sealed.
//!
//! Contract:
//! - A handle is `mlt1.` + base64url(nonce ‖ ciphertext): XChaCha20-Poly1305 (a random 192-bit
//!   nonce per token, so random nonces never collide in practice) over a small JSON record — the
//!   session id, negotiated version, the client's initialize params, principal, creation and
//!   expiry — with a fixed associated-data label. Any instance holding the key can open it.
//! - Several keys may be configured for rotation: the first seals, every key is tried to open.
//! - Tampered, truncated, foreign-key and expired tokens are all `Ok(None)` (a 404 to the client,
//!   exactly like an unknown id). Nothing distinguishes them to a caller.
//! - Tokens cannot be revoked without shared state: [`SessionStore::can_delete`] is `false` (the
//!   gateway answers DELETE with 405) and the lifetime is absolute (no refresh): keep it short.
//! - Handles stay under [`MAX_HANDLE`] bytes, which every HTTP hop accepts in a header: when the
//!   client's initialize params would make a token larger, only `protocolVersion`, `clientInfo`
//!   and `capabilities` are kept, and if that is still too large, `capabilities` is emptied.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::sealed::Sealer;
use crate::session::{Session, SessionStore, StoreError};

/// Prefix (and format version) of every handle.
const PREFIX: &str = "mlt1.";
/// Associated data: binds tokens to this purpose.
const AAD: &[u8] = b"mcp-lambda session token v1";
/// Largest handle we issue, in bytes.
pub const MAX_HANDLE: usize = 4096;

/// Why a key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key was given.
    #[error("no key given: set 32-byte keys as 64 hex characters or base64, comma-separated")]
    Empty,
    /// A key is not 32 bytes of hex or base64.
    #[error("key {index} is not 32 bytes as 64 hex characters or base64")]
    Malformed {
        /// 1-based position in the list.
        index: usize,
    },
    /// A `file:` entry could not be read.
    #[error("cannot read key file {path}: {reason}")]
    File {
        /// The path.
        path: String,
        /// The OS error.
        reason: String,
    },
}

/// Parses keys: comma- or newline-separated entries, each 64 hex characters or the base64 of 32
/// bytes, or `file:PATH` naming a file of such entries.
pub fn parse_keys(spec: &str) -> Result<Vec<[u8; 32]>, KeyError> {
    parse_key_entries(spec, None)
}

/// [`parse_keys`]; `in_file` names the file `spec` was read from (a key file holds keys only:
/// a `file:` entry inside one would let a file name itself).
fn parse_key_entries(spec: &str, in_file: Option<&str>) -> Result<Vec<[u8; 32]>, KeyError> {
    let mut keys = Vec::new();
    for entry in spec
        .split([',', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        if let Some(path) = entry.strip_prefix("file:") {
            if let Some(outer) = in_file {
                return Err(KeyError::File {
                    path: outer.to_owned(),
                    reason: format!("a key file holds keys, not file: entries ({entry})"),
                });
            }
            let text = std::fs::read_to_string(path).map_err(|e| KeyError::File {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            keys.extend(parse_key_entries(&text, Some(path))?);
            continue;
        }
        let index = keys.len() + 1;
        keys.push(parse_key(entry).ok_or(KeyError::Malformed { index })?);
    }
    if keys.is_empty() {
        return Err(KeyError::Empty);
    }
    Ok(keys)
}

fn parse_key(s: &str) -> Option<[u8; 32]> {
    let bytes = if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        STANDARD.decode(s).ok()?
    };
    bytes.try_into().ok()
}

#[derive(Serialize, Deserialize)]
struct Record<'a> {
    /// Session id.
    i: String,
    /// Negotiated protocol version.
    v: String,
    /// The client's initialize params.
    #[serde(borrow)]
    p: &'a RawValue,
    /// Principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<String>,
    /// Created, epoch seconds.
    c: u64,
    /// Expires, epoch seconds.
    e: u64,
}

/// Sealed-token sessions. See the module docs.
#[derive(Debug)]
pub struct TokenStore {
    sealer: Sealer,
    ttl: Duration,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TokenStore {
    /// A store sealing with `keys[0]` and opening with any of `keys`; tokens live `ttl`.
    pub fn new(keys: &[[u8; 32]], ttl: Duration) -> Result<Self, KeyError> {
        let sealer = Sealer::new(keys, PREFIX, AAD, MAX_HANDLE).ok_or(KeyError::Empty)?;
        Ok(Self { sealer, ttl })
    }

    fn seal(&self, record: &Record<'_>) -> Result<String, StoreError> {
        let plain = serde_json::to_vec(record)
            .map_err(|e| StoreError::Unavailable(format!("cannot encode the session: {e}")))?;
        self.sealer
            .seal(&plain)
            .ok_or_else(|| StoreError::Unavailable("cannot seal the session".into()))
    }

    /// Seals `plain` as it is (for the fuzz targets: tokens whose plaintext is arbitrary).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn seal_raw(&self, plain: &[u8]) -> Option<String> {
        self.sealer.seal(plain)
    }

    fn open(&self, handle: &str) -> Option<Vec<u8>> {
        self.sealer.open(handle)
    }
}

/// The params to carry, reduced step by step if the token would be too large.
fn reduced_params(params: &str, step: usize) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(params).ok()?;
    let pick = |keys: &[&str]| {
        let mut out = serde_json::Map::new();
        for k in keys {
            if let Some(x) = v.get(*k) {
                out.insert((*k).to_owned(), x.clone());
            }
        }
        serde_json::Value::Object(out)
    };
    match step {
        1 => Some(pick(&["protocolVersion", "clientInfo", "capabilities"]).to_string()),
        2 => {
            // What the server's requests to the client depend on stays declared; the details go.
            let mut p = pick(&["protocolVersion", "clientInfo"]);
            let declared: serde_json::Map<String, serde_json::Value> = v
                .get("capabilities")
                .and_then(serde_json::Value::as_object)
                .map(|c| {
                    ["roots", "sampling", "elicitation", "tasks"]
                        .into_iter()
                        .filter(|k| c.get(*k).is_some_and(serde_json::Value::is_object))
                        .map(|k| (k.to_owned(), serde_json::json!({})))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(o) = p.as_object_mut() {
                o.insert("capabilities".into(), serde_json::Value::Object(declared));
            }
            Some(p.to_string())
        }
        _ => None,
    }
}

#[async_trait]
impl SessionStore for TokenStore {
    async fn create(&self, session: &Session) -> Result<String, StoreError> {
        let expires = SystemTime::now() + self.ttl;
        let mut params: Arc<str> = session.init_params.clone();
        for step in 0.. {
            let p = RawValue::from_string(params.to_string())
                .map_err(|e| StoreError::Unavailable(format!("bad initialize params: {e}")))?;
            let handle = self.seal(&Record {
                i: session.id.clone(),
                v: session.protocol_version.clone(),
                p: &p,
                u: session.principal.clone(),
                c: secs(session.created_at),
                e: secs(expires),
            })?;
            if handle.len() <= MAX_HANDLE {
                if step > 0 {
                    tracing::warn!(
                        step,
                        "initialize params too large for a session token; reduced"
                    );
                }
                return Ok(handle);
            }
            params = match reduced_params(&session.init_params, step + 1) {
                Some(p) => Arc::from(p),
                None => {
                    return Err(StoreError::Unavailable(format!(
                        "the session does not fit in a {MAX_HANDLE}-byte token"
                    )));
                }
            };
        }
        Err(StoreError::Unavailable("unreachable".into()))
    }

    async fn get(&self, handle: &str) -> Result<Option<Session>, StoreError> {
        let Some(plain) = self.open(handle) else {
            return Ok(None);
        };
        let Ok(r) = serde_json::from_slice::<Record<'_>>(&plain) else {
            return Ok(None);
        };
        let now = secs(SystemTime::now());
        if r.e <= now {
            return Ok(None);
        }
        Ok(Some(Session {
            id: r.i,
            protocol_version: r.v,
            init_params: Arc::from(r.p.get()),
            principal: r.u,
            created_at: UNIX_EPOCH + Duration::from_secs(r.c),
            last_seen: SystemTime::now(),
            expires_at: UNIX_EPOCH + Duration::from_secs(r.e),
        }))
    }

    async fn touch(&self, _: &str, _: &Session, _: SystemTime) -> Result<(), StoreError> {
        Ok(())
    }

    async fn delete(&self, _: &str, _: &Session) -> Result<bool, StoreError> {
        Ok(false)
    }

    fn expires_after_use(&self, session: &Session, _now: SystemTime) -> SystemTime {
        session.expires_at
    }

    fn can_delete(&self) -> bool {
        false
    }

    fn idle_ttl(&self) -> Duration {
        self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    fn session(params: &str) -> Session {
        let now = SystemTime::now();
        Session {
            id: crate::session::new_session_id(),
            protocol_version: "2025-06-18".into(),
            init_params: Arc::from(params),
            principal: Some("iam:arn:aws:iam::1:user/a".into()),
            created_at: now,
            last_seen: now,
            expires_at: now + Duration::from_secs(60),
        }
    }

    fn store(keys: &str, ttl: Duration) -> TokenStore {
        TokenStore::new(&parse_keys(keys).unwrap(), ttl).unwrap()
    }

    const PARAMS: &str = r#"{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"c","version":"1"}}"#;

    #[tokio::test]
    async fn round_trip_carries_the_whole_session() {
        let s = store(K1, Duration::from_secs(60));
        let sess = session(PARAMS);
        let handle = s.create(&sess).await.unwrap();
        assert!(handle.starts_with(PREFIX));
        assert!(
            handle.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "visible ASCII"
        );
        let back = s.get(&handle).await.unwrap().unwrap();
        assert_eq!(back.id, sess.id);
        assert_eq!(back.protocol_version, "2025-06-18");
        assert_eq!(&*back.init_params, PARAMS);
        assert_eq!(back.principal, sess.principal);
        assert!(!s.can_delete());
    }

    #[tokio::test]
    async fn tampered_truncated_foreign_and_expired_tokens_are_unknown() {
        let s = store(K1, Duration::from_secs(60));
        let handle = s.create(&session(PARAMS)).await.unwrap();
        // Flip one character in the middle of the ciphertext.
        let mut bytes = handle.clone().into_bytes();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(s.get(&tampered).await.unwrap().is_none());
        assert!(s.get(&handle[..handle.len() - 3]).await.unwrap().is_none());
        assert!(s.get("mlt1.").await.unwrap().is_none());
        assert!(s.get("not a token").await.unwrap().is_none());
        let other = store(K2, Duration::from_secs(60));
        assert!(other.get(&handle).await.unwrap().is_none(), "foreign key");
        let short = store(K1, Duration::ZERO);
        let expired = short.create(&session(PARAMS)).await.unwrap();
        assert!(short.get(&expired).await.unwrap().is_none(), "expired");
    }

    #[tokio::test]
    async fn rotation_opens_tokens_of_every_configured_key() {
        let old = store(K1, Duration::from_secs(60));
        let handle = old.create(&session(PARAMS)).await.unwrap();
        let rotated = store(&format!("{K2},{K1}"), Duration::from_secs(60));
        assert!(
            rotated.get(&handle).await.unwrap().is_some(),
            "old key still opens"
        );
        let new_handle = rotated.create(&session(PARAMS)).await.unwrap();
        assert!(
            old.get(&new_handle).await.unwrap().is_none(),
            "sealed with the new key"
        );
    }

    #[tokio::test]
    async fn huge_params_are_reduced_to_fit_a_header() {
        let s = store(K1, Duration::from_secs(60));
        let big = format!(
            r#"{{"protocolVersion":"2025-06-18","capabilities":{{"sampling":{{"context":{{}}}},"experimental":{{"x":"{}"}}}},"clientInfo":{{"name":"c","version":"1"}},"_meta":{{"pad":"{}"}}}}"#,
            "y".repeat(8000),
            "z".repeat(8000)
        );
        let handle = s.create(&session(&big)).await.unwrap();
        assert!(handle.len() <= MAX_HANDLE, "{}", handle.len());
        let back = s.get(&handle).await.unwrap().unwrap();
        let p: serde_json::Value = serde_json::from_str(&back.init_params).unwrap();
        assert_eq!(p["clientInfo"]["name"], "c");
        // The declaration the server's sampling requests depend on is kept.
        assert_eq!(p["capabilities"], serde_json::json!({"sampling": {}}));
    }

    #[test]
    fn keys_in_hex_base64_and_files() {
        let b64 = STANDARD.encode([7u8; 32]);
        let keys = parse_keys(&format!("{K1}, {b64}")).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1], [7u8; 32]);
        assert!(matches!(parse_keys(""), Err(KeyError::Empty)));
        assert!(matches!(
            parse_keys("abc"),
            Err(KeyError::Malformed { index: 1 })
        ));
        assert!(matches!(
            parse_keys(&format!("{K1},short")),
            Err(KeyError::Malformed { index: 2 })
        ));
        let dir = std::env::temp_dir().join(format!("mcpl-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("keys");
        std::fs::write(&f, format!("{K2}\n{K1}\n")).unwrap();
        let keys = parse_keys(&format!("file:{}", f.display())).unwrap();
        assert_eq!(keys.len(), 2);
        // A key file naming itself (or any file) is refused, not followed.
        let own = dir.join("self");
        std::fs::write(&own, format!("file:{}\n", own.display())).unwrap();
        assert!(matches!(
            parse_keys(&format!("file:{}", own.display())),
            Err(KeyError::File { .. })
        ));
        assert!(matches!(
            parse_keys("file:/nonexistent/keys"),
            Err(KeyError::File { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
