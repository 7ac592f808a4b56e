//! Credentials for the endpoint: a bearer token read from a variable or a file, or AWS SigV4
//! signatures with the AWS SDK's credential chain.
//!
//! Contract: [`BearerSource::token`] reads the token at each call (a file is re-read, so a token
//! refreshed on disk by another tool is picked up), bounded ([`MAX_TOKEN`]) and checked to be
//! header-safe; it is never logged. [`Signer::sign`] adds `x-amz-date`, `x-amz-content-sha256`
//! (the body's SHA-256, as Lambda Function URLs require for POST), `x-amz-security-token` when
//! the credentials carry one, and `authorization` to a request whose headers are final; the
//! credentials are cached and fetched again [`REFRESH_BEFORE`] before they expire.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::ConnectError;

/// Longest bearer token accepted.
pub const MAX_TOKEN: usize = 16 * 1024;
/// Credentials are fetched again when they expire within this.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);
/// Longest wait for the credential chain (SSO, container and instance endpoints included).
pub const CREDENTIALS_WITHIN: Duration = Duration::from_secs(30);

/// Where the bearer token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerSource {
    /// `env:NAME`: the variable NAME.
    Env(String),
    /// `file:PATH`: the file's content, trimmed.
    File(PathBuf),
}

impl BearerSource {
    /// Parses `env:NAME` or `file:PATH`. A literal token is refused: on a command line every
    /// user of the machine can read it.
    pub fn parse(s: &str) -> Result<BearerSource, ConnectError> {
        if let Some(name) = s.strip_prefix("env:").filter(|n| !n.is_empty()) {
            return Ok(BearerSource::Env(name.to_owned()));
        }
        if let Some(path) = s.strip_prefix("file:").filter(|p| !p.is_empty()) {
            return Ok(BearerSource::File(PathBuf::from(path)));
        }
        Err(ConnectError::Config(
            "--bearer: give env:NAME or file:PATH (a token written on the command line is visible to every user of the machine)".into(),
        ))
    }

    /// The token, read now.
    pub fn token(&self) -> Result<String, ConnectError> {
        let raw = match self {
            BearerSource::Env(name) => std::env::var(name).map_err(|_| {
                ConnectError::Credentials(format!("--bearer: variable {name} is not set"))
            })?,
            BearerSource::File(path) => {
                let meta = std::fs::metadata(path).map_err(|e| {
                    ConnectError::Credentials(format!("--bearer: {}: {e}", path.display()))
                })?;
                if meta.len() > MAX_TOKEN as u64 {
                    return Err(ConnectError::Credentials(format!(
                        "--bearer: {} is larger than {MAX_TOKEN} bytes",
                        path.display()
                    )));
                }
                std::fs::read_to_string(path).map_err(|e| {
                    ConnectError::Credentials(format!("--bearer: {}: {e}", path.display()))
                })?
            }
        };
        let token = raw.trim();
        if token.is_empty()
            || token.len() > MAX_TOKEN
            || !token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ConnectError::Credentials(
                "--bearer: the token is empty, too long or not printable ASCII".into(),
            ));
        }
        Ok(token.to_owned())
    }
}

/// SigV4 signing for one service and region, with cached credentials.
pub struct Signer {
    provider: SharedCredentialsProvider,
    region: String,
    service: &'static str,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl Signer {
    /// A signer for `service` in `region` with credentials from `provider`.
    pub fn new(provider: SharedCredentialsProvider, region: String, service: &'static str) -> Self {
        Self {
            provider,
            region,
            service,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The region signatures are made for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Credentials valid for at least [`REFRESH_BEFORE`] (fetched again when not).
    pub async fn credentials(&self) -> Result<Credentials, ConnectError> {
        let mut cached = self.cached.lock().await;
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + REFRESH_BEFORE)
        };
        if let Some(c) = cached.as_ref().filter(|c| fresh(c)) {
            return Ok(c.clone());
        }
        let got = tokio::time::timeout(CREDENTIALS_WITHIN, self.provider.provide_credentials())
            .await
            .map_err(|_| {
                ConnectError::Credentials(format!(
                    "no AWS credentials within {}s (SSO login or instance role endpoint not answering?)",
                    CREDENTIALS_WITHIN.as_secs()
                ))
            })?
            .map_err(|e| ConnectError::Credentials(format!("AWS credentials: {e}")))?;
        *cached = Some(got.clone());
        Ok(got)
    }

    /// Forgets the cached credentials (after the endpoint refused them).
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    /// Signs `req` (whose `host` header and other headers are final) with `body` as its payload.
    pub async fn sign<B>(
        &self,
        req: &mut http::Request<B>,
        body: &[u8],
    ) -> Result<(), ConnectError> {
        let creds = self.credentials().await?;
        sign_with(
            req,
            body,
            creds,
            &self.region,
            self.service,
            SystemTime::now(),
        )
    }
}

/// Signs `req` with `creds` at `time` (see [`Signer::sign`]).
pub fn sign_with<B>(
    req: &mut http::Request<B>,
    body: &[u8],
    creds: Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<(), ConnectError> {
    let fail = |e: &dyn std::fmt::Display| ConnectError::Credentials(format!("SigV4: {e}"));
    let identity: Identity = creds.into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| fail(&e))?
        .into();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let uri = req.uri().to_string();
    let signable = SignableRequest::new(
        req.method().as_str(),
        &uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| fail(&e))?;
    let (instructions, _) = sign(signable, &params).map_err(|e| fail(&e))?.into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_sources() {
        assert_eq!(
            BearerSource::parse("env:TOKEN").unwrap(),
            BearerSource::Env("TOKEN".into())
        );
        assert!(BearerSource::parse("abc.def.ghi").is_err());
        assert!(BearerSource::parse("env:").is_err());
        let dir = std::env::temp_dir().join(format!("mcpl-bearer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t");
        std::fs::write(&f, "tok123\n").unwrap();
        let src = BearerSource::parse(&format!("file:{}", f.display())).unwrap();
        assert_eq!(src.token().unwrap(), "tok123");
        std::fs::write(&f, "bad token\r\nX-Injected: 1").unwrap();
        assert!(src.token().is_err());
        std::fs::write(&f, "x".repeat(MAX_TOKEN + 1)).unwrap();
        assert!(src.token().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Hands out credentials that expire `lifetime` after they are made, counting calls.
    #[derive(Debug)]
    struct Expiring {
        lifetime: Duration,
        calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl ProvideCredentials for Expiring {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                "s",
                None,
                Some(SystemTime::now() + self.lifetime),
                "t",
            )))
        }
    }

    #[tokio::test]
    async fn credentials_are_cached_until_they_near_expiry() {
        let long = Expiring {
            lifetime: Duration::from_secs(3600),
            calls: Default::default(),
        };
        let s = Signer::new(SharedCredentialsProvider::new(long), "r".into(), "lambda");
        for _ in 0..3 {
            assert_eq!(s.credentials().await.unwrap().access_key_id(), "AKID0");
        }
        s.forget().await;
        assert_eq!(s.credentials().await.unwrap().access_key_id(), "AKID1");
        // Credentials that expire within REFRESH_BEFORE are fetched again for every use.
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let short = Expiring {
            lifetime: REFRESH_BEFORE / 2,
            calls: calls.clone(),
        };
        let s = Signer::new(SharedCredentialsProvider::new(short), "r".into(), "lambda");
        s.credentials().await.unwrap();
        assert_eq!(s.credentials().await.unwrap().access_key_id(), "AKID1");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn signatures_carry_the_body_hash_and_token() {
        let mut req = http::Request::post("https://abc.lambda-url.us-east-1.on.aws/mcp")
            .header("host", "abc.lambda-url.us-east-1.on.aws")
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("session".into()), None, "t");
        sign_with(
            &mut req,
            b"{}",
            creds,
            "us-east-1",
            "lambda",
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let h = req.headers();
        assert_eq!(
            h["x-amz-content-sha256"],
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(h["x-amz-security-token"], "session");
        let auth = h["authorization"].to_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19700101/us-east-1/lambda/aws4_request"
        ));
        assert!(auth.contains("x-amz-content-sha256"), "{auth}");
    }
}
