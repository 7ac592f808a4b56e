//! Forwarding to a Lambda function by direct Invoke (the function's direct-Invoke door: the
//! event is the JSON-RPC message itself, the payload returned its answer, `null` for a
//! notification).
//!
//! Contract, beyond the crate's: each message is one `Invoke` (`RequestResponse`) of
//! `POST /2015-03-31/functions/NAME/invocations[?Qualifier=Q]`, SigV4-signed for service
//! `lambda` with the AWS SDK's credential chain (environment, profiles, SSO, container and
//! instance roles), at the Lambda endpoint of the region (the ARN's, `--region`, then the AWS
//! configuration's); `AWS_ENDPOINT_URL_LAMBDA`, then `AWS_ENDPOINT_URL`, replace the endpoint.
//! A throttle (429) is retried for any message; a 5xx only for idempotent ones. A function
//! error (`X-Amz-Function-Error`) becomes a forward error naming its `errorType` and message.
//! There is no session and no stream: server→client requests and progress cannot travel
//! this way (the function's own rules for direct Invoke apply).

use std::fmt::Write as _;

use aws_credential_types::provider::SharedCredentialsProvider;
use bytes::Bytes;
use http::{Request, StatusCode, Uri, header};
use http_body_util::Full;
use serde_json::Value;

use crate::auth::Signer;
use crate::client::{Http, read_bounded};
use crate::forward::{Inbound, Out, answered_ids};
use crate::{ConnectError, Failure, MAX_MESSAGE, Options, Target, excerpt};

/// A function reached by Invoke.
pub struct Invoke {
    http: Http,
    signer: Signer,
    uri: Uri,
    host: String,
    out: Out,
}

/// The SDK's HTTP client for its credential providers (SSO, container, instance endpoints).
fn sdk_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// A `lambda` signer with the AWS configuration (profile from `opts`), for the region `opts`
/// names, else `fallback`, else the configuration's.
pub(crate) async fn signer(
    opts: &Options,
    fallback: Option<String>,
) -> Result<Signer, ConnectError> {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(sdk_http_client());
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    let conf = loader.load().await;
    let region = opts
        .region
        .clone()
        .or(fallback)
        .or_else(|| conf.region().map(|r| r.to_string()))
        .ok_or_else(|| {
            ConnectError::Config(
                "no AWS region: pass --region, or set AWS_REGION or a profile's region".into(),
            )
        })?;
    let provider: SharedCredentialsProvider = conf.credentials_provider().ok_or_else(|| {
        ConnectError::Credentials("no AWS credential provider is configured".into())
    })?;
    let signer = Signer::new(provider, region, "lambda");
    // Find credential problems now, in the log, rather than at the first request only (they
    // are reported to the client then too: an SSO login may be done in between).
    if let Err(e) = signer.credentials().await {
        tracing::warn!(error = %e, "AWS credentials are not available yet");
    }
    Ok(signer)
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters kept).
fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The Invoke URL of `name` (and `qualifier`) at `endpoint`.
fn invoke_uri(endpoint: &str, name: &str, qualifier: Option<&str>) -> Result<Uri, ConnectError> {
    let mut s = format!(
        "{}/2015-03-31/functions/{}/invocations",
        endpoint.trim_end_matches('/'),
        encode_segment(name)
    );
    if let Some(q) = qualifier {
        s.push_str("?Qualifier=");
        s.push_str(&encode_segment(q));
    }
    s.parse()
        .map_err(|_| ConnectError::Config(format!("Lambda endpoint {endpoint:?} is not a URL")))
}

/// The Lambda endpoint: the SDK's endpoint variables, else the region's.
fn endpoint(region: &str) -> String {
    for var in ["AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return v.trim().to_owned();
        }
    }
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://lambda.{region}.{suffix}")
}

impl Invoke {
    pub(crate) async fn new(opts: &Options, out: Out) -> Result<Self, ConnectError> {
        let Target::Function {
            name,
            qualifier,
            region,
        } = &opts.target
        else {
            return Err(ConnectError::Config("not a function target".into()));
        };
        if opts.bearer.is_some() {
            return Err(ConnectError::Config(
                "--bearer: a function reached by Invoke is authorized by IAM (SigV4), not by a token".into(),
            ));
        }
        if opts.oauth.is_some() {
            return Err(ConnectError::Config(
                "--oauth: a function reached by Invoke is authorized by IAM (SigV4), not by OAuth"
                    .into(),
            ));
        }
        let signer = signer(opts, region.clone()).await?;
        let uri = invoke_uri(&endpoint(signer.region()), name, qualifier.as_deref())?;
        let host = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or_else(|| ConnectError::Config(format!("{uri}: no host")))?;
        Ok(Self {
            http: Http::new()?,
            signer,
            uri,
            host,
            out,
        })
    }

    /// Invokes the function with one message; writes its answer.
    pub(crate) async fn forward(&self, msg: &Inbound) -> Result<(), Failure> {
        let mut reauthorized = false;
        loop {
            let build = || async {
                let mut req = Request::post(self.uri.clone())
                    .header(header::HOST, &self.host)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("x-amz-invocation-type", "RequestResponse")
                    .body(Full::new(msg.raw.clone()))
                    .map_err(|e| Failure::BadAnswer(format!("request: {e}")))?;
                self.signer.sign(&mut req, &msg.raw).await?;
                Ok(req)
            };
            let resp = self.http.send(msg.idempotent(), build).await?;
            let status = resp.status();
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) && !reauthorized {
                reauthorized = true;
                self.signer.forget().await;
                continue;
            }
            let function_error = resp
                .headers()
                .get("x-amz-function-error")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = read_bounded(resp.into_body(), MAX_MESSAGE).await?;
            if !status.is_success() {
                return Err(Failure::Status {
                    status: status.as_u16(),
                    detail: service_error(&body),
                });
            }
            if let Some(kind) = function_error {
                return Err(Failure::Function(format!(
                    "{kind}: {}",
                    function_error_message(&body)
                )));
            }
            return self.answer(msg, &body).await;
        }
    }

    async fn answer(&self, msg: &Inbound, body: &Bytes) -> Result<(), Failure> {
        let wanted = msg.request_ids();
        let v: Value = serde_json::from_slice(body).map_err(|_| {
            Failure::BadAnswer(format!(
                "the function returned something that is not JSON: {}",
                excerpt(&String::from_utf8_lossy(body), 200)
            ))
        })?;
        match v {
            Value::Null if wanted.is_empty() => Ok(()),
            Value::Object(_) | Value::Array(_) => {
                let got = answered_ids(&v);
                if wanted.iter().all(|id| got.contains(id)) {
                    self.out.message(body).await;
                    Ok(())
                } else {
                    Err(Failure::BadAnswer(format!(
                        "the function's answer does not answer the request: {}",
                        excerpt(&String::from_utf8_lossy(body), 200)
                    )))
                }
            }
            _ => Err(Failure::BadAnswer(format!(
                "the function returned {} where a JSON-RPC answer was expected",
                excerpt(&v.to_string(), 100)
            ))),
        }
    }
}

/// `Type: message` of a Lambda service error body.
fn service_error(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let kind = v
        .get("Type")
        .or_else(|| v.get("__type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let message = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    excerpt(&format!("{kind} {message}"), 300)
}

/// The message of a function error payload (`errorType`, `errorMessage`).
fn function_error_message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let t = v.get("errorType").and_then(Value::as_str).unwrap_or("");
    let m = v.get("errorMessage").and_then(Value::as_str).unwrap_or("");
    excerpt(&format!("{t} {m}"), 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_urls() {
        let u = invoke_uri(
            "https://lambda.us-east-1.amazonaws.com",
            "arn:aws:lambda:us-east-1:123:function:fn",
            Some("$LATEST"),
        )
        .unwrap();
        assert_eq!(
            u.to_string(),
            "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123%3Afunction%3Afn/invocations?Qualifier=%24LATEST"
        );
        let u = invoke_uri("http://127.0.0.1:9000/", "_", None).unwrap();
        assert_eq!(
            u.to_string(),
            "http://127.0.0.1:9000/2015-03-31/functions/_/invocations"
        );
    }

    #[test]
    fn errors_read() {
        assert_eq!(
            service_error(br#"{"Type":"User","message":"Rate exceeded"}"#),
            "User Rate exceeded"
        );
        assert_eq!(
            function_error_message(br#"{"errorType":"Runtime.ExitError","errorMessage":"boom"}"#),
            "Runtime.ExitError boom"
        );
    }
}
