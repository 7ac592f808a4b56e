//! The resource server against an issuer served from this test (metadata and JWKS over real
//! HTTP on loopback), with Ed25519 keys made here: every refusal and its challenge.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const RESOURCE: &str = "https://mcp.example.com/mcp";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct Issuer {
    url: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
    jwks_hits: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl Issuer {
    /// An issuer on a loopback port serving RFC 8414 metadata and one Ed25519 key (`k1`).
    async fn start() -> Issuer {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .unwrap()
            .as_ref()
            .to_vec();
        let public = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let jwks_hits = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (u, x, hits, d) = (url.clone(), b64(&public), jwks_hits.clone(), down.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let line = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let (status, body) = if d.load(Ordering::Relaxed) {
                    ("503 Service Unavailable", "{}".to_owned())
                } else if path == "/.well-known/oauth-authorization-server" {
                    (
                        "200 OK",
                        json!({"issuer": u, "jwks_uri": format!("{u}/jwks")}).to_string(),
                    )
                } else if path == "/jwks" {
                    hits.fetch_add(1, Ordering::Relaxed);
                    let key = json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1",
                        "alg": "EdDSA", "use": "sig"});
                    ("200 OK", json!({"keys": [key]}).to_string())
                } else {
                    ("404 Not Found", "{}".to_owned())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        Issuer {
            url,
            pkcs8,
            public,
            jwks_hits,
            down,
        }
    }

    /// A token with `claims` over the defaults (this issuer, our audience, an hour left),
    /// signed with our key and `kid`.
    fn token(&self, claims: Value, kid: Option<&str>) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut all = json!({"iss": self.url, "sub": "alice", "aud": RESOURCE,
            "exp": now + 3600, "iat": now, "scope": "mcp:tools"});
        for (k, v) in claims.as_object().unwrap() {
            if v.is_null() {
                all.as_object_mut().unwrap().remove(k);
            } else {
                all[k] = v.clone();
            }
        }
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, &all, &EncodingKey::from_ed_der(&self.pkcs8)).unwrap()
    }

    fn server(&self, required: &[&str]) -> ResourceServer {
        ResourceServer::new(Settings {
            issuers: vec![self.url.clone()],
            resource: Some(RESOURCE.into()),
            required_scopes: required.iter().map(|s| s.to_string()).collect(),
            scopes_supported: required.iter().map(|s| s.to_string()).collect(),
            endpoint_path: "/mcp".into(),
            loopback_port: None,
        })
        .unwrap()
    }
}

async fn check(rs: &ResourceServer, auth: &[&str], uri: &str) -> Result<Grant, Refusal> {
    let mut h = HeaderMap::new();
    for a in auth {
        h.append(header::AUTHORIZATION, a.parse().unwrap());
    }
    rs.authorize(&h, &uri.parse().unwrap(), &RequestContext::default())
        .await
}

async fn refused(rs: &ResourceServer, token: &str) -> Refusal {
    check(rs, &[&format!("Bearer {token}")], "/mcp")
        .await
        .unwrap_err()
}

const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

#[tokio::test]
async fn a_valid_token_grants_its_subject_and_scopes() {
    let iss = Issuer::start().await;
    let rs = iss.server(&["mcp:tools"]);
    let g = check(
        &rs,
        &[&format!("Bearer {}", iss.token(json!({}), Some("k1")))],
        "/mcp",
    )
    .await
    .unwrap();
    assert_eq!(g.principal, format!("oauth:{}|alice", iss.url));
    assert_eq!(&*g.scopes, ["mcp:tools".to_owned()]);
    // Scheme case, no kid (the only key fits), an audience array, `scp`.
    let t = iss.token(
        json!({"aud": ["other", RESOURCE], "scope": null, "scp": ["mcp:tools", "x"]}),
        None,
    );
    let g = check(&rs, &[&format!("bearer {t}")], "/mcp").await.unwrap();
    assert_eq!(g.scopes.len(), 2);
    // Keys fetched once for all of it.
    assert_eq!(iss.jwks_hits.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn no_token_is_401_with_the_metadata_and_scope_challenge() {
    let iss = Issuer::start().await;
    let rs = iss.server(&["mcp:tools"]);
    for auth in [&[][..], &["Basic YTpi"][..], &["Bearer "][..]] {
        let r = check(&rs, auth, "/mcp").await.unwrap_err();
        assert_eq!(r.status, 401, "{auth:?}");
        assert_eq!(
            r.challenge.as_deref(),
            Some(format!(r#"Bearer resource_metadata="{METADATA}", scope="mcp:tools""#).as_str())
        );
    }
}

#[tokio::test]
async fn bad_tokens_are_401_invalid_token() {
    let iss = Issuer::start().await;
    let rs = iss.server(&[]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let good = iss.token(json!({}), Some("k1"));
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, _sig) = rest.split_once('.').unwrap();
    let none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"at+jwt"}"#));
    // The algorithm-confusion attack: HS256 keyed with the published public key.
    let hs = jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": iss.url, "sub": "mallory", "aud": RESOURCE, "exp": now + 60}),
        &EncodingKey::from_secret(&iss.public),
    )
    .unwrap();
    let forged = format!("{head}.{payload}.{}", b64(&[7u8; 64]));
    let id_token = {
        let mut h = Header::new(jsonwebtoken::Algorithm::EdDSA);
        h.typ = Some("id_token+jwt".into());
        h.kid = Some("k1".into());
        let claims = json!({"iss": iss.url, "sub": "a", "aud": RESOURCE, "exp": now + 60});
        jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ed_der(&iss.pkcs8)).unwrap()
    };
    for (token, says) in [
        (iss.token(json!({"exp": now - 120}), Some("k1")), "expired"),
        (
            iss.token(json!({"nbf": now + 600}), Some("k1")),
            "not valid yet",
        ),
        (
            iss.token(json!({"aud": "https://other.example.com/mcp"}), Some("k1")),
            "not issued for this resource",
        ),
        (iss.token(json!({"aud": null}), Some("k1")), "aud"),
        (iss.token(json!({"sub": null}), Some("k1")), "sub"),
        (
            iss.token(json!({"iss": "https://evil.example.com"}), Some("k1")),
            "issuer is not trusted",
        ),
        (none, "unreadable header"),
        (hs, "not accepted"),
        (forged, "signature"),
        (id_token, "not an access token"),
        ("abc".into(), "unreadable"),
    ] {
        let r = refused(&rs, &token).await;
        assert_eq!(r.status, 401, "{says}: {r:?}");
        let c = r.challenge.unwrap();
        assert!(
            c.starts_with(&format!(r#"Bearer resource_metadata="{METADATA}""#)),
            "{c}"
        );
        assert!(c.contains(r#"error="invalid_token""#), "{says}: {c}");
        assert!(c.contains(says), "{says}: {c}");
        assert!(
            !c.contains(&token) || token.len() < 8,
            "the token is never echoed"
        );
    }
}

#[tokio::test]
async fn an_unknown_kid_fetches_once_then_is_refused_without_hammering() {
    let iss = Issuer::start().await;
    let rs = iss.server(&[]);
    for _ in 0..5 {
        let r = refused(&rs, &iss.token(json!({}), Some("rotated"))).await;
        assert_eq!(r.status, 401);
        assert!(r.challenge.unwrap().contains("no key"));
    }
    // One fetch for the first unknown kid; the others fall within the rate limit.
    assert_eq!(iss.jwks_hits.load(Ordering::Relaxed), 1);
    // The known key still works without another fetch.
    let t = iss.token(json!({}), Some("k1"));
    assert!(check(&rs, &[&format!("Bearer {t}")], "/mcp").await.is_ok());
    assert_eq!(iss.jwks_hits.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn query_tokens_and_two_headers_are_400_and_missing_scope_is_403() {
    let iss = Issuer::start().await;
    let rs = iss.server(&["mcp:tools", "files:read"]);
    let t = iss.token(json!({}), Some("k1"));
    let r = check(&rs, &[], &format!("/mcp?access_token={t}"))
        .await
        .unwrap_err();
    assert_eq!(r.status, 400);
    assert!(r.challenge.unwrap().contains(r#"error="invalid_request""#));
    let bearer = format!("Bearer {t}");
    let r = check(&rs, &[&bearer, &bearer], "/mcp").await.unwrap_err();
    assert_eq!(r.status, 400);
    let r = refused(&rs, &t).await;
    assert_eq!(r.status, 403);
    let c = r.challenge.unwrap();
    assert!(c.contains(r#"error="insufficient_scope""#), "{c}");
    assert!(c.contains("lacks scope files:read"), "{c}");
    assert!(c.contains(r#"scope="mcp:tools files:read""#), "{c}");
    let t = iss.token(json!({"scope": "files:read mcp:tools"}), Some("k1"));
    assert!(check(&rs, &[&format!("Bearer {t}")], "/mcp").await.is_ok());
}

#[tokio::test]
async fn an_issuer_that_is_down_fails_closed() {
    let iss = Issuer::start().await;
    iss.down.store(true, Ordering::Relaxed);
    let rs = iss.server(&[]);
    assert_eq!(rs.warm().await.len(), 1);
    let r = refused(&rs, &iss.token(json!({}), Some("k1"))).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.retry_after, Some(5));
    assert!(!r.message.contains("eyJ"), "{}", r.message);
    // Back up: used again after the short retry delay, not the long one.
    iss.down.store(false, Ordering::Relaxed);
    tokio::time::sleep(keys::RETRY_FAILED).await;
    assert!(
        check(
            &rs,
            &[&format!("Bearer {}", iss.token(json!({}), Some("k1")))],
            "/mcp"
        )
        .await
        .is_ok()
    );
    // Keys known once stay usable while the issuer is down.
    let iss = Issuer::start().await;
    let rs = iss.server(&[]);
    assert!(rs.warm().await.is_empty());
    iss.down.store(true, Ordering::Relaxed);
    let t = iss.token(json!({}), Some("k1"));
    assert!(check(&rs, &[&format!("Bearer {t}")], "/mcp").await.is_ok());
}

#[test]
fn the_resource_is_never_taken_from_a_forgeable_host() {
    let settings = Settings {
        issuers: vec!["https://as.example.com".into()],
        endpoint_path: "/mcp".into(),
        loopback_port: Some(8080),
        ..Default::default()
    };
    let rs = ResourceServer::new(settings).unwrap();
    let host = |h: &str| {
        let mut m = HeaderMap::new();
        m.insert(header::HOST, h.parse().unwrap());
        m
    };
    let ctx = RequestContext::default();
    assert_eq!(
        rs.locate(&host("localhost:8080"), &ctx).unwrap(),
        (
            "http://localhost:8080/mcp".to_owned(),
            "http://localhost:8080/.well-known/oauth-protected-resource/mcp".to_owned()
        )
    );
    assert!(rs.locate(&host("evil.example.com:8080"), &ctx).is_none());
    assert!(rs.locate(&host("127.0.0.1:9999"), &ctx).is_none());
    // A Lambda front door's base, from the event's request context.
    let ctx = RequestContext {
        public_base: Some("https://id.execute-api.eu-west-1.amazonaws.com/prod".into()),
        ..Default::default()
    };
    assert_eq!(
        rs.locate(&host("evil.example.com"), &ctx).unwrap(),
        (
            "https://id.execute-api.eu-west-1.amazonaws.com/prod/mcp".to_owned(),
            "https://id.execute-api.eu-west-1.amazonaws.com/prod/.well-known/oauth-protected-resource/mcp".to_owned()
        )
    );
    for (resource, url) in [
        (
            "https://h.example.com",
            "https://h.example.com/.well-known/oauth-protected-resource",
        ),
        (
            "https://h.example.com/mcp",
            "https://h.example.com/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "https://d.example.com/prod/mcp",
            "https://d.example.com/prod/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "https://h.example.com/api",
            "https://h.example.com/.well-known/oauth-protected-resource/api",
        ),
    ] {
        assert_eq!(metadata_url_for(resource, "/mcp"), url);
    }
}

#[test]
fn a_loopback_host_without_a_port_is_port_80() {
    let rs = ResourceServer::new(Settings {
        issuers: vec!["https://as.example.com".into()],
        endpoint_path: "/mcp".into(),
        loopback_port: Some(80),
        ..Default::default()
    })
    .unwrap();
    let mut h = HeaderMap::new();
    h.insert(header::HOST, "localhost".parse().unwrap());
    let (resource, _) = rs.locate(&h, &RequestContext::default()).unwrap();
    assert_eq!(resource, "http://localhost/mcp");
    h.insert(header::HOST, "[::1]".parse().unwrap());
    assert!(rs.locate(&h, &RequestContext::default()).is_some());
}

#[tokio::test]
async fn plain_http_is_fetched_only_from_loopback() {
    let f = Fetcher::new(true).unwrap();
    for url in [
        "http://as.example.com/jwks",
        "ftp://127.0.0.1/x",
        "http://10.0.0.1/jwks",
    ] {
        assert!(
            matches!(f.json(url).await, Err(FetchError::BadUrl(_))),
            "{url}"
        );
    }
}
