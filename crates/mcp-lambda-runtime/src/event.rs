//! Lambda event shapes: which front door an event came through, the `http::Request` it carries,
//! and the response envelope that front door expects back.
//!
//! Contract:
//! - [`classify`] tells apart, by their distinguishing fields, API Gateway HTTP API / Function
//!   URL events (payload 2.0), API Gateway REST events (payload 1.0), ALB events (single- or
//!   multi-value headers), bare JSON-RPC messages (direct Invoke) and Bedrock AgentCore Gateway
//!   tool calls (tool name in the client context). Anything else is [`Inbound::Unknown`] with a
//!   message naming the shapes we accept.
//! - HTTP events are read by `lambda_http`: its event types (`aws_lambda_events`) and its
//!   conversion to an `http::Request` (method, headers with multi-value headers merged, cookies,
//!   query). Around it, small adapters for what it does not do or does not do safely:
//!   - the caller's principal and the public base URL, read from the event's request context
//!     (API Gateway REST puts Lambda and Cognito authorizer results where its types keep none);
//!   - the path: REST stage prefix removed (`lambda_http` adds it), percent-encoded as a URI
//!     needs (API Gateway delivers it decoded), and it must start with `/`;
//!   - the query of an HTTP API / Function URL event percent-encoded where a URI needs it;
//!   - the body, base64-decoded here (a bad one is a 400, where `lambda_http` would panic);
//!   - query parameters without a value dropped (`query_map` panics on them), a URI longer
//!     than [`MAX_URI_BYTES`] refused (`http` would not build it), and so are more than
//!     [`MAX_HEADER_NAMES`] header names (the header map's capacity would overflow);
//!   - multi-value headers, when present, not overwritten by the single-value map;
//!   - the path kept as sent (lambda_http's URL parsing resolves `..` segments);
//!   - the `Host` header kept out of its URI building (which panics on a host it cannot parse)
//!     and put back on the request as sent.
//! - [`envelope`] renders a response in `aws_lambda_events`' response types for the event's
//!   front door: repeated header values joined with `, ` where a front door takes one value per
//!   name (HTTP API, ALB single-value), multi-value headers for REST (only there: API Gateway
//!   would repeat a header given in both), and for ALB exactly when the request used them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::header::{HOST, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use lambda_http::aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupResponse};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use lambda_http::aws_lambda_events::encodings::Body as EventBody;
use lambda_http::request::LambdaRequest;
use serde_json::Value;

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
    let origin = if rc.is_some_and(|rc| rc.contains_key("http"))
        && obj.get("version").and_then(Value::as_str) == Some("2.0")
    {
        Origin::HttpV2
    } else if rc.is_some_and(|rc| rc.contains_key("elb")) {
        let multi_value = obj
            .get("multiValueHeaders")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty());
        Origin::Alb { multi_value }
    } else if obj.contains_key("httpMethod") && rc.is_some() {
        Origin::RestV1
    } else {
        return Inbound::Unknown(format!("unrecognised event; {ACCEPTED_SHAPES}"));
    };
    match http_event(origin, event) {
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

/// Reads an HTTP event of `origin`: the adapters around `lambda_http` (see the module docs).
fn http_event(origin: Origin, mut event: Value) -> Result<HttpEvent, String> {
    let principal = principal(origin, &event);
    for key in ["headers", "multiValueHeaders"] {
        let names = event
            .get(key)
            .and_then(Value::as_object)
            .map_or(0, |h| h.len());
        if names > MAX_HEADER_NAMES {
            return Err(format!(
                "more than {MAX_HEADER_NAMES} header names in {key}"
            ));
        }
    }
    without_empty_query_values(&mut event);
    // lambda_http form-encodes REST and ALB parameters: at most three bytes for each.
    let query_bound = 3 * query_bytes(&event);
    let typed = |e: serde_json::Error| e.to_string();
    let (lambda_request, path, body) = match origin {
        Origin::HttpV2 => {
            let mut e: ApiGatewayV2httpRequest = serde_json::from_value(event).map_err(typed)?;
            let body = decode_body(e.body.take(), e.is_base64_encoded)?;
            let path = e
                .raw_path
                .take()
                .or_else(|| e.request_context.http.path.take())
                .unwrap_or_else(|| "/".into());
            e.raw_query_string = e.raw_query_string.take().map(|q| encode_query(&q));
            (LambdaRequest::ApiGatewayV2(e), path, body)
        }
        Origin::RestV1 => {
            let mut e: ApiGatewayProxyRequest = serde_json::from_value(event).map_err(typed)?;
            let body = decode_body(e.body.take(), e.is_base64_encoded)?;
            let stage = e.request_context.stage.take();
            let path = strip_stage(e.path.take().unwrap_or_else(|| "/".into()), stage);
            (LambdaRequest::ApiGatewayV1(e), path, body)
        }
        Origin::Alb { .. } => {
            let mut e: AlbTargetGroupRequest = serde_json::from_value(event).map_err(typed)?;
            let body = decode_body(e.body.take(), e.is_base64_encoded)?;
            let path = e.path.take().unwrap_or_else(|| "/".into());
            (LambdaRequest::Alb(e), path, body)
        }
    };
    if !path.starts_with('/') {
        return Err(format!("the path must start with '/': {path:?}"));
    }
    // After the stage is stripped: the public path is `requestContext.path`, and what it has
    // before ours is the prefix (stage, custom domain base path).
    let public_base = public_base_of(origin, &lambda_request, &path);
    let encoded = encode_path(&path, matches!(origin, Origin::Alb { .. }));
    let raw_query = match &lambda_request {
        LambdaRequest::ApiGatewayV2(e) => e.raw_query_string.as_deref().map_or(0, str::len),
        _ => 0,
    };
    if encoded.len() + raw_query + query_bound > MAX_URI_BYTES {
        return Err(format!("the URI is longer than {MAX_URI_BYTES} bytes"));
    }
    let (lambda_request, host) = without_host(lambda_request, encoded.clone());
    let converted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        http::Request::<lambda_http::Body>::from(lambda_request)
    }))
    .map_err(|_| "the event's URI cannot be read".to_owned())?;
    let (mut parts, _) = converted.into_parts();
    // Only what a request needs travels on: not lambda_http's context extensions. The path is
    // ours as encoded (lambda_http's URL parsing would resolve `..` segments, so a request for
    // `/x/../mcp` would reach a route the front door never routed to us).
    parts.extensions = http::Extensions::new();
    parts.uri = match parts.uri.query() {
        Some(q) => format!("{encoded}?{q}").parse(),
        None => encoded.parse(),
    }
    .map_err(|e| format!("the event's URI cannot be read: {e}"))?;
    if let Some(host) = host {
        parts.headers.insert(HOST, host);
    }
    Ok(HttpEvent {
        origin,
        public_base,
        request: Request::from_parts(parts, body),
        principal,
    })
}

/// Removes query parameters with no value (`null`, `[]`) from a REST or ALB event: a
/// parameter without values makes `query_map` (under `lambda_http`) index an empty list.
fn without_empty_query_values(event: &mut Value) {
    for key in ["queryStringParameters", "multiValueQueryStringParameters"] {
        if let Some(params) = event.get_mut(key).and_then(Value::as_object_mut) {
            params.retain(|_, v| match v {
                Value::Null => false,
                Value::Array(values) => !values.is_empty(),
                _ => true,
            });
        }
    }
}

/// A REST or ALB event's `Host` taken out of both header maps (see [`without_host`]), and the
/// single-value map emptied when multi-value headers are present: lambda_http merges
/// `headers` over `multiValueHeaders`, replacing every value of a name in both, and API
/// Gateway puts only a name's last value in `headers` (`Accept` sent on two lines would keep
/// one). With multi-value headers present they are the whole truth.
fn host_out_of(headers: &mut HeaderMap, multi_value: &mut HeaderMap) -> Option<HeaderValue> {
    let host = multi_value.remove(HOST);
    let host = headers.remove(HOST).or(host);
    if !multi_value.is_empty() {
        headers.clear();
    }
    host
}

/// Header names an HTTP event may carry in each header map (the header map would panic on
/// tens of thousands; a front door sends far fewer).
pub const MAX_HEADER_NAMES: usize = 512;

/// The longest URI (path and query, encoded) an HTTP event may carry: API Gateway takes at
/// most 10,240 bytes, and `http` refuses URIs of 64 KiB (where `lambda_http` panics).
pub const MAX_URI_BYTES: usize = 16 * 1024;

/// The bytes of the REST / ALB query as `name=value&` pairs, before encoding.
fn query_bytes(event: &Value) -> usize {
    let mut n = 0;
    for key in ["queryStringParameters", "multiValueQueryStringParameters"] {
        let Some(params) = event.get(key).and_then(Value::as_object) else {
            continue;
        };
        for (name, values) in params {
            // `name=value&` for each value.
            n += match values {
                Value::Array(vs) => vs
                    .iter()
                    .map(|v| name.len() + v.as_str().map_or(0, str::len) + 2)
                    .sum(),
                Value::String(v) => name.len() + v.len() + 2,
                _ => name.len() + 2,
            };
        }
    }
    n
}

/// `encoded` (the path without a REST stage, percent-encoded) set on `request`, and the `Host`
/// header taken out of its headers, so that `lambda_http` builds a relative URI from a path
/// that is valid in one and has no host to parse.
fn without_host(request: LambdaRequest, encoded: String) -> (LambdaRequest, Option<HeaderValue>) {
    match request {
        LambdaRequest::ApiGatewayV2(mut e) => {
            let host = e.headers.remove(HOST);
            e.request_context.domain_name = None;
            // `rawPath` is the path as the client sent it (a named stage's prefix included).
            e.request_context.stage = None;
            e.raw_path = Some(encoded);
            (LambdaRequest::ApiGatewayV2(e), host)
        }
        LambdaRequest::ApiGatewayV1(mut e) => {
            let host = host_out_of(&mut e.headers, &mut e.multi_value_headers);
            e.request_context.domain_name = None;
            e.path = Some(encoded);
            (LambdaRequest::ApiGatewayV1(e), host)
        }
        LambdaRequest::Alb(mut e) => {
            let host = host_out_of(&mut e.headers, &mut e.multi_value_headers);
            e.path = Some(encoded);
            (LambdaRequest::Alb(e), host)
        }
        other => (other, None),
    }
}

/// REST: `path` normally excludes the stage, but custom domains and some proxies keep it.
fn strip_stage(path: String, stage: Option<String>) -> String {
    let Some(stage) = stage.filter(|s| !s.is_empty()) else {
        return path;
    };
    let prefix = format!("/{stage}");
    match path.strip_prefix(&prefix) {
        Some("") => "/".into(),
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        _ => path,
    }
}

/// The caller's identity from the event's request context, when the front door authenticated
/// it: an IAM user ARN, a JWT authorizer's `sub`, or a Lambda authorizer's principal. Read
/// from the event as sent: `aws_lambda_events`' REST context keeps no authorizer results.
fn principal(origin: Origin, event: &Value) -> Option<String> {
    let rc = event.get("requestContext")?;
    match origin {
        Origin::HttpV2 => {
            let a = rc.get("authorizer")?;
            str_at(a, &["iam", "userArn"])
                .map(|arn| format!("iam:{arn}"))
                .or_else(|| str_at(a, &["jwt", "claims", "sub"]).map(|s| format!("jwt:{s}")))
                .or_else(|| {
                    str_at(a, &["lambda", "principalId"]).map(|s| format!("authorizer:{s}"))
                })
        }
        Origin::RestV1 => str_at(rc, &["identity", "userArn"])
            .map(|arn| format!("iam:{arn}"))
            .or_else(|| str_at(rc, &["authorizer", "claims", "sub"]).map(|s| format!("jwt:{s}")))
            .or_else(|| {
                str_at(rc, &["authorizer", "principalId"]).map(|s| format!("authorizer:{s}"))
            }),
        Origin::Alb { .. } => None,
    }
}

/// Where the client reached the endpoint (see [`HttpEvent::public_base`]); `path` is ours,
/// without a REST stage.
fn public_base_of(origin: Origin, request: &LambdaRequest, path: &str) -> Option<String> {
    match (origin, request) {
        (Origin::HttpV2, LambdaRequest::ApiGatewayV2(e)) => e
            .request_context
            .domain_name
            .as_deref()
            .and_then(|d| public_base(d, "")),
        (Origin::RestV1, LambdaRequest::ApiGatewayV1(e)) => {
            let domain = e.request_context.domain_name.as_deref()?;
            let prefix = e
                .request_context
                .path
                .as_deref()
                .and_then(|full| full.strip_suffix(path))
                .unwrap_or("");
            public_base(domain, prefix)
        }
        _ => None,
    }
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

/// Makes an HTTP API query valid in a URI: it is delivered as the client sent it, so `%XX`
/// escapes are kept and anything a URI cannot carry is percent-encoded.
fn encode_query(query: &str) -> String {
    let bytes = query.as_bytes();
    let mut out = String::with_capacity(query.len());
    for (i, &b) in bytes.iter().enumerate() {
        let escape = b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b) || escape {
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

/// Renders `response` (with a complete body) as `origin`'s response envelope.
pub fn envelope(origin: Origin, response: Response<Bytes>) -> Value {
    let (parts, body) = response.into_parts();
    let status_code = i64::from(parts.status.as_u16());
    let (body, is_base64_encoded) = match std::str::from_utf8(&body) {
        Ok(s) => (EventBody::Text(s.to_owned()), false),
        Err(_) => (EventBody::Text(B64.encode(&body)), true),
    };
    let body = Some(body);
    let rendered = match origin {
        Origin::HttpV2 => {
            let mut headers = parts.headers;
            let cookies = headers
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            headers.remove(SET_COOKIE);
            let mut r = ApiGatewayV2httpResponse::default();
            (r.status_code, r.body, r.is_base64_encoded) = (status_code, body, is_base64_encoded);
            r.headers = joined(&headers);
            r.cookies = cookies;
            serde_json::to_value(r)
        }
        Origin::RestV1 => {
            let mut r = ApiGatewayProxyResponse::default();
            (r.status_code, r.body, r.is_base64_encoded) = (status_code, body, is_base64_encoded);
            r.multi_value_headers = parts.headers;
            serde_json::to_value(r)
        }
        Origin::Alb { multi_value } => {
            let mut r = AlbTargetGroupResponse::default();
            (r.status_code, r.body, r.is_base64_encoded) = (status_code, body, is_base64_encoded);
            r.status_description = Some(status_description(parts.status));
            if multi_value {
                r.multi_value_headers = parts.headers;
            } else {
                r.headers = joined(&parts.headers);
            }
            serde_json::to_value(r)
        }
    };
    // The response types always carry both header maps; send only the one the front door reads.
    let unused = match origin {
        Origin::HttpV2 | Origin::Alb { multi_value: false } => "multiValueHeaders",
        Origin::RestV1 | Origin::Alb { multi_value: true } => "headers",
    };
    match rendered {
        Ok(Value::Object(mut o)) => {
            o.remove(unused);
            Value::Object(o)
        }
        Ok(other) => other,
        Err(e) => {
            tracing::error!("response envelope: {e}");
            serde_json::json!({"statusCode": 500, "body": ""})
        }
    }
}

/// One value per header name, repeated values joined with `, ` (the response types of the
/// single-value front doors keep only the first).
fn joined(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.keys_len());
    for name in headers.keys() {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else { continue };
        let mut value = first.as_bytes().to_vec();
        for v in values {
            value.extend_from_slice(b", ");
            value.extend_from_slice(v.as_bytes());
        }
        if let Ok(v) = HeaderValue::from_bytes(&value) {
            out.insert(name.clone(), v);
        }
    }
    out
}

fn status_description(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests;
