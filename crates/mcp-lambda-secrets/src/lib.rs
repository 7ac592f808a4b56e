//! Secrets for the child: environment values `ssm:NAME` (an SSM Parameter Store parameter,
//! decrypted) and `secretsmanager:ID[#KEY]` (a Secrets Manager secret's string, or one key of its
//! JSON object), resolved once at start-up — on Lambda during INIT — and handed to the child as
//! plain values.
//!
//! Contract: [`SecretRef::parse`] recognizes a reference (anything else is a plain value);
//! [`Resolver::resolve`] fetches each distinct reference once with the AWS SDK's credential chain
//! and region, signing `ssm:GetParameter` / `secretsmanager:GetSecretValue` JSON calls with
//! SigV4 (`aws-sigv4`), bounded in time ([`TIMEOUT`]) and size ([`MAX_BYTES`]). A reference that
//! cannot be resolved is an error naming the variable and the reference, never the value; values
//! are never logged. Endpoints follow the SDK's variables: `AWS_ENDPOINT_URL_SSM`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`, then `AWS_ENDPOINT_URL`, else the regional endpoint.

mod call;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

pub use call::MAX_BYTES;

/// Longest wait for one secret.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A reference to a secret, as written in an environment value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// `ssm:NAME` (a name such as `/app/key`, or a parameter ARN).
    Ssm {
        /// The parameter name or ARN.
        name: String,
    },
    /// `secretsmanager:ID[#KEY]` (a secret name or ARN, and optionally a key of its JSON).
    SecretsManager {
        /// The secret name or ARN.
        id: String,
        /// The JSON key to take, when given.
        key: Option<String>,
    },
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Ssm { name } => write!(f, "ssm:{name}"),
            SecretRef::SecretsManager { id, key: None } => write!(f, "secretsmanager:{id}"),
            SecretRef::SecretsManager { id, key: Some(k) } => {
                write!(f, "secretsmanager:{id}#{k}")
            }
        }
    }
}

/// Why a secret could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The reference is malformed.
    #[error("{0}")]
    Malformed(String),
    /// No AWS credentials or region.
    #[error("AWS configuration: {0}")]
    Aws(String),
    /// The service refused or failed (not found, access denied, ...).
    #[error("{0}")]
    Service(String),
    /// The value is not what the reference asks for (binary secret, missing JSON key, ...).
    #[error("{0}")]
    Value(String),
}

impl SecretRef {
    /// The reference in `value`, if it is one (`ssm:` or `secretsmanager:`); `Some(Err)` for a
    /// reference that is malformed.
    pub fn parse(value: &str) -> Option<Result<SecretRef, SecretError>> {
        if let Some(name) = value.strip_prefix("ssm:") {
            return Some(if name.is_empty() {
                Err(SecretError::Malformed("ssm: needs a parameter name".into()))
            } else {
                Ok(SecretRef::Ssm {
                    name: name.to_owned(),
                })
            });
        }
        let rest = value.strip_prefix("secretsmanager:")?;
        let (id, key) = match rest.rsplit_once('#') {
            Some((id, key)) => (id, Some(key)),
            None => (rest, None),
        };
        Some(if id.is_empty() || key.is_some_and(str::is_empty) {
            Err(SecretError::Malformed(
                "secretsmanager: needs a secret id (and a key after #, if any)".into(),
            ))
        } else {
            Ok(SecretRef::SecretsManager {
                id: id.to_owned(),
                key: key.map(str::to_owned),
            })
        })
    }
}

/// Fetches secrets with the AWS SDK's configuration.
pub struct Resolver {
    aws: aws_config::SdkConfig,
    client: call::Client,
}

impl Resolver {
    /// A resolver with the SDK's default chains (credentials, region).
    pub async fn from_env() -> Result<Self, SecretError> {
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(call::sdk_http_client())
            .load()
            .await;
        Ok(Self {
            aws,
            client: call::Client::new()?,
        })
    }

    /// Resolves `refs` (variable name, reference), each distinct reference once; the values in
    /// the same order. The first failure is the answer, naming its variable.
    pub async fn resolve(
        &self,
        refs: &[(String, SecretRef)],
    ) -> Result<Vec<(String, String)>, (String, SecretRef, SecretError)> {
        let mut fetched: HashMap<SecretRef, String> = HashMap::new();
        let mut out = Vec::with_capacity(refs.len());
        for (var, r) in refs {
            let value = match fetched.get(r) {
                Some(v) => v.clone(),
                None => {
                    let v = tokio::time::timeout(TIMEOUT, self.fetch(r))
                        .await
                        .unwrap_or_else(|_| {
                            Err(SecretError::Service(format!(
                                "no answer within {TIMEOUT:?}"
                            )))
                        })
                        .map_err(|e| (var.clone(), r.clone(), e))?;
                    fetched.insert(r.clone(), v.clone());
                    v
                }
            };
            out.push((var.clone(), value));
        }
        Ok(out)
    }

    async fn fetch(&self, r: &SecretRef) -> Result<String, SecretError> {
        match r {
            SecretRef::Ssm { name } => {
                let v = self
                    .call(
                        "ssm",
                        "AmazonSSM.GetParameter",
                        json!({"Name": name, "WithDecryption": true}),
                    )
                    .await?;
                v.pointer("/Parameter/Value")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| SecretError::Value("the answer has no Parameter.Value".into()))
            }
            SecretRef::SecretsManager { id, key } => {
                let v = self
                    .call(
                        "secretsmanager",
                        "secretsmanager.GetSecretValue",
                        json!({"SecretId": id}),
                    )
                    .await?;
                let Some(text) = v.get("SecretString").and_then(Value::as_str) else {
                    return Err(SecretError::Value(
                        "the secret has no SecretString (binary secrets are not supported)".into(),
                    ));
                };
                match key {
                    None => Ok(text.to_owned()),
                    Some(k) => json_key(text, k),
                }
            }
        }
    }

    async fn call(&self, service: &str, target: &str, body: Value) -> Result<Value, SecretError> {
        let region = self
            .aws
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or_else(|| SecretError::Aws("no region (set AWS_REGION)".into()))?;
        let endpoint = endpoint(service, &region);
        let creds = {
            use aws_credential_types::provider::ProvideCredentials;
            let provider = self
                .aws
                .credentials_provider()
                .ok_or_else(|| SecretError::Aws("no credentials provider".into()))?;
            provider
                .provide_credentials()
                .await
                .map_err(|e| SecretError::Aws(format!("no credentials: {e}")))?
        };
        self.client
            .post_json(&endpoint, service, &region, target, &body, creds)
            .await
    }
}

/// One key of a JSON object secret, as text (strings as they are, other values as JSON).
fn json_key(text: &str, key: &str) -> Result<String, SecretError> {
    let v: Value = serde_json::from_str(text).map_err(|_| {
        SecretError::Value("the secret is not a JSON object (needed for #key)".into())
    })?;
    match v.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(SecretError::Value(format!(
            "the secret's JSON has no key {key:?}"
        ))),
    }
}

/// The endpoint for `service` in `region`, honouring the SDK's endpoint variables.
fn endpoint(service: &str, region: &str) -> String {
    let specific = match service {
        "ssm" => "AWS_ENDPOINT_URL_SSM",
        _ => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    };
    std::env::var(specific)
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| format!("https://{service}.{region}.amazonaws.com"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn references_parse() {
        assert_eq!(SecretRef::parse("plain"), None);
        assert_eq!(
            SecretRef::parse("ssm:/app/key").unwrap().unwrap(),
            SecretRef::Ssm {
                name: "/app/key".into()
            }
        );
        let arn = "secretsmanager:arn:aws:secretsmanager:eu-west-1:1:secret:db-AbC#password";
        assert_eq!(
            SecretRef::parse(arn).unwrap().unwrap(),
            SecretRef::SecretsManager {
                id: "arn:aws:secretsmanager:eu-west-1:1:secret:db-AbC".into(),
                key: Some("password".into())
            }
        );
        assert_eq!(SecretRef::parse(arn).unwrap().unwrap().to_string(), arn);
        for bad in [
            "ssm:",
            "secretsmanager:",
            "secretsmanager:x#",
            "secretsmanager:#k",
        ] {
            assert!(SecretRef::parse(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn json_keys_are_taken_as_text() {
        assert_eq!(json_key(r#"{"u":"a","n":5}"#, "u").unwrap(), "a");
        assert_eq!(json_key(r#"{"u":"a","n":5}"#, "n").unwrap(), "5");
        assert!(json_key(r#"{"u":"a"}"#, "x").is_err());
        assert!(json_key("plain", "x").is_err());
    }
}
