//! What `connect` forwards to: a Streamable HTTP URL or a Lambda function reached by Invoke.
//!
//! Contract: [`Target::parse`] accepts `http://…` / `https://…` (an MCP endpoint, e.g. a Function
//! URL's `/mcp`), `lambda:FUNCTION[:QUALIFIER]` and a Lambda function ARN
//! (`arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`); anything else is an error
//! that names the accepted forms. [`url_region`] reads the region out of a Function URL host
//! (`ID.lambda-url.REGION.on.aws`).

use std::fmt;

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Streamable HTTP endpoint.
    Url(http::Uri),
    /// A Lambda function, by direct Invoke.
    Function {
        /// The function's name, or its ARN without the qualifier.
        name: String,
        /// The version or alias, if any.
        qualifier: Option<String>,
        /// The region an ARN names.
        region: Option<String>,
    },
}

/// A target that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "target {given:?}: {why} (expected https://…, lambda:FUNCTION[:QUALIFIER] or a function ARN)"
)]
pub struct TargetError {
    given: String,
    why: &'static str,
}

impl Target {
    /// Parses a target as written on the command line.
    pub fn parse(s: &str) -> Result<Target, TargetError> {
        let err = |why| TargetError {
            given: s.to_owned(),
            why,
        };
        if s.starts_with("https://") || s.starts_with("http://") {
            let uri: http::Uri = s.parse().map_err(|_| err("not a URL"))?;
            if uri.host().is_none_or(str::is_empty) {
                return Err(err("the URL has no host"));
            }
            return Ok(Target::Url(uri));
        }
        if let Some(rest) = s.strip_prefix("lambda:") {
            let (name, qualifier) = match rest.split_once(':') {
                Some((n, q)) => (n, Some(q)),
                None => (rest, None),
            };
            check_name(name).map_err(err)?;
            if let Some(q) = qualifier {
                check_qualifier(q).map_err(err)?;
            }
            return Ok(Target::Function {
                name: name.to_owned(),
                qualifier: qualifier.map(str::to_owned),
                region: None,
            });
        }
        if s.starts_with("arn:") {
            let parts: Vec<&str> = s.split(':').collect();
            // arn:partition:lambda:region:account:function:name[:qualifier]
            if !(7..=8).contains(&parts.len()) || parts[2] != "lambda" || parts[5] != "function" {
                return Err(err("not a Lambda function ARN"));
            }
            if parts[3].is_empty() || parts[4].is_empty() {
                return Err(err("the ARN has no region or account"));
            }
            check_name(parts[6]).map_err(err)?;
            let qualifier = parts.get(7).copied();
            if let Some(q) = qualifier {
                check_qualifier(q).map_err(err)?;
            }
            return Ok(Target::Function {
                name: parts[..7].join(":"),
                qualifier: qualifier.map(str::to_owned),
                region: Some(parts[3].to_owned()),
            });
        }
        Err(err("unknown form"))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Url(u) => write!(f, "{u}"),
            Target::Function {
                name,
                qualifier: None,
                ..
            } => write!(f, "lambda:{name}"),
            Target::Function {
                name,
                qualifier: Some(q),
                ..
            } => write!(f, "lambda:{name}:{q}"),
        }
    }
}

/// Lambda's function-name rule: 1–64 of letters, digits, `-` and `_`.
fn check_name(name: &str) -> Result<(), &'static str> {
    if (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err("a function name is 1–64 letters, digits, - and _")
    }
}

/// Lambda's qualifier rule: `$LATEST`, a version number or an alias (1–128 of letters, digits,
/// `-` and `_`).
fn check_qualifier(q: &str) -> Result<(), &'static str> {
    if q == "$LATEST"
        || ((1..=128).contains(&q.len())
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        Ok(())
    } else {
        Err("a qualifier is $LATEST, a version or an alias")
    }
}

/// The region of a Function URL (`ID.lambda-url.REGION.on.aws`), if `uri` is one.
pub fn url_region(uri: &http::Uri) -> Option<String> {
    let host = uri.host()?;
    let mut labels = host.split('.');
    let _id = labels.next()?;
    (labels.next()? == "lambda-url").then_some(())?;
    let region = labels.next()?;
    (labels.next()? == "on" && labels.next()? == "aws" && labels.next().is_none())
        .then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert!(matches!(
            Target::parse("https://abc.lambda-url.eu-west-1.on.aws/mcp"),
            Ok(Target::Url(_))
        ));
        assert_eq!(
            Target::parse("lambda:my-fn:live"),
            Ok(Target::Function {
                name: "my-fn".into(),
                qualifier: Some("live".into()),
                region: None
            })
        );
        assert_eq!(
            Target::parse("arn:aws:lambda:us-east-2:123456789012:function:fn:$LATEST"),
            Ok(Target::Function {
                name: "arn:aws:lambda:us-east-2:123456789012:function:fn".into(),
                qualifier: Some("$LATEST".into()),
                region: Some("us-east-2".into())
            })
        );
        for bad in [
            "ftp://x",
            "lambda:",
            "lambda:a/b",
            "lambda:fn:bad qualifier",
            "arn:aws:s3:::bucket",
            "arn:aws:lambda::1:function:fn",
            "my-fn",
            "https://",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn function_url_regions() {
        let u: http::Uri = "https://abcdef.lambda-url.ap-southeast-2.on.aws/mcp"
            .parse()
            .unwrap();
        assert_eq!(url_region(&u).as_deref(), Some("ap-southeast-2"));
        let u: http::Uri = "https://example.com/mcp".parse().unwrap();
        assert_eq!(url_region(&u), None);
        let u: http::Uri = "http://127.0.0.1:9000/lambda-url/_/mcp".parse().unwrap();
        assert_eq!(url_region(&u), None);
    }
}
