//! Lambda event shapes: which front door an event came through, the `http::Request` it carries,
//! and the response envelope that front door expects back.
//!
//! Contract:
//! - [`classify`] tells apart, by their distinguishing fields, API Gateway HTTP API / Function
//!   URL events (payload 2.0), API Gateway REST events (payload 1.0), ALB events (single- or
//!   multi-value headers), bare JSON-RPC messages (direct Invoke) and Bedrock AgentCore Gateway
//!   tool calls (tool name in the client context). Anything else is [`Inbound::Unknown`] with a
//!   message naming the shapes we accept.
//! - HTTP events become an `http::Request<Bytes>`: method, path (REST stage prefix removed),
//!   query, every header value (multi-value headers preferred when present), and the body,
//!   base64-decoded when `isBase64Encoded`.
//! - [`envelope`] renders a response in the shape of the event's front door (multi-value headers
//!   for REST, and for ALB exactly when the request used them).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The front door an HTTP event came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// API Gateway HTTP API or a Lambda Function URL (payload format 2.0).
    HttpV2,
    /// API Gateway REST API (payload format 1.0).
    RestV1,
    /// Application Load Balancer; `multi_value` when the target group sends multi-value headers.
    Alb {
        /// The request used `multiValueHeaders`, so the response must too.
        multi_value: bool,
    },
}

/// An HTTP request from a front door, ready for the gateway.
#[derive(Debug)]
pub struct HttpEvent {
    /// Where it came from (decides the response shape).
    pub origin: Origin,
    /// The request.
    pub request: Request<Bytes>,
    /// The caller's identity, when the front door authenticated it.
    pub principal: Option<String>,
    /// Where the client reached the endpoint, from the event's request context (which AWS
    /// fills, not the client): `https://` + `domainName`, plus for REST the prefix (stage,
    /// base path) that `requestContext.path` has before `path`. `None` for ALB, whose `Host`
    /// is the client's.
    pub public_base: Option<String>,
}

/// What an invocation carries.
#[derive(Debug)]
pub enum Inbound {
    /// An HTTP request through a front door.
    Http(Box<HttpEvent>),
    /// A bare JSON-RPC message or batch (direct Invoke): its bytes.
    Rpc(Bytes),
    /// A Bedrock AgentCore Gateway tool call.
    AgentCore {
        /// The tool name, target prefix removed.
        tool: String,
        /// The tool's arguments (the event itself).
        arguments: Value,
    },
    /// An HTTP event of a known front door that cannot be read (bad base64, bad method...):
    /// answered with a 400 in that front door's envelope.
    BadHttp {
        /// The front door, for the response shape.
        origin: Origin,
        /// What is wrong.
        message: String,
    },
    /// Not an event shape we accept.
    Unknown(String),
}

/// The shapes we accept, for error messages.
pub const ACCEPTED_SHAPES: &str = "expected a Lambda Function URL or API Gateway HTTP API event (payload 2.0), an API Gateway REST event (payload 1.0), an ALB event, a JSON-RPC message or batch (direct Invoke), or a Bedrock AgentCore Gateway tool call";

/// Tells what `event` is. `agentcore_tool` is the client context's `bedrockAgentCoreToolName`.
pub fn classify(event: Value, agentcore_tool: Option<&str>) -> Inbound {
    if let Some(full) = agentcore_tool {
        // `<target>___<tool>`; a name without the separator is taken as the tool itself.
        let tool = full.split_once("___").map_or(full, |(_, t)| t).to_owned();
        return Inbound::AgentCore {
            tool,
            arguments: event,
        };
    }
    if is_jsonrpc(&event) {
        return match serde_json::to_vec(&event) {
            Ok(v) => Inbound::Rpc(Bytes::from(v)),
            Err(e) => Inbound::Unknown(e.to_string()),
        };
    }
    let Some(obj) = event.as_object() else {
        return Inbound::Unknown(format!("the event is not a JSON object; {ACCEPTED_SHAPES}"));
    };
    let rc = obj.get("requestContext").and_then(Value::as_object);
    let (origin, shape) = if rc.is_some_and(|rc| rc.contains_key("http"))
        && obj.get("version").and_then(Value::as_str) == Some("2.0")
    {
        (Origin::HttpV2, parse_v2(event))
    } else if rc.is_some_and(|rc| rc.contains_key("elb")) {
        let multi_value = obj.contains_key("multiValueHeaders");
        (Origin::Alb { multi_value }, parse_v1_or_alb(event, true))
    } else if obj.contains_key("httpMethod") && rc.is_some() {
        (Origin::RestV1, parse_v1_or_alb(event, false))
    } else {
        return Inbound::Unknown(format!("unrecognised event; {ACCEPTED_SHAPES}"));
    };
    match shape {
        Ok(h) => Inbound::Http(Box::new(h)),
        Err(e) => Inbound::BadHttp {
            origin,
            message: format!("malformed HTTP event: {e}"),
        },
    }
}

fn is_jsonrpc(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key("jsonrpc"),
        Value::Array(a) => a
            .first()
            .and_then(Value::as_object)
            .is_some_and(|o| o.contains_key("jsonrpc")),
        _ => false,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2 {
    #[serde(default)]
    raw_path: Option<String>,
    #[serde(default)]
    raw_query_string: Option<String>,
    #[serde(default)]
    cookies: Vec<String>,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
    request_context: V2Context,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2Context {
    http: V2Http,
    #[serde(default)]
    authorizer: Option<Value>,
    #[serde(default)]
    domain_name: Option<String>,
}

#[derive(Deserialize)]
struct V2Http {
    method: String,
    #[serde(default)]
    path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1 {
    http_method: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    headers: Option<HashMap<String, Option<String>>>,
    #[serde(default)]
    multi_value_headers: Option<HashMap<String, Option<Vec<String>>>>,
    #[serde(default)]
    query_string_parameters: Option<HashMap<String, Option<String>>>,
    #[serde(default)]
    multi_value_query_string_parameters: Option<HashMap<String, Option<Vec<String>>>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: Option<bool>,
    #[serde(default)]
    request_context: Option<Value>,
}

fn parse_v2(event: Value) -> Result<HttpEvent, String> {
    let e: V2 = serde_json::from_value(event).map_err(|e| e.to_string())?;
    let path = e
        .raw_path
        .or(e.request_context.http.path)
        .unwrap_or_else(|| "/".into());
    let query = e.raw_query_string.unwrap_or_default();
    let mut headers: Vec<(String, String)> = e.headers.into_iter().collect();
    if !e.cookies.is_empty() {
        headers.push(("cookie".into(), e.cookies.join("; ")));
    }
    let principal = e.request_context.authorizer.as_ref().and_then(|a| {
        str_at(a, &["iam", "userArn"])
            .map(|arn| format!("iam:{arn}"))
            .or_else(|| str_at(a, &["jwt", "claims", "sub"]).map(|s| format!("jwt:{s}")))
            .or_else(|| str_at(a, &["lambda", "principalId"]).map(|s| format!("authorizer:{s}")))
    });
    let body = decode_body(e.body, e.is_base64_encoded)?;
    let public_base = e
        .request_context
        .domain_name
        .as_deref()
        .and_then(|d| public_base(d, ""));
    Ok(HttpEvent {
        origin: Origin::HttpV2,
        public_base,
        request: build(
            &e.request_context.http.method,
            &encode_path(&path, false),
            &query,
            headers,
            body,
        )?,
        principal,
    })
}

fn parse_v1_or_alb(event: Value, alb: bool) -> Result<HttpEvent, String> {
    let e: V1 = serde_json::from_value(event).map_err(|e| e.to_string())?;
    let multi_value = e
        .multi_value_headers
        .as_ref()
        .is_some_and(|m| !m.is_empty());
    let headers: Vec<(String, String)> = match (&e.multi_value_headers, &e.headers) {
        (Some(m), _) if !m.is_empty() => m
            .iter()
            .flat_map(|(k, vs)| vs.iter().flatten().map(move |v| (k.clone(), v.clone())))
            .collect(),
        (_, Some(h)) => h
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect(),
        _ => Vec::new(),
    };
    let query = match (
        &e.multi_value_query_string_parameters,
        &e.query_string_parameters,
    ) {
        (Some(m), _) if !m.is_empty() => m
            .iter()
            .flat_map(|(k, vs)| vs.iter().flatten().map(move |v| query_pair(k, v, alb)))
            .collect::<Vec<_>>()
            .join("&"),
        (_, Some(q)) => q
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| query_pair(k, v, alb)))
            .collect::<Vec<_>>()
            .join("&"),
        _ => String::new(),
    };
    let rc = e.request_context.unwrap_or(Value::Null);
    let mut path = e.path.unwrap_or_else(|| "/".into());
    if !alb {
        // REST: `path` normally excludes the stage, but custom domains and some proxies keep it.
        if let Some(stage) = str_at(&rc, &["stage"]) {
            let prefix = format!("/{stage}");
            if let Some(rest) = path.strip_prefix(&prefix)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                path = if rest.is_empty() {
                    "/".into()
                } else {
                    rest.to_owned()
                };
            }
        }
    }
    // After the stage is stripped: the public path is `requestContext.path`, and what it has
    // before ours is the prefix (stage, custom domain base path).
    let public_base = match (alb, str_at(&rc, &["domainName"])) {
        (false, Some(domain)) => {
            let prefix = str_at(&rc, &["path"])
                .and_then(|full| full.strip_suffix(path.as_str()))
                .unwrap_or("");
            public_base(domain, prefix)
        }
        _ => None,
    };
    let principal = if alb {
        None
    } else {
        str_at(&rc, &["identity", "userArn"])
            .map(|arn| format!("iam:{arn}"))
            .or_else(|| str_at(&rc, &["authorizer", "claims", "sub"]).map(|s| format!("jwt:{s}")))
            .or_else(|| {
                str_at(&rc, &["authorizer", "principalId"]).map(|s| format!("authorizer:{s}"))
            })
    };
    let body = decode_body(e.body, e.is_base64_encoded.unwrap_or(false))?;
    let origin = if alb {
        Origin::Alb { multi_value }
    } else {
        Origin::RestV1
    };
    Ok(HttpEvent {
        origin,
        public_base,
        request: build(
            &e.http_method,
            &encode_path(&path, alb),
            &query,
            headers,
            body,
        )?,
        principal,
    })
}

/// `https://DOMAIN` + `prefix` (`/prod`), when the domain is a plain host name (letters, digits,
/// `-`, `.`, an optional `:port`) and the prefix a plain path without its trailing slash.
fn public_base(domain: &str, prefix: &str) -> Option<String> {
    let host_ok = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'));
    let prefix = prefix.trim_end_matches('/');
    let prefix_ok = prefix.is_empty()
        || (prefix.starts_with('/')
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~')));
    (host_ok && prefix_ok).then(|| format!("https://{}{prefix}", domain.to_ascii_lowercase()))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A `k=v` query pair. REST delivers parameters decoded (encode them); ALB passes them as the
/// client sent them, still encoded (keep them).
fn query_pair(k: &str, v: &str, already_encoded: bool) -> String {
    if already_encoded {
        format!("{k}={v}")
    } else {
        format!("{}={}", pct(k), pct(v))
    }
}

/// Makes a path valid in a URI. API Gateway (1.0 and 2.0) delivers paths decoded (a space, `?`
/// or `%` may appear literally): everything outside the path character set is percent-encoded,
/// `%` included. ALB delivers the path as sent (`already_encoded`): existing `%XX` escapes are
/// kept, anything invalid is still encoded.
fn encode_path(path: &str, already_encoded: bool) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    for (i, &b) in bytes.iter().enumerate() {
        let escape_kept = b == b'%'
            && already_encoded
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) || escape_kept {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_body(body: Option<String>, base64: bool) -> Result<Bytes, String> {
    match body {
        None => Ok(Bytes::new()),
        Some(b) if base64 => B64
            .decode(b.as_bytes())
            .map(Bytes::from)
            .map_err(|e| format!("isBase64Encoded body is not base64: {e}")),
        Some(b) => Ok(Bytes::from(b)),
    }
}

fn build(
    method: &str,
    path: &str,
    query: &str,
    headers: Vec<(String, String)>,
    body: Bytes,
) -> Result<Request<Bytes>, String> {
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| format!("method: {e}"))?;
    let uri = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .map_err(|e| format!("request: {e}"))?;
    for (k, v) in headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) else {
            continue;
        };
        req.headers_mut().append(name, value);
    }
    Ok(req)
}

/// Renders `response` (with a complete body) as `origin`'s response envelope.
pub fn envelope(origin: Origin, response: Response<Bytes>) -> Value {
    let (parts, body) = response.into_parts();
    let status = parts.status;
    let (body, is_base64) = match std::str::from_utf8(&body) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (B64.encode(&body), true),
    };
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        single.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
        multi.insert(name.as_str().to_owned(), json!(values));
    }
    match origin {
        // `cookies` is optional for Lambda itself but required by some emulators' decoders.
        Origin::HttpV2 => json!({
            "statusCode": status.as_u16(),
            "headers": single,
            "body": body,
            "isBase64Encoded": is_base64,
            "cookies": [],
        }),
        Origin::RestV1 => json!({
            "statusCode": status.as_u16(),
            "headers": single,
            "multiValueHeaders": multi,
            "body": body,
            "isBase64Encoded": is_base64,
        }),
        Origin::Alb { multi_value } => {
            let mut v = json!({
                "statusCode": status.as_u16(),
                "statusDescription": status_description(status),
                "body": body,
                "isBase64Encoded": is_base64,
            });
            if let Some(o) = v.as_object_mut() {
                if multi_value {
                    o.insert("multiValueHeaders".into(), Value::Object(multi));
                } else {
                    o.insert("headers".into(), Value::Object(single));
                }
            }
            v
        }
    }
}

fn status_description(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests;
