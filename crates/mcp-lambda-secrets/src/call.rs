//! One SigV4-signed AWS JSON 1.1 call (`X-Amz-Target`), bounded in size.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::SecretError;

/// Largest answer read.
pub const MAX_BYTES: usize = 1024 * 1024;

/// The HTTP client the SDK's credential providers use (instance, container, SSO endpoints).
pub(crate) fn sdk_http_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// An HTTPS (and, for local emulators, HTTP) client for the services.
pub(crate) struct Client {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Client {
    pub(crate) fn new() -> Result<Self, SecretError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| SecretError::Aws(format!("TLS set-up: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// POSTs `body` to `endpoint` as `target` of `service`, signed for `region` with `creds`;
    /// the JSON answer, or the service's error (`__type: message`).
    pub(crate) async fn post_json(
        &self,
        endpoint: &str,
        service: &str,
        region: &str,
        target: &str,
        body: &Value,
        creds: Credentials,
    ) -> Result<Value, SecretError> {
        let body = Bytes::from(body.to_string());
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|_| SecretError::Aws(format!("endpoint {endpoint:?} is not a URL")))?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or_else(|| SecretError::Aws(format!("endpoint {endpoint:?} has no host")))?;
        let mut req = http::Request::post(uri.clone())
            .header("host", &host)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .body(Full::new(body.clone()))
            .map_err(|e| SecretError::Aws(e.to_string()))?;
        let identity: Identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SecretError::Aws(e.to_string()))?
            .into();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            endpoint,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| SecretError::Aws(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| SecretError::Aws(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut req);
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| SecretError::Service(format!("{service} unreachable: {e}")))?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), MAX_BYTES)
            .collect()
            .await
            .map_err(|e| SecretError::Service(format!("{service}: unreadable answer: {e}")))?
            .to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let kind = v
                .get("__type")
                .and_then(Value::as_str)
                .map(|t| t.rsplit('#').next().unwrap_or(t))
                .unwrap_or("error");
            let message = v
                .get("message")
                .or_else(|| v.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(SecretError::Service(format!(
                "{service} answered {status}: {kind} {message}"
            )));
        }
        Ok(v)
    }
}
