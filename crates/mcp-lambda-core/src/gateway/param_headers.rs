//! `Mcp-Param-*` headers (2026-07-28, SEP-2243): a tool may mark parameters with
//! `x-mcp-header` in its `inputSchema`; a modern `tools/call` must then mirror their values into
//! `Mcp-Param-{Name}` headers, and the server must reject a call whose headers and arguments
//! disagree (400, -32020). The child sees no headers, so the gateway validates.
//!
//! Contract: [`ParamHeaders`] keeps, per tool name, the annotations of the child's latest
//! `tools/list` (learned from lists passing through, or fetched when a call needs them and the
//! list is older than [`FRESH`]). A tool whose annotations are invalid (off a pure `properties`
//! chain, not an RFC 9110 token, on a non-primitive, duplicated) is not validated — conforming
//! clients drop such tools. A tool the list does not name is left to the child.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::HeaderMap;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::modern::decode_header_value;

/// How long a learned `tools/list` is trusted before a call that needs it fetches it again.
pub(crate) const FRESH: Duration = Duration::from_secs(60);

/// One `x-mcp-header` annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Annotation {
    /// The chain of `properties` keys to the parameter.
    path: Vec<String>,
    /// The header name as declared (`Mcp-Param-{token}`).
    header: String,
    /// The parameter's JSON Schema type (`string`, `integer`, `boolean`).
    ty: String,
}

#[derive(Default)]
struct Learned {
    at: Option<Instant>,
    tools: HashMap<String, Vec<Annotation>>,
}

/// The tools' header annotations, as last learned.
#[derive(Default)]
pub(crate) struct ParamHeaders {
    learned: Mutex<Learned>,
}

impl ParamHeaders {
    /// The annotations of `tool` if the learned list is fresh: `Some(None)` when the list does
    /// not name the tool, `None` when the list must be fetched first.
    pub(crate) fn get(&self, tool: &str) -> Option<Option<Vec<Annotation>>> {
        let l = self.learned.lock().ok()?;
        let at = l.at?;
        if at.elapsed() > FRESH {
            return None;
        }
        Some(l.tools.get(tool).cloned())
    }

    /// Records the tools of one `tools/list` page (a JSON-RPC response). `first` starts a new
    /// list. Returns the page's `nextCursor`.
    pub(crate) fn learn(&self, response: &[u8], first: bool) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Resp {
            result: Option<Page>,
        }
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tools: Vec<Map<String, Value>>,
            #[serde(rename = "nextCursor")]
            next_cursor: Option<String>,
        }
        let page = serde_json::from_slice::<Resp>(response).ok()?.result?;
        let mut l = self.learned.lock().ok()?;
        if first {
            l.tools.clear();
        }
        l.at = Some(Instant::now());
        for tool in &page.tools {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            let annotations = tool
                .get("inputSchema")
                .and_then(annotations)
                .unwrap_or_default();
            l.tools.insert(name.to_owned(), annotations);
        }
        page.next_cursor
    }
}

/// The valid annotations of an input schema, or `None` if any annotation is invalid (the tool
/// is then not validated).
pub(crate) fn annotations(schema: &Value) -> Option<Vec<Annotation>> {
    // (properties path or None once off the pure chain, node)
    let mut stack: Vec<(Option<Vec<String>>, &Value)> = vec![(Some(Vec::new()), schema)];
    let mut out: Vec<Annotation> = Vec::new();
    while let Some((path, node)) = stack.pop() {
        let Some(obj) = node.as_object() else {
            continue;
        };
        if let Some(token) = obj.get("x-mcp-header") {
            let path = path.clone().filter(|p| !p.is_empty())?;
            let token = token.as_str().filter(|t| is_token(t))?;
            let ty = obj
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| matches!(*t, "string" | "integer" | "boolean"))?;
            let header = format!("Mcp-Param-{token}");
            if out.iter().any(|a| a.header.eq_ignore_ascii_case(&header)) {
                return None;
            }
            out.push(Annotation {
                path,
                header,
                ty: ty.to_owned(),
            });
        }
        for (kw, v) in obj {
            match kw.as_str() {
                "properties" => {
                    if let Some(props) = v.as_object() {
                        for (name, sub) in props {
                            let p = path.as_ref().map(|p| {
                                let mut p = p.clone();
                                p.push(name.clone());
                                p
                            });
                            stack.push((p, sub));
                        }
                    }
                }
                "items"
                | "contains"
                | "additionalProperties"
                | "propertyNames"
                | "not"
                | "if"
                | "then"
                | "else"
                | "unevaluatedItems"
                | "unevaluatedProperties"
                | "contentSchema" => stack.push((None, v)),
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                    if let Some(list) = v.as_array() {
                        stack.extend(list.iter().map(|s| (None, s)));
                    }
                }
                "patternProperties" | "dependentSchemas" | "$defs" | "definitions" => {
                    if let Some(map) = v.as_object() {
                        stack.extend(map.values().map(|s| (None, s)));
                    }
                }
                _ => {}
            }
        }
    }
    Some(out)
}

/// The `Mcp-Param-*` headers a client sends with a `tools/call` of a tool whose input schema is
/// `schema`, for `args`: (header name, value as rendered, before the header-value encoding).
/// Empty when the schema declares none, or declares them invalidly (conforming clients drop
/// such a tool, and the gateway does not check it); an argument that is absent or not a
/// primitive gets no header.
pub fn client_headers(schema: &Value, args: &Map<String, Value>) -> Vec<(String, String)> {
    annotations(schema)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|a| {
            let v = render(value_at(args, &a.path)?)?;
            Some((a.header, v))
        })
        .collect()
}

/// RFC 9110 token characters.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn value_at<'a>(args: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut node = args.get(first)?;
    for key in rest {
        node = node.as_object()?.get(key)?;
    }
    Some(node).filter(|v| !v.is_null())
}

/// How a client renders a value into a header (`None`: not mirrorable).
fn render(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `true` if a decoded header agrees with the argument: integers compare numerically (`42.0`
/// matches `42`), everything else as rendered.
fn matches(ty: &str, value: &Value, rendered: &str, decoded: &str) -> bool {
    if ty == "integer"
        && let Some(n) = value.as_f64().filter(|f| f.fract() == 0.0)
        && let Ok(h) = decoded.parse::<f64>()
        && decoded
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return h == n;
    }
    decoded == rendered
}

/// Checks a call's `Mcp-Param-*` headers against its arguments; `Err` names the first
/// disagreement.
pub(crate) fn check(
    annotations: &[Annotation],
    headers: &HeaderMap,
    args: &Map<String, Value>,
) -> Result<(), String> {
    for a in annotations {
        let values: Vec<_> = headers.get_all(a.header.as_str()).iter().collect();
        if values.len() > 1 {
            return Err(format!("the {} header appears more than once", a.header));
        }
        let raw = values.first();
        let argument = a.path.join(".");
        let value = value_at(args, &a.path);
        let rendered = value.and_then(render);
        match (raw, value, rendered) {
            (None, None, _) | (None, Some(_), None) => {}
            (Some(_), None, _) => {
                return Err(format!(
                    "{} header is present but the '{argument}' argument is absent",
                    a.header
                ));
            }
            (Some(_), Some(_), None) => {
                return Err(format!(
                    "{} header does not match the '{argument}' argument",
                    a.header
                ));
            }
            (None, Some(_), Some(_)) => {
                return Err(format!(
                    "{} header is missing but the '{argument}' argument is present",
                    a.header
                ));
            }
            (Some(raw), Some(value), Some(rendered)) => {
                let Ok(text) = raw.to_str() else {
                    return Err(format!("{} header contains invalid characters", a.header));
                };
                let Some(decoded) = decode_header_value(text.trim()) else {
                    return Err(format!(
                        "{} header carries a malformed base64 value",
                        a.header
                    ));
                };
                if !matches(&a.ty, value, &rendered, &decoded) {
                    return Err(format!(
                        "{} header value '{decoded}' does not match the '{argument}' argument '{rendered}'",
                        a.header
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "nested": {"type": "object", "properties": {"flag": {"type": "boolean", "x-mcp-header": "Flag"}}},
            "query": {"type": "string"}
        }})
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn client_headers_pass_the_check() {
        let a = args(
            json!({"region": "eu-west-1", "count": 3, "nested": {"flag": true}, "query": "q"}),
        );
        let mut got = client_headers(&schema(), &a);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("Mcp-Param-Count".to_owned(), "3".to_owned()),
                ("Mcp-Param-Flag".to_owned(), "true".to_owned()),
                ("Mcp-Param-Region".to_owned(), "eu-west-1".to_owned()),
            ]
        );
        let pairs: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let annotations = annotations(&schema()).unwrap();
        assert!(check(&annotations, &headers(&pairs), &a).is_ok());
        // Absent arguments get no header; invalid declarations none at all.
        assert!(client_headers(&schema(), &args(json!({"query": "q"}))).is_empty());
        let bad = json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}});
        assert!(client_headers(&bad, &args(json!({"a": 1}))).is_empty());
    }

    #[test]
    fn valid_annotations_are_found() {
        let a = annotations(&schema()).unwrap();
        assert_eq!(a.len(), 3);
        assert!(
            a.iter()
                .any(|a| a.path == ["nested", "flag"] && a.ty == "boolean")
        );
    }

    #[test]
    fn invalid_annotations_disable_validation() {
        for bad in [
            json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "bad header"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": ""}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "A"}, "b": {"type": "string", "x-mcp-header": "a"}}}),
            json!({"properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}}}),
            json!({"anyOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]}),
            json!({"type": "string", "x-mcp-header": "Root"}),
        ] {
            assert!(annotations(&bad).is_none(), "{bad}");
        }
        assert_eq!(annotations(&json!({"type": "object"})), Some(vec![]));
    }

    #[test]
    fn matching_headers_pass() {
        let a = annotations(&schema()).unwrap();
        let h = headers(&[
            ("mcp-param-region", "us-west1"),
            ("Mcp-Param-Count", "42.0"),
            ("mcp-param-flag", "true"),
        ]);
        let ok = args(
            json!({"region": "us-west1", "count": 42, "nested": {"flag": true}, "query": "q"}),
        );
        assert_eq!(check(&a, &h, &ok), Ok(()));
        // Base64 form, and absent-together / null-means-absent.
        let h = headers(&[("mcp-param-region", "=?base64?SGVsbG8sIOS4lueVjA==?=")]);
        assert_eq!(
            check(
                &a,
                &h,
                &args(json!({"region": "Hello, 世界", "count": null}))
            ),
            Ok(())
        );
    }

    #[test]
    fn disagreements_are_rejected() {
        let a = annotations(&schema()).unwrap();
        let cases = [
            (
                vec![("mcp-param-region", "us-east1")],
                json!({"region": "us-west1"}),
            ),
            (vec![], json!({"region": "us-west1"})),
            (vec![("mcp-param-region", "us-west1")], json!({})),
            (
                vec![("mcp-param-region", "=?base64?SGVsbG8?=")],
                json!({"region": "Hello"}),
            ),
            (
                vec![("mcp-param-region", "=?base64?SGVs!!!bG8=?=")],
                json!({"region": "Hello"}),
            ),
            (vec![("mcp-param-count", "43")], json!({"count": 42})),
            (
                vec![("mcp-param-region", "a"), ("mcp-param-region", "a")],
                json!({"region": "a"}),
            ),
        ];
        for (h, body) in cases {
            assert!(
                check(&a, &headers(&h), &args(body.clone())).is_err(),
                "{h:?} {body}"
            );
        }
    }

    #[test]
    fn learned_lists_expire_and_name_their_tools() {
        let p = ParamHeaders::default();
        assert!(p.get("t").is_none(), "nothing learned yet");
        let page = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [
            {"name": "t", "inputSchema": schema()},
            {"name": "u", "inputSchema": {"type": "object"}}
        ], "nextCursor": "c2"}});
        assert_eq!(
            p.learn(page.to_string().as_bytes(), true).as_deref(),
            Some("c2")
        );
        assert_eq!(p.get("t").unwrap().unwrap().len(), 3);
        assert_eq!(p.get("u").unwrap(), Some(vec![]));
        assert_eq!(p.get("v").unwrap(), None);
    }
}
