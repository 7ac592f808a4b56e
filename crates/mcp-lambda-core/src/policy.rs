//! Tool policy: which of the child's tools clients may see and call (`--tools`, `--read-only`).
//!
//! Contract: a [`ToolPolicy`] is a list of name globs (`*` any run of characters, `?` one
//! character, everything else literal) where a leading `!` denies, plus an optional read-only
//! rule. A tool is **visible** when its name matches an allow glob (or there are none), matches
//! no deny glob, and — under `read_only` — its `annotations.readOnlyHint` is `true` in the
//! child's `tools/list`. [`crate::upstream::Policed`] applies it to every request path: hidden
//! tools are removed from `tools/list` pages and a `tools/call` of one is answered as the spec
//! answers an unknown tool (-32602 `Unknown tool: NAME`) without reaching the child.

use serde_json::{Map, Value};

/// Why a `--tools` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `a,,b` or a lone `!`.
    #[error("empty pattern in {0:?} (patterns are comma-separated; `!` must be followed by one)")]
    Empty(String),
    /// A `--tool-scope` rule that is not `GLOB=SCOPE[ SCOPE…]`.
    #[error("rule {0:?} is not GLOB=SCOPE[ SCOPE…] (one glob per rule; rules are comma-separated)")]
    NotARule(String),
    /// A pattern with whitespace or control characters, which no tool name has.
    #[error("pattern {0:?} has whitespace or control characters")]
    BadCharacter(String),
}

/// One glob, allowing or denying.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    deny: bool,
    glob: Vec<char>,
}

/// The tool policy (see the module docs). The default shows every tool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolPolicy {
    rules: Vec<Rule>,
    read_only: bool,
}

impl ToolPolicy {
    /// Parses a `--tools` value (comma-separated globs, `!` denies; empty = every tool) and the
    /// `--read-only` switch.
    pub fn parse(spec: &str, read_only: bool) -> Result<Self, PolicyError> {
        let mut rules = Vec::new();
        if !spec.trim().is_empty() {
            for part in spec.split(',') {
                let part = part.trim();
                let (deny, glob) = match part.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, part),
                };
                if glob.is_empty() {
                    return Err(PolicyError::Empty(spec.to_owned()));
                }
                if glob.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(PolicyError::BadCharacter(glob.to_owned()));
                }
                rules.push(Rule {
                    deny,
                    glob: glob.chars().collect(),
                });
            }
        }
        Ok(Self { rules, read_only })
    }

    /// This policy, with the read-only rule switched on or off.
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Whether this policy hides anything at all (when not, the upstream is not wrapped).
    pub fn is_open(&self) -> bool {
        self.rules.is_empty() && !self.read_only
    }

    /// Whether only tools annotated `readOnlyHint: true` are visible.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the name alone allows the tool (the globs; not the read-only rule).
    pub fn allows_name(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let mut allows = self.rules.iter().filter(|r| !r.deny).peekable();
        let allowed = allows.peek().is_none() || allows.any(|r| glob_match(&r.glob, &name));
        allowed
            && !self
                .rules
                .iter()
                .any(|r| r.deny && glob_match(&r.glob, &name))
    }

    /// Whether a tool as `tools/list` describes it is visible: its name is allowed and, under
    /// read-only, it is annotated `readOnlyHint: true`. A tool without a string name is hidden.
    pub fn shows(&self, tool: &Map<String, Value>) -> bool {
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            return false;
        };
        self.allows_name(name) && (!self.read_only || is_read_only(tool))
    }

    /// `tools/list` page `response` (a JSON-RPC response) with hidden tools removed.
    pub fn filter_list(&self, response: &[u8]) -> Filtered {
        let Ok(mut v) = serde_json::from_slice::<Map<String, Value>>(response) else {
            return Filtered::Unreadable;
        };
        if v.contains_key("error") {
            return Filtered::Unchanged;
        }
        let Some(tools) = v
            .get_mut("result")
            .and_then(Value::as_object_mut)
            .and_then(|r| r.get_mut("tools"))
            .and_then(Value::as_array_mut)
        else {
            return Filtered::Unreadable;
        };
        let before = tools.len();
        tools.retain(|t| t.as_object().is_some_and(|t| self.shows(t)));
        if tools.len() == before {
            return Filtered::Unchanged;
        }
        match serde_json::to_vec(&v) {
            Ok(b) => Filtered::Changed(b),
            Err(_) => Filtered::Unreadable,
        }
    }
}

/// What [`ToolPolicy::filter_list`] made of a page.
#[derive(Debug, PartialEq, Eq)]
pub enum Filtered {
    /// Nothing hidden (or an error answer): send it as it is.
    Unchanged,
    /// The page without its hidden tools.
    Changed(Vec<u8>),
    /// Not a `tools/list` result this policy can read: it must not reach the client as it is
    /// (it could list hidden tools).
    Unreadable,
}

/// Per-tool OAuth scopes (`--tool-scope 'write_*=files:write'`): a tool whose name matches a
/// rule's glob needs that rule's scopes (every matching rule's), beyond those every request
/// needs. The gateway answers a call without them 403 `insufficient_scope` naming them, so an
/// OAuth client can ask for them (step-up authorization); the tools stay listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolScopes {
    rules: Vec<(Vec<char>, Vec<String>)>,
}

impl ToolScopes {
    /// Parses rules `GLOB=SCOPE[ SCOPE…]`.
    pub fn parse<'a>(rules: impl IntoIterator<Item = &'a str>) -> Result<Self, PolicyError> {
        let mut out = Vec::new();
        for rule in rules {
            let (glob, scopes) = rule
                .split_once('=')
                .ok_or_else(|| PolicyError::NotARule(rule.to_owned()))?;
            let glob = glob.trim();
            let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
            if glob.is_empty() || scopes.is_empty() {
                return Err(PolicyError::NotARule(rule.to_owned()));
            }
            if glob.chars().any(|c| c.is_whitespace() || c.is_control())
                || scopes.iter().any(|s| {
                    s.chars()
                        .any(|c| !c.is_ascii_graphic() || c == '"' || c == '\\')
                })
            {
                return Err(PolicyError::BadCharacter(rule.to_owned()));
            }
            out.push((glob.chars().collect(), scopes));
        }
        Ok(Self { rules: out })
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The scopes calling `tool` needs (every matching rule's, each once, in rule order).
    pub fn needed(&self, tool: &str) -> Vec<String> {
        let name: Vec<char> = tool.chars().collect();
        let mut out: Vec<String> = Vec::new();
        for (glob, scopes) in &self.rules {
            if glob_match(glob, &name) {
                for s in scopes {
                    if !out.contains(s) {
                        out.push(s.clone());
                    }
                }
            }
        }
        out
    }

    /// Every scope the rules name.
    pub fn all(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.rules.iter().flat_map(|(_, s)| s) {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }
}

/// Whether a listed tool says `annotations.readOnlyHint: true`.
pub fn is_read_only(tool: &Map<String, Value>) -> bool {
    tool.get("annotations")
        .and_then(|a| a.get("readOnlyHint"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// Whether `name` matches `glob` (`*` any run, `?` one character), in at most
/// `glob.len() × name.len()` steps: the last `*` is the only backtracking point.
fn glob_match(glob: &[char], name: &[char]) -> bool {
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match glob.get(g) {
            Some('*') => {
                star = Some((g, n));
                g += 1;
            }
            Some(c) if *c == '?' || *c == name[n] => {
                g += 1;
                n += 1;
            }
            _ => match star {
                Some((sg, sn)) => {
                    g = sg + 1;
                    n = sn + 1;
                    star = Some((sg, sn + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn m(g: &str, n: &str) -> bool {
        glob_match(
            &g.chars().collect::<Vec<_>>(),
            &n.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn globs_match_names() {
        assert!(m("get_*", "get_weather"));
        assert!(m("get_*", "get_"));
        assert!(!m("get_*", "xget_weather"));
        assert!(m("*_file", "write_file"));
        assert!(!m("*_file", "write_files"));
        assert!(m("a*b*c", "aXXbYYbc"));
        assert!(m("ech?", "echo"));
        assert!(!m("ech?", "ech"));
        assert!(m("echo", "echo"));
        assert!(!m("echo", "echoes"));
        assert!(m("*", ""));
        assert!(m("**", "x"));
        assert!(m("é*", "éclair"));
        // Bounded even when it backtracks a lot.
        let long = "a".repeat(10_000);
        assert!(!m(&format!("{}b", "*a".repeat(50)), &long));
    }

    #[test]
    fn allow_and_deny_combine() {
        let p = ToolPolicy::parse("get_*, echo", false).unwrap();
        assert!(p.allows_name("get_x") && p.allows_name("echo"));
        assert!(!p.allows_name("delete_x"));
        let p = ToolPolicy::parse("!delete_*", false).unwrap();
        assert!(p.allows_name("get_x") && !p.allows_name("delete_all"));
        let p = ToolPolicy::parse("*,!delete_*,!env", false).unwrap();
        assert!(p.allows_name("echo") && !p.allows_name("env") && !p.allows_name("delete_a"));
        let p = ToolPolicy::parse("", false).unwrap();
        assert!(p.is_open() && p.allows_name("anything"));
        assert!(!ToolPolicy::parse("", true).unwrap().is_open());
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(matches!(
            ToolPolicy::parse("a,,b", false),
            Err(PolicyError::Empty(_))
        ));
        assert!(matches!(
            ToolPolicy::parse("!", false),
            Err(PolicyError::Empty(_))
        ));
        assert!(matches!(
            ToolPolicy::parse("a b", false),
            Err(PolicyError::BadCharacter(_))
        ));
    }

    #[test]
    fn tool_scopes_add_up() {
        let t =
            ToolScopes::parse(["write_*=files:write", "*_all=files:admin files:write"]).unwrap();
        assert_eq!(t.needed("write_all"), ["files:write", "files:admin"]);
        assert_eq!(t.needed("write_one"), ["files:write"]);
        assert!(t.needed("read").is_empty());
        assert_eq!(t.all(), ["files:write", "files:admin"]);
        for bad in ["nothing", "=s", "g=", "g=a\"b"] {
            assert!(ToolScopes::parse([bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn read_only_needs_the_annotation() {
        let p = ToolPolicy::parse("", true).unwrap();
        let ro = json!({"name": "get", "annotations": {"readOnlyHint": true}});
        let rw = json!({"name": "put", "annotations": {"readOnlyHint": false}});
        let bare = json!({"name": "bare"});
        let odd = json!({"name": "odd", "annotations": {"readOnlyHint": "true"}});
        assert!(p.shows(ro.as_object().unwrap()));
        for t in [rw, bare, odd] {
            assert!(!p.shows(t.as_object().unwrap()), "{t}");
        }
        assert!(!p.shows(json!({"name": 7}).as_object().unwrap()));
    }

    #[test]
    fn lists_are_filtered_and_untouched_when_nothing_hides() {
        let p = ToolPolicy::parse("!env", false).unwrap();
        let page = json!({"jsonrpc": "2.0", "id": 3, "result": {
            "tools": [{"name": "echo"}, {"name": "env"}], "nextCursor": "c"}});
        let Filtered::Changed(out) = p.filter_list(page.to_string().as_bytes()) else {
            panic!("not filtered")
        };
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["result"]["tools"], json!([{"name": "echo"}]));
        assert_eq!(out["result"]["nextCursor"], "c");
        assert_eq!(out["id"], 3);
        let clean = json!({"jsonrpc": "2.0", "id": 3, "result": {"tools": [{"name": "echo"}]}});
        assert_eq!(
            p.filter_list(clean.to_string().as_bytes()),
            Filtered::Unchanged
        );
        let err = json!({"jsonrpc": "2.0", "id": 3, "error": {"code": 1, "message": "m"}});
        assert_eq!(
            p.filter_list(err.to_string().as_bytes()),
            Filtered::Unchanged
        );
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(p.filter_list(deep.as_bytes()), Filtered::Unreadable);
        let odd = json!({"jsonrpc": "2.0", "id": 3, "result": {"tools": "all"}});
        assert_eq!(
            p.filter_list(odd.to_string().as_bytes()),
            Filtered::Unreadable
        );
    }
}
