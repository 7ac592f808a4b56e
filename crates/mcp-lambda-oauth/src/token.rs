//! Bearer access token validation: a JWT signed by a configured issuer, for this resource.
//!
//! Contract: [`validate`] accepts a token only when all of these hold, in this order (the
//! first failure is the answer):
//! - it is a compact JWS of at most [`MAX_TOKEN`] bytes whose header `alg` is an asymmetric
//!   algorithm ([`ALLOWED`]: no `none`, no HMAC — so a public key can never be used as an HMAC
//!   secret) and whose `typ`, if present, is `at+jwt`, `application/at+jwt` or `JWT`;
//! - its `iss` is one of the configured issuers, exactly;
//! - it verifies with that issuer's published key for its `kid` ([`Keys::key`]);
//! - `aud` contains the resource (RFC 8707 audience binding: a token minted for another
//!   resource is refused), `exp` is in the future and `nbf` (if any) in the past, both with
//!   [`LEEWAY`], and `sub` is present.
//!
//! The scopes are read from `scope` (space-separated, RFC 9068) or `scp` (string or array).

use base64::Engine;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::keys::{KeyError, Keys};

/// Longest token accepted.
pub const MAX_TOKEN: usize = 16 * 1024;

/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY: u64 = 60;

/// The signature algorithms accepted.
pub const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token we can read, or an algorithm we refuse.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Issued by an authorization server we do not trust.
    #[error("the token's issuer is not trusted")]
    UntrustedIssuer,
    /// No key verifies it.
    #[error("{0}")]
    Key(KeyError),
    /// The signature does not verify, or a claim is wrong (audience, expiry, ...).
    #[error("{0}")]
    Invalid(String),
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// The scopes it grants.
    pub scopes: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub expires: u64,
}

#[derive(Deserialize)]
struct Unverified {
    iss: Option<String>,
}

#[derive(Deserialize)]
struct Verified {
    iss: String,
    sub: String,
    exp: u64,
    #[serde(default)]
    scope: Option<Value>,
    #[serde(default)]
    scp: Option<Value>,
}

/// Validates `token` for `resource` against the issuers' keys (see the module docs).
pub async fn validate(token: &str, resource: &str, keys: &Keys) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN {
        return Err(TokenError::Malformed(format!(
            "longer than {MAX_TOKEN} bytes"
        )));
    }
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| TokenError::Malformed(format!("unreadable header: {e}")))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(TokenError::Malformed(format!(
            "algorithm {:?} is not accepted",
            header.alg
        )));
    }
    if let Some(typ) = &header.typ {
        let t = typ.to_ascii_lowercase();
        if !matches!(t.as_str(), "at+jwt" | "application/at+jwt" | "jwt") {
            return Err(TokenError::Malformed(format!(
                "typ {typ:?} is not an access token"
            )));
        }
    }
    let iss = unverified_issuer(token)?;
    if !keys.trusts(&iss) {
        return Err(TokenError::UntrustedIssuer);
    }
    let key = keys
        .key(&iss, header.kid.as_deref(), header.alg)
        .await
        .map_err(TokenError::Key)?;
    let mut v = Validation::new(header.alg);
    v.algorithms = vec![header.alg];
    v.leeway = LEEWAY;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[iss.as_str()]);
    v.set_audience(&[resource]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Verified>(token, &key, &v)
        .map_err(|e| TokenError::Invalid(describe(&e)))?;
    let c = data.claims;
    Ok(Claims {
        issuer: c.iss,
        subject: c.sub,
        scopes: scopes(c.scope.or(c.scp)),
        expires: c.exp,
    })
}

/// The `iss` of a token not yet verified (to pick the issuer's keys).
fn unverified_issuer(token: &str) -> Result<String, TokenError> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not a compact JWS".into()));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed("payload is not base64url".into()))?;
    let u: Unverified = serde_json::from_slice(&bytes)
        .map_err(|_| TokenError::Malformed("payload is not a JSON object".into()))?;
    u.iss
        .ok_or_else(|| TokenError::Malformed("no iss claim".into()))
}

/// Scopes from a `scope` string or a `scp` string / array.
fn scopes(v: Option<Value>) -> Vec<String> {
    match v {
        // RFC 6749 §3.3: separated by spaces (U+0020) only.
        Some(Value::String(s)) => s
            .split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(a)) => a
            .into_iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// A validation failure in words a client can act on (never the token itself).
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => "the signature does not verify".into(),
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        K::InvalidAudience => "the token was not issued for this resource (aud)".into(),
        K::InvalidIssuer => "the token's issuer is not trusted".into(),
        K::MissingRequiredClaim(c) => format!("the token has no {c} claim"),
        K::InvalidAlgorithm => "the token's algorithm does not fit the key".into(),
        other => format!("invalid token: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_come_from_scope_or_scp() {
        assert_eq!(scopes(Some(json!("a  b"))), ["a", "b"]);
        assert_eq!(
            scopes(Some(json!("x\u{a0}files:write"))),
            ["x\u{a0}files:write"]
        );
        assert_eq!(scopes(Some(json!(["a", 1, "c"]))), ["a", "c"]);
        assert!(scopes(None).is_empty());
    }

    #[test]
    fn the_issuer_is_read_before_verification() {
        let b64 = |v: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let t = format!(
            "{}.{}.sig",
            b64(json!({"alg": "RS256"})),
            b64(json!({"iss": "https://as"}))
        );
        assert_eq!(unverified_issuer(&t).unwrap(), "https://as");
        assert!(unverified_issuer("a.b").is_err());
        assert!(unverified_issuer("a.b.c.d").is_err());
        let no_iss = format!(
            "{}.{}.sig",
            b64(json!({"alg": "RS256"})),
            b64(json!({"sub": "x"}))
        );
        assert!(unverified_issuer(&no_iss).is_err());
    }
}
