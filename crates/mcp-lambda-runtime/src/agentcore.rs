//! Bedrock AgentCore Gateway: a Lambda target's invocation answered as a tool result, and the
//! target's tool schema from an MCP server's `tools/list`.
//!
//! Contract: [`tool_result`] is what an AgentCore target returns for one tool call: the
//! server's `CallToolResult` as it is, or — when the call failed as a JSON-RPC error or never
//! reached the server — an `isError: true` result whose text is the error's message (the error
//! object itself under `error`). [`tool_definitions`] turns MCP tools into AgentCore `ToolDefinition`s (`name`,
//! `description`, `inputSchema`, optional `outputSchema`) whose schemas use only what an AgentCore
//! `SchemaDefinition` accepts: `type` (one of `string`, `number`, `object`, `array`, `boolean`,
//! `integer`), `description`, `properties`, `items`, `required`. What JSON Schema says beyond that
//! is folded in or dropped, and every change is reported:
//! - local `$ref`s (`#/$defs/…`, `#/definitions/…`) are inlined (a cycle stops at an `object`);
//! - `anyOf` / `oneOf` with one non-null branch become that branch, `allOf` is merged, other
//!   unions keep their first branch; a type list keeps its first non-null type;
//! - a missing type is inferred (`properties` → object, `items` → array, else string);
//! - `enum`, `const`, `default`, `format`, `minimum`/`maximum`, lengths and patterns are appended
//!   to the description (the model still sees them) and removed;
//! - `required` keeps only listed properties; the root of an input schema is always an object;
//! - a tool without a description gets its title or its name.

use mcp_lambda_core::tools::ToolsError;
use serde_json::{Map, Value, json};

/// The invocation's answer for a tool call's outcome (see the module docs).
pub fn tool_result(outcome: Result<Value, ToolsError>) -> Value {
    match outcome {
        Ok(result) => result,
        Err(e) => {
            let error = e.to_error_object();
            let text = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("tool call failed")
                .to_owned();
            json!({
                "isError": true,
                "content": [{ "type": "text", "text": text }],
                "error": error,
            })
        }
    }
}

/// The types an AgentCore `SchemaDefinition` accepts.
const TYPES: &[&str] = &["string", "number", "object", "array", "boolean", "integer"];

/// Keywords turned into description text before they are dropped.
const DESCRIBED: &[&str] = &[
    "enum",
    "const",
    "default",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
];

/// How deep `$ref`s are followed before the schema is cut to a bare object.
const MAX_DEPTH: usize = 24;

/// AgentCore tool definitions for `tools` (the `tools` array of `tools/list` results), and one
/// line per change made (`tool: what`).
pub fn tool_definitions(tools: &[Value]) -> (Vec<Value>, Vec<String>) {
    let mut notes = Vec::new();
    let mut out = Vec::new();
    for tool in tools {
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            notes.push("a tool without a name: skipped".to_owned());
            continue;
        };
        let mut note = |what: String| notes.push(format!("{name}: {what}"));
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            note(
                "name has characters other than letters, digits, _ and - (AgentCore may refuse it)"
                    .into(),
            );
        }
        let description = tool
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.trim().is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                note("no description: used its title or name".into());
                tool.get("title")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_owned()
            });
        let input = tool.get("inputSchema").cloned().unwrap_or(json!({}));
        let mut cleaner = Cleaner {
            root: &input,
            notes: Vec::new(),
        };
        let mut input_schema = cleaner.clean(&input, "inputSchema", 0);
        if input_schema.get("type").and_then(Value::as_str) != Some("object") {
            cleaner
                .notes
                .push("inputSchema: root is not an object; wrapped as an empty object".into());
            input_schema = json!({"type": "object", "properties": {}});
        }
        let mut def = json!({
            "name": name,
            "description": description,
            "inputSchema": input_schema,
        });
        if let Some(output) = tool.get("outputSchema") {
            let mut oc = Cleaner {
                root: output,
                notes: Vec::new(),
            };
            let cleaned = oc.clean(output, "outputSchema", 0);
            if cleaned.get("type").and_then(Value::as_str) == Some("object") {
                def["outputSchema"] = cleaned;
            } else {
                oc.notes
                    .push("outputSchema: root is not an object; left out".into());
            }
            cleaner.notes.extend(oc.notes);
        }
        for n in cleaner.notes {
            note(n);
        }
        out.push(def);
    }
    (out, notes)
}

struct Cleaner<'a> {
    root: &'a Value,
    notes: Vec<String>,
}

impl Cleaner<'_> {
    fn resolve(&self, reference: &str) -> Option<Value> {
        let path = reference.strip_prefix('#')?;
        self.root.pointer(path).cloned()
    }

    fn clean(&mut self, schema: &Value, at: &str, depth: usize) -> Value {
        let Some(obj) = schema.as_object() else {
            // `true` / `{}`-like schemas accept anything: a string is the closest AgentCore has.
            return json!({"type": "string"});
        };
        if depth > MAX_DEPTH {
            self.notes.push(format!(
                "{at}: nested too deep (a $ref cycle?); cut to an object"
            ));
            return json!({"type": "object"});
        }
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            return match self.resolve(r) {
                Some(target) => {
                    let mut merged = target.as_object().cloned().unwrap_or_default();
                    for (k, v) in obj.iter().filter(|(k, _)| *k != "$ref") {
                        merged.insert(k.clone(), v.clone());
                    }
                    self.clean(&Value::Object(merged), at, depth + 1)
                }
                None => {
                    self.notes.push(format!(
                        "{at}: $ref {r} cannot be resolved locally; an object"
                    ));
                    json!({"type": "object"})
                }
            };
        }
        let mut obj = obj.clone();
        // Unions.
        for kw in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = obj.remove(kw) {
                let real: Vec<&Value> = branches
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                    .collect();
                if real.len() > 1 {
                    self.notes.push(format!(
                        "{at}: {kw} with {} alternatives; kept the first",
                        real.len()
                    ));
                }
                if let Some(first) = real.first().and_then(|b| b.as_object()) {
                    for (k, v) in first {
                        obj.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
        }
        if let Some(Value::Array(parts)) = obj.remove("allOf") {
            for part in &parts {
                let part = match part.get("$ref").and_then(Value::as_str) {
                    Some(r) => self.resolve(r).unwrap_or(Value::Null),
                    None => part.clone(),
                };
                let Some(part) = part.as_object() else {
                    continue;
                };
                for (k, v) in part {
                    match (k.as_str(), obj.get_mut(k)) {
                        ("properties", Some(Value::Object(mine))) => {
                            if let Value::Object(theirs) = v {
                                for (pk, pv) in theirs {
                                    mine.entry(pk.clone()).or_insert_with(|| pv.clone());
                                }
                            }
                        }
                        ("required", Some(Value::Array(mine))) => {
                            if let Value::Array(theirs) = v {
                                mine.extend(theirs.iter().cloned());
                            }
                        }
                        (_, None) => {
                            obj.insert(k.clone(), v.clone());
                        }
                        _ => {}
                    }
                }
            }
        }
        // Type.
        let ty = match obj.get("type") {
            Some(Value::String(t)) if TYPES.contains(&t.as_str()) => t.clone(),
            Some(Value::Array(list)) => {
                let picked = list
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|t| TYPES.contains(t))
                    .unwrap_or("string")
                    .to_owned();
                if list.iter().filter(|t| t.as_str() != Some("null")).count() > 1 {
                    self.notes.push(format!("{at}: type list; kept {picked}"));
                }
                picked
            }
            _ => {
                let inferred = if obj.contains_key("properties") {
                    "object"
                } else if obj.contains_key("items") {
                    "array"
                } else if obj
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.iter().all(Value::is_number))
                {
                    "number"
                } else {
                    "string"
                };
                inferred.to_owned()
            }
        };
        let mut out = Map::new();
        out.insert("type".into(), Value::from(ty.clone()));
        // Description, with what AgentCore cannot express.
        let mut description = obj
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| obj.get("title").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        let mut extras = Vec::new();
        for kw in DESCRIBED {
            if let Some(v) = obj.get(*kw) {
                extras.push(match *kw {
                    "enum" => format!(
                        "one of: {}",
                        v.as_array()
                            .map(|a| a
                                .iter()
                                .map(Value::to_string)
                                .collect::<Vec<_>>()
                                .join(", "))
                            .unwrap_or_default()
                    ),
                    _ => format!("{kw}: {v}"),
                });
            }
        }
        if !extras.is_empty() {
            if !description.is_empty() {
                description.push_str(" (");
                description.push_str(&extras.join("; "));
                description.push(')');
            } else {
                description = extras.join("; ");
            }
        }
        if !description.is_empty() {
            out.insert("description".into(), Value::from(description));
        }
        if ty == "object" {
            let mut props = Map::new();
            if let Some(Value::Object(p)) = obj.get("properties") {
                for (name, sub) in p {
                    props.insert(
                        name.clone(),
                        self.clean(sub, &format!("{at}.{name}"), depth + 1),
                    );
                }
            }
            let required: Vec<Value> = obj
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter(|n| n.as_str().is_some_and(|n| props.contains_key(n)))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            out.insert("properties".into(), Value::Object(props));
            if !required.is_empty() {
                out.insert("required".into(), Value::Array(required));
            }
        }
        if ty == "array"
            && let Some(items) = obj.get("items")
        {
            out.insert(
                "items".into(),
                self.clean(items, &format!("{at}[]"), depth + 1),
            );
        }
        let dropped: Vec<&str> = obj
            .keys()
            .map(String::as_str)
            .filter(|k| {
                !matches!(
                    *k,
                    "type" | "description" | "title" | "properties" | "required" | "items"
                ) && !DESCRIBED.contains(k)
            })
            .collect();
        if !dropped.is_empty() {
            self.notes
                .push(format!("{at}: dropped {}", dropped.join(", ")));
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[&str] = &["type", "description", "properties", "items", "required"];

    /// Every schema node uses only what AgentCore accepts.
    fn assert_clean(schema: &Value) {
        let obj = schema.as_object().unwrap();
        for k in obj.keys() {
            assert!(ALLOWED.contains(&k.as_str()), "{k} in {schema}");
        }
        assert!(TYPES.contains(&obj["type"].as_str().unwrap()), "{schema}");
        if let Some(Value::Object(p)) = obj.get("properties") {
            p.values().for_each(assert_clean);
        }
        if let Some(items) = obj.get("items") {
            assert_clean(items);
        }
    }

    #[test]
    fn typical_sdk_schemas_are_cleaned_and_explained() {
        let tools = vec![json!({
            "name": "search",
            "title": "Search",
            "inputSchema": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "query": {"type": "string", "minLength": 1},
                    "limit": {"type": ["integer", "null"], "default": 10},
                    "mode": {"enum": ["fast", "deep"]},
                    "filter": {"$ref": "#/$defs/Filter"},
                    "tags": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "null"}]}}
                },
                "required": ["query", "ghost"],
                "$defs": {"Filter": {"type": "object", "properties": {"lang": {"type": "string"}}}}
            },
            "outputSchema": {"type": "object", "properties": {"hits": {"type": "array", "items": {"type": "object"}}}}
        })];
        let (defs, notes) = tool_definitions(&tools);
        let d = &defs[0];
        assert_eq!(d["description"], "Search");
        assert_clean(&d["inputSchema"]);
        assert_clean(&d["outputSchema"]);
        let p = &d["inputSchema"]["properties"];
        assert_eq!(p["limit"]["type"], "integer");
        assert!(
            p["limit"]["description"]
                .as_str()
                .unwrap()
                .contains("default: 10")
        );
        assert_eq!(p["mode"]["type"], "string");
        assert!(
            p["mode"]["description"]
                .as_str()
                .unwrap()
                .contains("\"deep\"")
        );
        assert_eq!(p["filter"]["properties"]["lang"]["type"], "string");
        assert_eq!(p["tags"]["items"]["type"], "string");
        assert_eq!(d["inputSchema"]["required"], json!(["query"]));
        assert!(
            notes
                .iter()
                .any(|n| n.contains("dropped") && n.contains("$schema")),
            "{notes:?}"
        );
    }

    #[test]
    fn odd_roots_and_cycles_are_bounded() {
        let tools = vec![
            json!({"name": "no-schema", "description": "x"}),
            json!({"name": "cyclic", "description": "c", "inputSchema": {
                "type": "object", "properties": {"node": {"$ref": "#/$defs/N"}},
                "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}}}),
            json!({"name": "bad.name/x", "description": "d", "inputSchema": {"type": "string"}}),
            json!({"description": "nameless"}),
        ];
        let (defs, notes) = tool_definitions(&tools);
        assert_eq!(defs.len(), 3);
        for d in &defs {
            assert_clean(&d["inputSchema"]);
            assert_eq!(d["inputSchema"]["type"], "object");
        }
        assert!(notes.iter().any(|n| n.contains("too deep")), "{notes:?}");
        assert!(
            notes.iter().any(|n| n.starts_with("bad.name/x: name")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.contains("without a name")),
            "{notes:?}"
        );
    }

    #[test]
    fn all_of_is_merged() {
        let tools = vec![json!({"name": "t", "description": "d", "inputSchema": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "number"}}, "required": ["b"]}
        ]}})];
        let (defs, _) = tool_definitions(&tools);
        let s = &defs[0]["inputSchema"];
        assert_eq!(s["properties"]["b"]["type"], "number");
        assert_eq!(s["required"], json!(["a", "b"]));
    }
}
