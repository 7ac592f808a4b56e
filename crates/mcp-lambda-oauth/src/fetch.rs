//! One bounded HTTP GET of a JSON document (authorization server metadata, JWKS).
//!
//! Contract: [`Fetcher::json`] follows no redirect, gives up after [`TIMEOUT`], reads at most
//! [`MAX_BYTES`], and accepts only a 200 whose body is a JSON object; `https` everywhere, plain
//! `http` only to a loopback host and only when the fetcher was built to allow it (loopback
//! issuers for local work).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value};

/// Longest wait for one document, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Largest document read.
pub const MAX_BYTES: usize = 1024 * 1024;

/// Why a document could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be requested.
    #[error("{0}: not a URL we fetch")]
    BadUrl(String),
    /// Connection, TLS or protocol failure.
    #[error("{url}: {why}")]
    Transport {
        /// What was fetched.
        url: String,
        /// What failed.
        why: String,
    },
    /// Not answered within [`TIMEOUT`].
    #[error("{0}: no answer within {TIMEOUT:?}")]
    Timeout(String),
    /// Answered with another status than 200.
    #[error("{url}: HTTP {status}")]
    Status {
        /// What was fetched.
        url: String,
        /// The status.
        status: u16,
    },
    /// Over [`MAX_BYTES`] or not a JSON object.
    #[error("{url}: {why}")]
    Body {
        /// What was fetched.
        url: String,
        /// What was wrong.
        why: String,
    },
}

/// An HTTPS client for JSON documents.
#[derive(Clone)]
pub struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fetcher")
    }
}

impl Fetcher {
    /// A fetcher trusting the Mozilla root certificates (embedded: no system store needed);
    /// `allow_http` also fetches plain `http` URLs.
    pub fn new(allow_http: bool) -> Result<Self, FetchError> {
        // The ring provider named here, not the process default (none may be installed, or two
        // crates may enable two providers).
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| FetchError::Transport {
                url: String::new(),
                why: format!("TLS set-up: {e}"),
            })?;
        let connector = if allow_http {
            builder.https_or_http().enable_http1().build()
        } else {
            builder.https_only().enable_http1().build()
        };
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client })
    }

    /// GETs `url` and reads it as a JSON object (see the module docs).
    pub async fn json(&self, url: &str) -> Result<Map<String, Value>, FetchError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| FetchError::BadUrl(url.to_owned()))?;
        // Plain http only to a loopback host, whatever issuer named the URL.
        let loopback = matches!(
            uri.host(),
            Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
        );
        if uri.scheme_str() != Some("https") && !(uri.scheme_str() == Some("http") && loopback) {
            return Err(FetchError::BadUrl(url.to_owned()));
        }
        let req = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("mcp-lambda/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|_| FetchError::BadUrl(url.to_owned()))?;
        let work = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| FetchError::Transport {
                    url: url.to_owned(),
                    why: error_chain(&e),
                })?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(FetchError::Status {
                    url: url.to_owned(),
                    status,
                });
            }
            let body = Limited::new(resp.into_body(), MAX_BYTES)
                .collect()
                .await
                .map_err(|e| FetchError::Body {
                    url: url.to_owned(),
                    why: format!("unreadable or over {MAX_BYTES} bytes: {e}"),
                })?
                .to_bytes();
            serde_json::from_slice::<Map<String, Value>>(&body).map_err(|e| FetchError::Body {
                url: url.to_owned(),
                why: format!("not a JSON object: {e}"),
            })
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .map_err(|_| FetchError::Timeout(url.to_owned()))?
    }
}

/// An error and its sources, one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}
