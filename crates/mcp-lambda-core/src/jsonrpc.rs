//! The JSON-RPC 2.0 envelope, parsed without touching the payload.
//!
//! Contract: [`parse`] reads only `jsonrpc`, `id`, `method`, `result` and `error` (and locates
//! `params`, [`Message::params`]) and keeps the original bytes of every message
//! ([`RawValue`]), so fields this proxy does not know travel unchanged. A message that names one
//! of those six members twice is not JSON-RPC (-32600): what is checked is what is forwarded. The only rewrite is the `id` ([`replace_id`]), used when many clients share one
//! child. Error bodies built here use the standard JSON-RPC codes, never HTTP numbers.

use std::fmt;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid JSON-RPC request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist or is not available.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal error: the child failed, exited, or broke the protocol.
pub const INTERNAL_ERROR: i64 = -32603;
/// The request timed out (the code the MCP SDKs use for `RequestTimeout`).
pub const REQUEST_TIMEOUT: i64 = -32001;
/// 2026-07-28: the HTTP headers do not match the body, or a required one is missing/malformed.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the request needs a client capability the client did not declare.
pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
/// 2026-07-28: the requested protocol version is not served (`data.supported` lists ours).
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
/// Resource not found in 2025-11-25 and earlier (2026-07-28 uses -32602 instead).
pub const LEGACY_RESOURCE_NOT_FOUND: i64 = -32002;

/// What a JSON-RPC message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Has a `method` and an `id`: expects exactly one response.
    Request,
    /// Has a `method` and no `id`: expects nothing back.
    Notification,
    /// Has `result` or `error` and an `id`.
    Response,
}

/// Why bytes are not a JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON at all (maps to -32700).
    #[error("parse error: {0}")]
    Parse(String),
    /// JSON, but not a JSON-RPC 2.0 message (maps to -32600).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl EnvelopeError {
    /// The JSON-RPC error code for this failure.
    pub fn code(&self) -> i64 {
        match self {
            EnvelopeError::Parse(_) => PARSE_ERROR,
            EnvelopeError::Invalid(_) => INVALID_REQUEST,
        }
    }
}

/// One JSON-RPC message: its envelope fields and its original bytes.
#[derive(Debug, Clone)]
pub struct Message {
    raw: Box<RawValue>,
    kind: Kind,
    id: Option<Box<RawValue>>,
    method: Option<String>,
    /// Where `params` stands in `raw`, found by the envelope parse (no second scan).
    params: Option<std::ops::Range<usize>>,
    /// The `error.code` of an error response.
    error_code: Option<i64>,
}

/// A POST body: one message, or a (2025-03-26) batch.
#[derive(Debug, Clone)]
pub enum Payload {
    /// A single message.
    Single(Message),
    /// A non-empty array of messages.
    Batch(Vec<Message>),
}

impl Payload {
    /// The messages, in order.
    pub fn messages(&self) -> &[Message] {
        match self {
            Payload::Single(m) => std::slice::from_ref(m),
            Payload::Batch(v) => v,
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    error: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    params: Option<&'a RawValue>,
}

/// The `code` of a JSON-RPC error object (read only for error responses).
#[derive(Deserialize)]
struct ErrorCode {
    code: i64,
}

/// Where `part` (a slice of `whole`, as the borrowing parse returns it) stands in `whole`.
fn span_in(whole: &str, part: &str) -> Option<std::ops::Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    whole.get(start..end).map(|_| start..end)
}

/// Keeps `null` as a present value (plain `Option` would turn it into `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Parses a POST body: one JSON-RPC message or an array of them.
pub fn parse(body: &[u8]) -> Result<Payload, EnvelopeError> {
    let raw: &RawValue =
        serde_json::from_slice(body).map_err(|e| EnvelopeError::Parse(e.to_string()))?;
    let text = raw.get();
    if text.starts_with('[') {
        let items: Vec<&RawValue> =
            serde_json::from_str(text).map_err(|e| EnvelopeError::Parse(e.to_string()))?;
        if items.is_empty() {
            return Err(EnvelopeError::Invalid("empty batch".into()));
        }
        let messages = items
            .into_iter()
            .map(parse_message)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Payload::Batch(messages))
    } else {
        parse_message(raw).map(Payload::Single)
    }
}

/// Deepest nesting of arrays and objects a client's message may have.
pub const MAX_DEPTH: usize = 64;

/// Most messages in one client batch (2025-03-26): each may cost a child process.
pub const MAX_BATCH: usize = 64;

/// [`parse`] for what a client sends: also refuses (-32600) a batch of more than
/// [`MAX_BATCH`] messages, and a body in which any object —
/// the envelope, `params`, `_meta`, tool arguments, anything — names a member twice, or which
/// nests deeper than [`MAX_DEPTH`]. Parsers disagree on duplicates (first wins, last wins), so
/// a check on one reading could pass what a child reads differently: what is checked here is
/// what is forwarded.
pub fn parse_client(body: &[u8]) -> Result<Payload, EnvelopeError> {
    let payload = parse(body)?;
    if let Payload::Batch(messages) = &payload
        && messages.len() > MAX_BATCH
    {
        return Err(EnvelopeError::Invalid(format!(
            "a batch carries at most {MAX_BATCH} messages, this one {}",
            messages.len()
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde::de::DeserializeSeed::deserialize(Shape { depth: 0 }, &mut de)
        .map_err(|e| EnvelopeError::Invalid(shape_message(&e)))?;
    Ok(payload)
}

/// The message of a [`Shape`] refusal, without serde's position suffix.
fn shape_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Walks a JSON value, refusing duplicate member names and deep nesting; keeps nothing.
#[derive(Clone, Copy)]
struct Shape {
    depth: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for Shape {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// An object's member name, borrowed from the body when it has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Visitor<'de> for Shape {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.deeper::<A::Error>()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.deeper::<A::Error>()?;
        // Few members: a scan; many: a set (so a huge object costs linear time, not quadratic).
        let mut few: Vec<std::borrow::Cow<'de, str>> = Vec::new();
        let mut many: std::collections::HashSet<std::borrow::Cow<'de, str>> = Default::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let seen = if many.is_empty() && few.len() < 16 {
                let seen = few.contains(&key);
                few.push(key.clone());
                seen
            } else {
                many.extend(few.drain(..));
                !many.insert(key.clone())
            };
            if seen {
                return Err(serde::de::Error::custom(format_args!(
                    "the member {key:?} appears twice in one object"
                )));
            }
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

impl Shape {
    /// One level down, or the refusal past [`MAX_DEPTH`].
    fn deeper<E: serde::de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Shape {
            depth: self.depth + 1,
        })
    }
}

/// Parses one JSON-RPC message (an object).
pub fn parse_message(raw: &RawValue) -> Result<Message, EnvelopeError> {
    if !raw.get().starts_with('{') {
        return Err(EnvelopeError::Invalid(
            "a JSON-RPC message must be a JSON object".into(),
        ));
    }
    let env: Envelope<'_> =
        serde_json::from_str(raw.get()).map_err(|e| EnvelopeError::Invalid(e.to_string()))?;
    if env.jsonrpc.map(RawValue::get) != Some("\"2.0\"") {
        return Err(EnvelopeError::Invalid("\"jsonrpc\" must be \"2.0\"".into()));
    }
    let method = match env.method {
        Some(m) => Some(
            serde_json::from_str::<String>(m.get())
                .map_err(|_| EnvelopeError::Invalid("\"method\" must be a string".into()))?,
        ),
        None => None,
    };
    let kind = match (&method, env.id, env.result.is_some(), env.error.is_some()) {
        (Some(_), _, true, _) | (Some(_), _, _, true) => {
            return Err(EnvelopeError::Invalid(
                "a message cannot have both \"method\" and \"result\"/\"error\"".into(),
            ));
        }
        (Some(_), Some(id), _, _) => {
            if !is_valid_request_id(id) {
                return Err(EnvelopeError::Invalid(
                    "\"id\" must be a string or an integer".into(),
                ));
            }
            Kind::Request
        }
        (Some(_), None, _, _) => Kind::Notification,
        (None, Some(_), true, false) | (None, Some(_), false, true) => Kind::Response,
        (None, None, _, _) if env.result.is_some() || env.error.is_some() => {
            return Err(EnvelopeError::Invalid("a response needs an \"id\"".into()));
        }
        _ => {
            return Err(EnvelopeError::Invalid(
                "not a request, notification or response".into(),
            ));
        }
    };
    let params = env.params.and_then(|p| span_in(raw.get(), p.get()));
    let error_code = env
        .error
        .and_then(|e| serde_json::from_str::<ErrorCode>(e.get()).ok())
        .map(|e| e.code);
    Ok(Message {
        raw: raw.to_owned(),
        kind,
        id: env.id.map(RawValue::to_owned),
        method,
        params,
        error_code,
    })
}

fn is_valid_request_id(id: &RawValue) -> bool {
    let t = id.get();
    t.starts_with('"') || (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
}

impl Message {
    /// What the message is.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The raw `id`, exactly as sent (for responses it may be `null`).
    pub fn id(&self) -> Option<&RawValue> {
        self.id.as_deref()
    }
    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }
    /// The original bytes of the whole message.
    pub fn raw(&self) -> &RawValue {
        &self.raw
    }
    /// The raw value of a top-level member (`params`, `result`, ...), if present.
    pub fn member(&self, name: &str) -> Option<Box<RawValue>> {
        members(&self.raw)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_owned())
    }
    /// The raw JSON text of `params`, if present (located by the envelope parse: no rescan).
    pub fn params(&self) -> Option<&str> {
        self.params.clone().and_then(|r| self.raw.get().get(r))
    }
    /// `true` if this is a response carrying `error`.
    pub fn is_error_response(&self) -> bool {
        self.kind == Kind::Response && self.member("error").is_some()
    }
    /// The `error.code` of an error response (`None` for anything else, or a code that is not
    /// an integer).
    pub fn error_code(&self) -> Option<i64> {
        self.error_code
    }
}

/// A JSON object's members in document order, values kept raw.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn members(raw: &RawValue) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    serde_json::from_str::<Members<'_>>(raw.get()).map(|m| m.0)
}

/// Returns `raw` (a JSON object) with its `id` member set to `new_id` (raw JSON text), keeping
/// every other member's bytes. Adds `id` if absent.
pub fn replace_id(raw: &RawValue, new_id: &str) -> Result<Box<RawValue>, serde_json::Error> {
    rewrite_id(raw, new_id).map(|(out, _)| out)
}

/// [`replace_id`], also giving the `error.code` of an error response (read in the same pass).
pub fn rewrite_id(
    raw: &RawValue,
    new_id: &str,
) -> Result<(Box<RawValue>, Option<i64>), serde_json::Error> {
    let members = members(raw)?;
    let error = members
        .iter()
        .find(|(k, _)| k == "error")
        .and_then(|(_, e)| serde_json::from_str::<ErrorCode>(e.get()).ok())
        .map(|e| e.code);
    let mut out = String::with_capacity(raw.get().len() + new_id.len());
    out.push('{');
    let mut seen = false;
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k)?);
        out.push(':');
        if k == "id" {
            out.push_str(new_id);
            seen = true;
        } else {
            out.push_str(v.get());
        }
    }
    if !seen {
        if !members.is_empty() {
            out.push(',');
        }
        out.push_str("\"id\":");
        out.push_str(new_id);
    }
    out.push('}');
    RawValue::from_string(out).map(|out| (out, error))
}

/// The bytes of an owned raw value, without copying them.
pub fn into_bytes(raw: Box<RawValue>) -> Vec<u8> {
    String::from(Box::<str>::from(raw)).into_bytes()
}

/// Builds a JSON-RPC error response for `id` (`None` → `null`).
pub fn error_response(id: Option<&RawValue>, code: i64, message: &str) -> Bytes {
    error_response_with_data(id, code, message, None)
}

/// Builds a JSON-RPC error response with an optional `data` member.
pub fn error_response_with_data(
    id: Option<&RawValue>,
    code: i64,
    message: &str,
    data: Option<serde_json::Value>,
) -> Bytes {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let (Some(data), Some(obj)) = (data, error.as_object_mut()) {
        obj.insert("data".into(), data);
    }
    let id = id.map(RawValue::get).unwrap_or("null");
    Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{error}}}"
    ))
}

/// Builds a JSON-RPC success response for `id` with a raw `result`.
pub fn result_response(id: Option<&RawValue>, result: &RawValue) -> Bytes {
    Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{}}}",
        id.map(RawValue::get).unwrap_or("null"),
        result.get()
    ))
}

/// Joins single responses into a batch response array.
pub fn batch_body(responses: &[Bytes]) -> Bytes {
    let mut out = Vec::with_capacity(responses.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, r) in responses.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.push(b']');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(s: &str) -> Message {
        match parse(s.as_bytes()).unwrap() {
            Payload::Single(m) => m,
            Payload::Batch(_) => panic!("batch"),
        }
    }

    #[test]
    fn classifies_requests_notifications_and_responses() {
        let r = single(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#);
        assert_eq!(r.kind(), Kind::Request);
        assert_eq!(r.id().unwrap().get(), "7");
        assert_eq!(r.method(), Some("tools/list"));
        let n = single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert_eq!(n.kind(), Kind::Notification);
        let resp = single(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#);
        assert_eq!(resp.kind(), Kind::Response);
        let err = single(r#"{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"x"}}"#);
        assert_eq!(err.kind(), Kind::Response);
        assert!(err.is_error_response());
        assert_eq!(err.error_code(), Some(1));
        assert_eq!(r.error_code(), None);
        let p = single(r#"{"jsonrpc":"2.0","id":1,"method":"m","params": {"a":[1, 2]} }"#);
        assert_eq!(p.params(), Some(r#"{"a":[1, 2]}"#));
        assert_eq!(r.params(), None);
        // One member twice: a router and the child could read different values.
        for dup in [
            r#"{"jsonrpc":"2.0","id":1,"method":"a","params":{},"params":{"x":1}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}"#,
        ] {
            assert_eq!(
                parse(dup.as_bytes()).unwrap_err().code(),
                INVALID_REQUEST,
                "{dup}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_json_rpc() {
        assert_eq!(parse(b"{nope").unwrap_err().code(), PARSE_ERROR);
        assert_eq!(parse(b"").unwrap_err().code(), PARSE_ERROR);
        for bad in [
            r#"42"#,
            r#""x""#,
            r#"[]"#,
            r#"{"id":1,"method":"x"}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","result":{}}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"x"}, 3]"#,
        ] {
            assert_eq!(
                parse(bad.as_bytes()).unwrap_err().code(),
                INVALID_REQUEST,
                "{bad}"
            );
        }
    }

    #[test]
    fn client_messages_with_duplicate_members_or_deep_nesting_are_refused() {
        let ok = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":[{"a":1},{"a":2}]}}}"#;
        assert!(parse_client(ok.as_bytes()).is_ok());
        for bad in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","name":"env"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":1,"x":2}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"t","params":{"_meta":{"k":1,"k":1}}}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"a","params":{"x":{"y":1,"y":2}}}]"#,
            // The same name spelled with an escape is the same name.
            r#"{"jsonrpc":"2.0","id":1,"method":"t","params":{"name":"a","name":"b"}}"#,
        ] {
            let e = parse_client(bad.as_bytes()).unwrap_err();
            assert_eq!(e.code(), INVALID_REQUEST, "{bad}");
            assert!(e.to_string().contains("appears twice"), "{e}");
        }
        // Many members: still found, in linear time.
        let mut wide: String = (0..10_000).map(|i| format!("\"k{i}\":1,")).collect();
        wide.push_str("\"k5\":2");
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"t","params":{{{wide}}}}}"#);
        assert!(parse_client(body.as_bytes()).is_err());
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"t","params":{}{}}}"#,
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        let e = parse_client(deep.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("nesting deeper"), "{e}");
        let batch = format!(
            "[{}]",
            vec![r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#; MAX_BATCH + 1].join(",")
        );
        assert!(
            parse_client(batch.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("at most")
        );
        // Not JSON at all is still a parse error.
        assert_eq!(parse_client(b"{nope").unwrap_err().code(), PARSE_ERROR);
    }

    #[test]
    fn batches_keep_order() {
        let p = parse(br#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#)
            .unwrap();
        let m = p.messages();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].method(), Some("a"));
        assert_eq!(m[1].kind(), Kind::Notification);
    }

    #[test]
    fn replace_id_keeps_unknown_fields_and_bytes() {
        let m = single(
            r#"{"jsonrpc":"2.0","id":"client-1","method":"tools/call","params":{"x":1.000,"_meta":{"k":[1,2]}},"extra":true}"#,
        );
        let out = replace_id(m.raw(), "42").unwrap();
        assert_eq!(
            out.get(),
            r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"x":1.000,"_meta":{"k":[1,2]}},"extra":true}"#
        );
        let back = replace_id(&out, "\"client-1\"").unwrap();
        assert_eq!(back.get(), m.raw().get());
    }

    #[test]
    fn replace_id_adds_missing_id_and_handles_escaped_keys() {
        let raw = RawValue::from_string(r#"{"a\"b":1}"#.to_string()).unwrap();
        assert_eq!(replace_id(&raw, "3").unwrap().get(), r#"{"a\"b":1,"id":3}"#);
    }

    #[test]
    fn error_bodies_are_valid_json_rpc() {
        let id = RawValue::from_string("\"q\"".into()).unwrap();
        let b = error_response(Some(&id), INVALID_PARAMS, "bad \"x\"");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["id"], "q");
        assert_eq!(v["error"]["code"], -32602);
        assert_eq!(v["error"]["message"], "bad \"x\"");
        let b = error_response(None, PARSE_ERROR, "x");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert!(v["id"].is_null());
        assert_eq!(batch_body(&[b.clone(), b]).first(), Some(&b'['));
    }
}
