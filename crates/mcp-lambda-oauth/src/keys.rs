//! The authorization servers' signing keys: found through their metadata, cached, refreshed.
//!
//! Contract: for each configured issuer, [`Keys::key`] finds the public key a token names
//! (`kid`, or the only key fit for its algorithm when it names none). Keys come from the issuer's
//! metadata — RFC 8414 `/.well-known/oauth-authorization-server` (path inserted), else OpenID
//! `/.well-known/openid-configuration` (tried when the first fails in any way) — whose `issuer`
//! must be the configured one exactly, and its `jwks_uri`. They are kept [`MAX_AGE`]; an unknown `kid` or an old set is fetched again,
//! at most once per [`MIN_REFETCH`] per issuer (so forged `kid`s cannot make us hammer the
//! issuer), or per [`RETRY_FAILED`] after a failed fetch; a set past its age keeps answering
//! while it is fetched again in the background. A set that cannot be fetched again keeps serving the keys already known; with none
//! known the answer is [`KeyError::Unavailable`] (fail closed). Symmetric (`oct`) keys are
//! never used: a public key is never an HMAC secret.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::time::Instant;

use crate::fetch::Fetcher;

/// How long a fetched key set is used before it is fetched again.
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// Shortest time between two fetches of one issuer's keys after one that worked (an unknown
/// `kid` cannot make us fetch more often).
pub const MIN_REFETCH: Duration = Duration::from_secs(30);

/// Shortest time between two fetches after one that failed (an issuer that comes back is used
/// within seconds; one that stays down is asked at most this often).
pub const RETRY_FAILED: Duration = Duration::from_secs(2);

/// Most keys kept per issuer.
pub const MAX_KEYS: usize = 64;

/// Why no key verifies a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The issuer's keys could not be fetched and none are known: fail closed (503).
    #[error("the authorization server's keys are unavailable: {0}")]
    Unavailable(String),
    /// The keys are known, and none fits the token's `kid` and algorithm (401).
    #[error("no key of the issuer matches the token (kid {0:?})")]
    Unknown(Option<String>),
}

/// One usable public key.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one of ours.
    alg: Option<Algorithm>,
    family: Family,
    key: DecodingKey,
}

/// Kinds of public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
    Ed,
}

/// The key family an (allowed) algorithm verifies with.
fn family_of(alg: Algorithm) -> Option<Family> {
    match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => Some(Family::Rsa),
        Algorithm::ES256 | Algorithm::ES384 => Some(Family::Ec),
        Algorithm::EdDSA => Some(Family::Ed),
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => None,
    }
}

#[derive(Default)]
struct State {
    keys: Vec<Key>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
    last_error: Option<String>,
}

/// One issuer's keys.
struct IssuerKeys {
    issuer: String,
    state: Mutex<State>,
    /// One fetch at a time; waiters use its result.
    fetching: tokio::sync::Mutex<()>,
}

/// The keys of every configured issuer.
pub struct Keys {
    issuers: Vec<Arc<IssuerKeys>>,
    fetcher: Fetcher,
}

impl Keys {
    /// Keys of `issuers` (exact issuer identifiers), fetched with `fetcher` when needed.
    pub fn new(issuers: &[String], fetcher: Fetcher) -> Self {
        Self {
            issuers: issuers
                .iter()
                .map(|i| {
                    Arc::new(IssuerKeys {
                        issuer: i.clone(),
                        state: Mutex::new(State::default()),
                        fetching: tokio::sync::Mutex::new(()),
                    })
                })
                .collect(),
            fetcher,
        }
    }

    /// Whether `iss` is one of the configured issuers.
    pub fn trusts(&self, iss: &str) -> bool {
        self.issuers.iter().any(|i| i.issuer == iss)
    }

    /// Fetches every issuer's keys now (start-up, Lambda INIT); returns the failures.
    pub async fn warm(&self) -> Vec<String> {
        let mut failed = Vec::new();
        for ik in &self.issuers {
            let _one = ik.fetching.lock().await;
            if let Err(e) = refresh(&self.fetcher, ik).await {
                failed.push(e);
            }
        }
        failed
    }

    /// The key of issuer `iss` for a token with `kid` and `alg` (see the module docs).
    pub async fn key(
        &self,
        iss: &str,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, KeyError> {
        let Some(ik) = self.issuers.iter().find(|i| i.issuer == iss) else {
            return Err(KeyError::Unknown(kid.map(str::to_owned)));
        };
        if let Some(k) = ik.find(kid, alg, true) {
            return Ok(k);
        }
        // Known, but the set is old: answer with it now and refresh it in the background, so
        // a slow or hanging issuer never holds requests up.
        if let Some(k) = ik.find(kid, alg, false) {
            if ik.may_fetch() {
                let (ik, fetcher) = (ik.clone(), self.fetcher.clone());
                tokio::spawn(async move {
                    if let Ok(_one) = ik.fetching.try_lock()
                        && ik.may_fetch()
                    {
                        let _ = refresh(&fetcher, &ik).await;
                    }
                });
            }
            return Ok(k);
        }
        let _one = ik.fetching.lock().await;
        if let Some(k) = ik.find(kid, alg, true) {
            return Ok(k);
        }
        if ik.may_fetch() {
            let _ = refresh(&self.fetcher, ik).await;
        }
        if let Some(k) = ik.find(kid, alg, false) {
            return Ok(k);
        }
        match ik.state.lock() {
            Ok(s) if s.fetched.is_none() => Err(KeyError::Unavailable(
                s.last_error
                    .clone()
                    .unwrap_or_else(|| "not fetched yet".into()),
            )),
            _ => Err(KeyError::Unknown(kid.map(str::to_owned))),
        }
    }
}

impl IssuerKeys {
    /// The key for `kid` and `alg` among those known (only from a set younger than
    /// [`MAX_AGE`] when `fresh`).
    fn find(&self, kid: Option<&str>, alg: Algorithm, fresh: bool) -> Option<DecodingKey> {
        let s = self.state.lock().ok()?;
        let age_ok = s.fetched.is_some_and(|t| t.elapsed() <= MAX_AGE);
        if fresh && !age_ok {
            return None;
        }
        let family = family_of(alg)?;
        let fits = |k: &&Key| k.family == family && k.alg.is_none_or(|a| a == alg);
        match kid {
            Some(kid) => s
                .keys
                .iter()
                .filter(fits)
                .find(|k| k.kid.as_deref() == Some(kid))
                .map(|k| k.key.clone()),
            None => {
                let mut fit = s.keys.iter().filter(fits);
                match (fit.next(), fit.next()) {
                    (Some(k), None) => Some(k.key.clone()),
                    _ => None,
                }
            }
        }
    }

    /// Whether a fetch may be tried now ([`MIN_REFETCH`] since the last one, or
    /// [`RETRY_FAILED`] when it failed).
    fn may_fetch(&self) -> bool {
        self.state
            .lock()
            .map(|s| {
                let wait = if s.last_error.is_some() {
                    RETRY_FAILED
                } else {
                    MIN_REFETCH
                };
                s.attempted.is_none_or(|t| t.elapsed() >= wait)
            })
            .unwrap_or(false)
    }
}

/// Fetches `ik`'s metadata and key set with `fetcher` and stores them (or the error).
async fn refresh(fetcher: &Fetcher, ik: &IssuerKeys) -> Result<(), String> {
    let result = fetch(fetcher, &ik.issuer).await;
    let mut s = ik
        .state
        .lock()
        .map_err(|_| "key cache poisoned".to_owned())?;
    s.attempted = Some(Instant::now());
    match result {
        Ok(keys) => {
            tracing::info!(issuer = %ik.issuer, keys = keys.len(), "authorization server keys fetched");
            s.keys = keys;
            s.fetched = Some(Instant::now());
            s.last_error = None;
            Ok(())
        }
        Err(e) => {
            tracing::warn!(issuer = %ik.issuer, error = %e, "authorization server keys could not be fetched");
            s.last_error = Some(e.clone());
            Err(e)
        }
    }
}

/// The issuer's metadata (the first of [`metadata_urls`] that answers with it), then its keys.
async fn fetch(fetcher: &Fetcher, issuer: &str) -> Result<Vec<Key>, String> {
    let mut errors = Vec::new();
    let mut jwks_uri = None;
    for url in metadata_urls(issuer) {
        match fetcher.json(&url).await {
            Ok(meta) => {
                if meta.get("issuer").and_then(Value::as_str) != Some(issuer) {
                    errors.push(format!(
                        "{url}: its \"issuer\" is {:?}, not {issuer:?}",
                        meta.get("issuer")
                    ));
                    continue;
                }
                match meta.get("jwks_uri").and_then(Value::as_str) {
                    Some(j) => {
                        jwks_uri = Some(j.to_owned());
                        break;
                    }
                    None => errors.push(format!("{url}: no \"jwks_uri\"")),
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let Some(jwks_uri) = jwks_uri else {
        return Err(errors.join("; "));
    };
    let set = fetcher.json(&jwks_uri).await.map_err(|e| e.to_string())?;
    let keys = parse_set(&set);
    if keys.is_empty() {
        return Err(format!("{jwks_uri}: no usable signing key"));
    }
    Ok(keys)
}

/// Where an issuer's metadata may be: RFC 8414 (well-known path inserted before the issuer's
/// path), then OpenID Connect Discovery (appended).
fn metadata_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    let (origin, path) = match trimmed.find("://").map(|i| i + 3) {
        Some(start) => match trimmed[start..].find('/') {
            Some(slash) => trimmed.split_at(start + slash),
            None => (trimmed, ""),
        },
        None => (trimmed, ""),
    };
    vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{trimmed}/.well-known/openid-configuration"),
    ]
}

/// The usable signing keys of a JWKS document: public RSA, EC and OKP keys meant for
/// signatures (`use` absent or `sig`), at most [`MAX_KEYS`]; anything else is skipped.
fn parse_set(set: &serde_json::Map<String, Value>) -> Vec<Key> {
    let Some(Value::Array(keys)) = set.get("keys") else {
        return Vec::new();
    };
    keys.iter()
        .filter(|k| k.get("use").is_none_or(|u| u == "sig"))
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .filter_map(|jwk| {
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Family::Rsa,
                AlgorithmParameters::EllipticCurve(_) => Family::Ec,
                AlgorithmParameters::OctetKeyPair(_) => Family::Ed,
                AlgorithmParameters::OctetKey(_) => return None,
            };
            // A key named for another algorithm (an encryption one, say) is not ours to use.
            let alg = match jwk.common.key_algorithm {
                None => None,
                Some(a) => Some(a.to_string().parse::<Algorithm>().ok()?),
            };
            if alg.is_some_and(|a| family_of(a) != Some(family)) {
                return None;
            }
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some(Key {
                kid: jwk.common.key_id.clone(),
                alg,
                family,
                key,
            })
        })
        .take(MAX_KEYS)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_is_looked_for_where_the_specs_say() {
        assert_eq!(
            metadata_urls("https://as.example.com"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            metadata_urls("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"),
            [
                "https://cognito-idp.eu-west-1.amazonaws.com/.well-known/oauth-authorization-server/eu-west-1_abc",
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn only_public_signing_keys_are_kept() {
        let rsa = json!({"kty": "RSA", "kid": "r", "alg": "RS256", "use": "sig",
            "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
            "e": "AQAB"});
        let hmac = json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"});
        let enc = json!({"kty": "RSA", "kid": "e", "use": "enc", "n": rsa["n"], "e": "AQAB"});
        let x25519 = json!({"kty": "OKP", "crv": "X25519", "x": "abc"});
        let mismatched =
            json!({"kty": "RSA", "kid": "m", "alg": "ES256", "n": rsa["n"], "e": "AQAB"});
        let set = json!({"keys": [rsa, hmac, enc, x25519, mismatched]});
        let keys = parse_set(set.as_object().unwrap());
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("r"));
        assert_eq!(keys[0].family, Family::Rsa);
    }
}
