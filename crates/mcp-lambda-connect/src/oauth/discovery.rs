//! Finding the authorization server: the endpoint's `WWW-Authenticate` challenge, its Protected
//! Resource Metadata (RFC 9728) and the authorization server's metadata (RFC 8414 or OpenID
//! Connect Discovery), in the order the MCP authorization specification (2025-11-25) gives.
//!
//! Contract: every document is fetched with a deadline and at most [`MAX_DOCUMENT`] bytes; what
//! is kept is checked first — the resource metadata must name a resource that the endpoint is
//! part of (same origin, path prefix: a document naming another resource is refused, so a
//! token is never obtained for one server and sent to another; a resource naming a path above
//! the endpoint's, such as the origin, is accepted: servers commonly publish that), the
//! authorization server's `issuer` must be exactly the one named, it must offer PKCE with
//! `S256`, and its endpoints must be HTTPS (plain HTTP only on a loopback host, and only when
//! the endpoint itself is on one).

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::Full;
use serde::Deserialize;
use url::Url;

use crate::Failure;
use crate::client::{Http, read_bounded};

/// Largest metadata document read.
pub(crate) const MAX_DOCUMENT: usize = 64 * 1024;

/// What a `WWW-Authenticate: Bearer` challenge said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// `resource_metadata`: where the Protected Resource Metadata is.
    pub(crate) resource_metadata: Option<String>,
    /// `scope`: the scopes the request needs.
    pub(crate) scope: Option<String>,
    /// `error` (`invalid_token`, `insufficient_scope`, …).
    pub(crate) error: Option<String>,
}

impl Challenge {
    /// The `Bearer` challenge among `headers`' `WWW-Authenticate` values (None: there is none).
    pub(crate) fn of(headers: &HeaderMap) -> Option<Challenge> {
        headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_bearer)
    }
}

/// The parameters of the `Bearer` challenge in one `WWW-Authenticate` value (RFC 9110 §11.6.1:
/// `scheme param=value, param="quoted", …`, several challenges separated by commas).
fn parse_bearer(value: &str) -> Option<Challenge> {
    let s = value.as_bytes();
    let mut i = 0;
    let token_end = |mut j: usize| {
        while j < s.len() && !matches!(s[j], b' ' | b'\t' | b',' | b'=' | b'"') {
            j += 1;
        }
        j
    };
    let skip = |mut j: usize, set: &[u8]| {
        while j < s.len() && set.contains(&s[j]) {
            j += 1;
        }
        j
    };
    let mut in_bearer = false;
    let mut found: Option<Challenge> = None;
    while i < s.len() {
        i = skip(i, b" \t,");
        let start = i;
        i = token_end(i);
        if start == i {
            // a stray character: give up on this value
            break;
        }
        let name = &value[start..i];
        let after = skip(i, b" \t");
        if s.get(after) != Some(&b'=') || s.get(after + 1) == Some(&b'=') {
            // a scheme (or a token68 after one)
            if in_bearer {
                break;
            }
            in_bearer = name.eq_ignore_ascii_case("bearer");
            if in_bearer {
                found = Some(Challenge::default());
            }
            continue;
        }
        i = skip(after + 1, b" \t");
        let v = if s.get(i) == Some(&b'"') {
            let mut out = String::new();
            i += 1;
            let mut chars = value[i..].char_indices();
            let mut end = value.len();
            while let Some((k, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = i + k + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            i = end;
            out
        } else {
            let st = i;
            i = token_end(i);
            value[st..i].to_owned()
        };
        if let Some(c) = found.as_mut().filter(|_| in_bearer) {
            match name.to_ascii_lowercase().as_str() {
                "resource_metadata" => c.resource_metadata = Some(v),
                "scope" => c.scope = Some(v),
                "error" => c.error = Some(v),
                _ => {}
            }
        }
    }
    found
}

/// Protected Resource Metadata (RFC 9728), the members used.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ResourceMetadata {
    /// The resource identifier: what tokens are requested for (`resource`).
    pub(crate) resource: String,
    /// The authorization servers' issuer identifiers.
    #[serde(default)]
    pub(crate) authorization_servers: Vec<String>,
    /// The scopes the resource uses.
    #[serde(default)]
    pub(crate) scopes_supported: Option<Vec<String>>,
}

/// Authorization server metadata (RFC 8414 / OpenID Connect Discovery), the members used.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ServerMetadata {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    #[serde(default)]
    pub(crate) registration_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) scopes_supported: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207: the authorization response carries `iss`.
    #[serde(default)]
    pub(crate) authorization_response_iss_parameter_supported: bool,
}

/// Whether `u`'s host is a loopback name or address.
pub(crate) fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `url` parsed, and refused unless HTTPS, or plain HTTP on a loopback host when `local` (the
/// endpoint itself is on one: a remote endpoint's documents cannot send us to local ports).
pub(crate) fn secure_url(what: &str, url: &str, local: bool) -> Result<Url, Failure> {
    let u = Url::parse(url).map_err(|e| Failure::Credentials(format!("{what} {url:?}: {e}")))?;
    match u.scheme() {
        "https" => Ok(u),
        "http" if local && is_loopback(&u) => Ok(u),
        _ => Err(Failure::Credentials(format!(
            "{what} {url}: must be https (http only on a loopback host, for a loopback endpoint)"
        ))),
    }
}

/// Whether `endpoint` is `resource` or below it: same scheme, host and port, and the
/// resource's path a whole-segment prefix of the endpoint's.
pub(crate) fn covers(resource: &Url, endpoint: &Url) -> bool {
    if resource.scheme() != endpoint.scheme()
        || resource.host_str().map(str::to_ascii_lowercase)
            != endpoint.host_str().map(str::to_ascii_lowercase)
        || resource.port_or_known_default() != endpoint.port_or_known_default()
        || resource.fragment().is_some()
    {
        return false;
    }
    let r = resource.path().trim_end_matches('/');
    let e = endpoint.path().trim_end_matches('/');
    e == r || e.starts_with(&format!("{r}/"))
}

/// The Protected Resource Metadata URLs to try for `endpoint`: the challenge's, else the
/// well-known URI with the endpoint's path, then at the root.
pub(crate) fn resource_metadata_urls(endpoint: &Url, challenge: Option<&Challenge>) -> Vec<String> {
    if let Some(u) = challenge.and_then(|c| c.resource_metadata.clone()) {
        return vec![u];
    }
    let origin = endpoint.origin().ascii_serialization();
    let path = endpoint.path().trim_end_matches('/');
    let mut v = Vec::new();
    if !path.is_empty() {
        v.push(format!(
            "{origin}/.well-known/oauth-protected-resource{path}"
        ));
    }
    v.push(format!("{origin}/.well-known/oauth-protected-resource"));
    v
}

/// The metadata URLs to try for the authorization server `issuer`, in the specification's order.
pub(crate) fn server_metadata_urls(issuer: &Url) -> Vec<String> {
    let origin = issuer.origin().ascii_serialization();
    let path = issuer.path().trim_end_matches('/');
    if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    }
}

/// A `POST` body: its content type, the bytes, and an `Authorization` header value.
pub(crate) type PostBody = (&'static str, Bytes, Option<String>);

/// One exchange with an authorization server or a metadata host: a `GET`, or a `POST` of
/// `post`, built afresh for every attempt (retried as [`Http::send`] says, a `POST` only when
/// it was not sent), answered within [`super::EXCHANGE_WITHIN`] and read up to `max` bytes.
pub(crate) async fn exchange(
    http: &Http,
    url: &str,
    post: Option<PostBody>,
    max: usize,
) -> Result<(StatusCode, Bytes), Failure> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Failure::Credentials(format!("{url}: {e}")))?;
    let send = http.send(post.is_none(), || {
        let (uri, post) = (uri.clone(), post.clone());
        async move {
            let host = uri
                .authority()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default();
            let b = Request::builder()
                .uri(uri)
                .header(header::HOST, host)
                .header(header::ACCEPT, "application/json");
            let req = match post {
                None => b.method(Method::GET).body(Full::new(Bytes::new())),
                Some((content_type, body, authorization)) => {
                    let mut b = b
                        .method(Method::POST)
                        .header(header::CONTENT_TYPE, content_type);
                    if let Some(a) = authorization {
                        b = b.header(header::AUTHORIZATION, a);
                    }
                    b.body(Full::new(body))
                }
            };
            req.map_err(|e| Failure::Credentials(format!("request: {e}")))
        }
    });
    let answered = async {
        let resp = send.await?;
        let status = resp.status();
        Ok((status, read_bounded(resp.into_body(), max).await?))
    };
    tokio::time::timeout(super::EXCHANGE_WITHIN, answered)
        .await
        .map_err(|_| {
            Failure::Credentials(format!(
                "{url}: no answer within {}s",
                super::EXCHANGE_WITHIN.as_secs()
            ))
        })?
}

/// GETs a JSON document: `Ok(None)` when the status says it is not there (4xx).
async fn document<T: serde::de::DeserializeOwned>(
    http: &Http,
    url: &str,
) -> Result<Option<T>, Failure> {
    let (status, body) = exchange(http, url, None, MAX_DOCUMENT).await?;
    if status.is_client_error() {
        return Ok(None);
    }
    if status != StatusCode::OK {
        return Err(Failure::Credentials(format!("{url}: HTTP {status}")));
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| Failure::Credentials(format!("{url}: not the metadata expected: {e}")))
}

/// The endpoint's Protected Resource Metadata, checked (see the module docs).
pub(crate) async fn resource_metadata(
    http: &Http,
    endpoint: &Url,
    challenge: Option<&Challenge>,
    local: bool,
) -> Result<ResourceMetadata, Failure> {
    for url in resource_metadata_urls(endpoint, challenge) {
        secure_url("resource metadata", &url, local)?;
        let Some(m) = document::<ResourceMetadata>(http, &url).await? else {
            continue;
        };
        let resource = secure_url("resource", &m.resource, local)?;
        if !covers(&resource, endpoint) {
            return Err(Failure::Credentials(format!(
                "{url} describes {}, not {endpoint}: refusing to sign in for another resource",
                m.resource
            )));
        }
        if m.authorization_servers.is_empty() {
            return Err(Failure::Credentials(format!(
                "{url} names no authorization server"
            )));
        }
        return Ok(m);
    }
    Err(Failure::Credentials(format!(
        "{endpoint} publishes no OAuth protected resource metadata"
    )))
}

/// The authorization server's metadata, checked (see the module docs).
pub(crate) async fn server_metadata(
    http: &Http,
    issuer: &str,
    local: bool,
) -> Result<ServerMetadata, Failure> {
    let iss = secure_url("authorization server", issuer, local)?;
    for url in server_metadata_urls(&iss) {
        let Some(m) = document::<ServerMetadata>(http, &url).await? else {
            continue;
        };
        if m.issuer != issuer {
            return Err(Failure::Credentials(format!(
                "{url} names issuer {}, not {issuer}",
                m.issuer
            )));
        }
        if !m
            .code_challenge_methods_supported
            .as_ref()
            .is_some_and(|v| v.iter().any(|m| m == "S256"))
        {
            return Err(Failure::Credentials(format!(
                "{issuer} does not offer PKCE with S256: refusing to sign in"
            )));
        }
        secure_url("authorization endpoint", &m.authorization_endpoint, local)?;
        secure_url("token endpoint", &m.token_endpoint, local)?;
        if let Some(r) = &m.registration_endpoint {
            secure_url("registration endpoint", r, local)?;
        }
        return Ok(m);
    }
    Err(Failure::Credentials(format!(
        "{issuer} publishes no authorization server metadata"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(v: &str) -> Option<Challenge> {
        let mut h = HeaderMap::new();
        h.append(header::WWW_AUTHENTICATE, v.parse().unwrap());
        Challenge::of(&h)
    }

    #[test]
    fn challenges() {
        let c = bearer(r#"Bearer resource_metadata="https://x/.well-known/oauth-protected-resource/mcp", scope="a b""#).unwrap();
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://x/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c.scope.as_deref(), Some("a b"));
        let c = bearer(r#"Basic realm="x, y", Bearer error="insufficient_scope", scope="files:write", error_description="need \"more\"""#).unwrap();
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(c.scope.as_deref(), Some("files:write"));
        assert_eq!(c.resource_metadata, None);
        // A parameter of a later scheme is not the bearer's.
        let c = bearer(r#"Bearer realm="a", DPoP scope="other""#).unwrap();
        assert_eq!(c.scope, None);
        assert_eq!(bearer("bearer").unwrap(), Challenge::default());
        assert!(bearer(r#"Basic realm="x""#).is_none());
        assert!(bearer("").is_none());
        // Unterminated quotes and junk do not panic.
        for junk in [
            r#"Bearer scope="abc"#,
            "Bearer ===",
            "Bearer scope=",
            "Bearer a=b=c",
            "\"\"",
        ] {
            let _ = bearer(junk);
        }
    }

    #[test]
    fn well_known_orders() {
        let e = Url::parse("https://h.example/public/mcp").unwrap();
        assert_eq!(
            resource_metadata_urls(&e, None),
            [
                "https://h.example/.well-known/oauth-protected-resource/public/mcp",
                "https://h.example/.well-known/oauth-protected-resource"
            ]
        );
        let c = Challenge {
            resource_metadata: Some("https://h.example/prm".into()),
            ..Default::default()
        };
        assert_eq!(
            resource_metadata_urls(&e, Some(&c)),
            ["https://h.example/prm"]
        );
        assert_eq!(
            resource_metadata_urls(&Url::parse("https://h.example/").unwrap(), None),
            ["https://h.example/.well-known/oauth-protected-resource"]
        );
        assert_eq!(
            server_metadata_urls(&Url::parse("https://auth.example/tenant1").unwrap()),
            [
                "https://auth.example/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example/.well-known/openid-configuration/tenant1",
                "https://auth.example/tenant1/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            server_metadata_urls(&Url::parse("https://auth.example").unwrap()),
            [
                "https://auth.example/.well-known/oauth-authorization-server",
                "https://auth.example/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn resources_cover_their_endpoints_only() {
        let u = |s: &str| Url::parse(s).unwrap();
        let e = u("https://mcp.example/api/mcp");
        assert!(covers(&u("https://mcp.example/api/mcp"), &e));
        assert!(covers(&u("https://MCP.example/"), &e));
        assert!(covers(&u("https://mcp.example/api"), &e));
        assert!(covers(&u("https://mcp.example:443/api/"), &e));
        assert!(!covers(&u("https://mcp.example/ap"), &e));
        assert!(!covers(&u("https://mcp.example/api/mcp/x"), &e));
        assert!(!covers(&u("https://evil.example/api/mcp"), &e));
        assert!(!covers(&u("http://mcp.example/api/mcp"), &e));
        assert!(!covers(&u("https://mcp.example:8443/api/mcp"), &e));
    }

    #[test]
    fn only_https_or_loopback_http() {
        assert!(secure_url("x", "https://a.example/t", false).is_ok());
        assert!(secure_url("x", "http://127.0.0.1:9/t", true).is_ok());
        assert!(secure_url("x", "http://localhost/t", true).is_ok());
        assert!(secure_url("x", "http://[::1]:80/t", true).is_ok());
        // A remote endpoint's documents cannot send the client to local plain-HTTP ports.
        assert!(secure_url("x", "http://127.0.0.1:9/t", false).is_err());
        assert!(secure_url("x", "http://a.example/t", true).is_err());
        assert!(secure_url("x", "http://127.0.0.1.evil.example/t", true).is_err());
        assert!(secure_url("x", "file:///etc/passwd", true).is_err());
        assert!(secure_url("x", "not a url", true).is_err());
    }

    /// A local server answering GETs by path from what `docs` makes of its base URL (404
    /// otherwise); its base URL.
    async fn canned(docs: impl FnOnce(&str) -> Vec<(&'static str, String)>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", l.local_addr().unwrap().port());
        let docs = docs(&base);
        tokio::spawn(async move {
            loop {
                let (mut c, _) = l.accept().await.unwrap();
                let mut buf = vec![0u8; 8192];
                let n = c.read(&mut buf).await.unwrap();
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let (status, body) = docs
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, b)| ("200 OK", b.clone()))
                    .unwrap_or(("404 Not Found", String::new()));
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = c.write_all(resp.as_bytes()).await;
            }
        });
        base
    }

    fn server_doc(issuer: &str, named: &str, pkce: &str) -> String {
        serde_json::json!({
            "issuer": named,
            "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"),
            "code_challenge_methods_supported": [pkce],
        })
        .to_string()
    }

    #[tokio::test]
    async fn metadata_for_another_resource_or_a_server_without_pkce_is_refused() {
        let http = Http::new().unwrap();
        // The resource metadata names another server's resource.
        let base = canned(|_| {
            vec![(
                "/.well-known/oauth-protected-resource/mcp",
                r#"{"resource":"https://evil.example/mcp","authorization_servers":["https://as.example"]}"#.into(),
            )]
        })
        .await;
        let endpoint = Url::parse(&format!("{base}/mcp")).unwrap();
        let e = resource_metadata(&http, &endpoint, None, true)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("another resource"), "{e}");
        // Not at the endpoint's path, found at the root; naming the origin is accepted.
        let base = canned(|b| {
            vec![(
                "/.well-known/oauth-protected-resource",
                format!(r#"{{"resource":"{b}","authorization_servers":["{b}"]}}"#),
            )]
        })
        .await;
        let endpoint = Url::parse(&format!("{base}/mcp")).unwrap();
        let m = resource_metadata(&http, &endpoint, None, true)
            .await
            .unwrap();
        assert_eq!(m.authorization_servers, std::slice::from_ref(&base));
        // A remote endpoint cannot point the client at local plain HTTP.
        let c = Challenge {
            resource_metadata: Some(format!("{base}/.well-known/oauth-protected-resource")),
            ..Default::default()
        };
        let remote = Url::parse("https://mcp.example/mcp").unwrap();
        let e = resource_metadata(&http, &remote, Some(&c), false)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("must be https"), "{e}");

        // Authorization server metadata naming another issuer; offering no S256; then good,
        // found by OpenID Connect discovery after RFC 8414's URI is missing.
        let base = canned(|b| {
            vec![(
                "/.well-known/oauth-authorization-server",
                server_doc(b, "https://other.example", "S256"),
            )]
        })
        .await;
        let e = server_metadata(&http, &base, true).await.unwrap_err();
        assert!(e.to_string().contains("names issuer"), "{e}");
        let base = canned(|b| {
            vec![(
                "/.well-known/oauth-authorization-server",
                server_doc(b, b, "plain"),
            )]
        })
        .await;
        let e = server_metadata(&http, &base, true).await.unwrap_err();
        assert!(e.to_string().contains("PKCE"), "{e}");
        let base = canned(|b| {
            vec![(
                "/.well-known/openid-configuration",
                server_doc(b, b, "S256"),
            )]
        })
        .await;
        let m = server_metadata(&http, &base, true).await.unwrap();
        assert_eq!(m.token_endpoint, format!("{base}/token"));
        let nothing = canned(|_| vec![]).await;
        let e = server_metadata(&http, &nothing, true).await.unwrap_err();
        assert!(
            e.to_string().contains("no authorization server metadata"),
            "{e}"
        );
    }
}
