//! 2026-07-28 multi round-trip requests (MRTR) for children that ask the old way: a legacy
//! child's server→client request (sampling, elicitation, roots) during a modern client's
//! `tools/call`, `prompts/get` or `resources/read` becomes an `InputRequiredResult`.
//!
//! Contract (stateless, so any instance holding the key can continue a round):
//! - The first time the child asks for something, the client gets `resultType:
//!   "input_required"` with the request under a key (`input-1`, `input-2`, …) in `inputRequests`
//!   and a sealed `requestState` (`mlrs1.`, AEAD) naming the method, a digest of the request's
//!   salient params (name/uri and arguments), the principal, an expiry, and every input request
//!   issued so far (key + digest of its method and params). The child's call is cancelled.
//! - The client's retry (same params + `inputResponses` + `requestState`) runs the call again
//!   on any child; each time the child asks something already asked (same digest) and the client
//!   answered that key, the child gets the client's answer at once. Something new is another
//!   round. A tool therefore runs again from the start on each round (what a stateless server
//!   does too): side effects before its first question repeat.
//! - A `requestState` that does not open, has expired, belongs to another principal or another
//!   request is refused with -32602. One that is not ours (no `mlrs1.` prefix) is left in the
//!   request for the child with the `inputResponses` (a 2026-07-28 child runs its own rounds).
//! - A request the client has not declared the capability for is answered with an error to the
//!   child, never sent to the client.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::reject::Rejection;
use crate::jsonrpc::{self, Message};
use crate::sealed::Sealer;

/// Prefix of our `requestState` values.
pub(crate) const PREFIX: &str = "mlrs1.";
/// Associated data: binds the state to this purpose.
const AAD: &[u8] = b"mcp-lambda request state v1";
/// Largest `requestState` we open.
const MAX_STATE: usize = 64 * 1024;
/// How long a round may take before its state expires.
pub(crate) const STATE_TTL: Duration = Duration::from_secs(600);

/// Methods that may answer with an `InputRequiredResult` (2026-07-28 MRTR "Supported Requests").
pub(crate) fn supports(method: &str) -> bool {
    matches!(method, "tools/call" | "prompts/get" | "resources/read")
}

/// A sealer for request state: with the configured keys (shared by instances), or a key of this
/// process when none are configured.
pub(crate) fn sealer(keys: &[[u8; 32]]) -> Arc<Sealer> {
    Arc::new(
        Sealer::new(keys, PREFIX, AAD, MAX_STATE)
            .unwrap_or_else(|| Sealer::ephemeral(PREFIX, AAD, MAX_STATE)),
    )
}

/// One input request issued in an earlier round.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Asked {
    /// Its key in `inputRequests` / `inputResponses`.
    k: String,
    /// Digest of its method and params.
    h: String,
}

/// The sealed state of a request across rounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    /// The request's method.
    m: String,
    /// Digest of its salient params.
    d: String,
    /// The authenticated principal, if any.
    p: Option<String>,
    /// Expiry, epoch seconds.
    e: u64,
    /// Input requests issued so far.
    a: Vec<Asked>,
}

fn digest(v: &Value) -> String {
    // serde_json's map is ordered by key, so equal values serialize equally.
    URL_SAFE_NO_PAD.encode(Sha256::digest(v.to_string().as_bytes()))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The params that identify a request across retries: everything but `_meta`,
/// `inputResponses` and `requestState`.
fn salient(params: &Map<String, Value>) -> Value {
    let mut p = params.clone();
    for k in ["_meta", "inputResponses", "requestState"] {
        p.remove(k);
    }
    Value::Object(p)
}

/// One request's MRTR context. Costs nothing until the child asks something: the digest of
/// the params is computed only when a state is sealed or checked.
pub(crate) struct Round {
    sealer: Arc<Sealer>,
    state: State,
    responses: Map<String, Value>,
    /// The request's params, kept until their digest is needed (first round only).
    params: Option<Map<String, Value>>,
    /// The client's declared capabilities (raw JSON object).
    capabilities: Arc<RawValue>,
    client_id: Option<Box<RawValue>>,
}

/// What [`Round::begin`] found in the client's params.
pub(crate) enum Begin {
    /// Run the request with this round: as it is (`None`), or rewritten without our fields.
    Run(Option<Box<RawValue>>, Round),
    /// Refuse it.
    Refuse(Rejection),
}

/// What to do with a server→client request the child sent during a round.
pub(crate) enum OnAsk {
    /// Give the child this answer (the client's, from `inputResponses`, or a refusal).
    Answer(Message),
    /// The request ends with this `InputRequiredResult` (the client's response).
    Final(Bytes),
}

impl Round {
    /// Reads `requestState` / `inputResponses` of a supported request and returns the message
    /// to forward (our fields removed) with its round.
    pub(crate) fn begin(
        sealer: &Arc<Sealer>,
        msg: &Message,
        params: Map<String, Value>,
        capabilities: Arc<RawValue>,
        principal: Option<&str>,
    ) -> Begin {
        let method = msg.method().unwrap_or_default().to_owned();
        let ours = params
            .get("requestState")
            .and_then(Value::as_str)
            .filter(|s| sealer.is_ours(s))
            .map(str::to_owned);
        let Some(sealed) = ours else {
            // A first round (or a 2026-07-28 child's own state): nothing to check or rewrite.
            let state = State {
                m: method,
                d: String::new(),
                p: principal.map(str::to_owned),
                e: now_secs() + STATE_TTL.as_secs(),
                a: Vec::new(),
            };
            return Begin::Run(
                None,
                Round {
                    sealer: sealer.clone(),
                    state,
                    responses: Map::new(),
                    params: Some(params),
                    capabilities,
                    client_id: msg.id().map(ToOwned::to_owned),
                },
            );
        };
        let d = digest(&salient(&params));
        let opened = sealer
            .open(&sealed)
            .and_then(|plain| serde_json::from_slice::<State>(&plain).ok())
            .filter(|s| s.m == method && s.d == d && s.p.as_deref() == principal)
            .filter(|s| s.e >= now_secs());
        let Some(mut state) = opened else {
            return Begin::Refuse(
                Rejection::invalid_params(
                    "requestState is invalid, expired, or belongs to another request; send the request again without it",
                )
                .with_id(msg.id()),
            );
        };
        state.e = now_secs() + STATE_TTL.as_secs();
        let responses = params
            .get("inputResponses")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        // Forward without our fields.
        let mut whole: Map<String, Value> =
            serde_json::from_str(msg.raw().get()).unwrap_or_default();
        if let Some(Value::Object(p)) = whole.get_mut("params") {
            p.remove("inputResponses");
            p.remove("requestState");
        }
        let raw = RawValue::from_string(Value::Object(whole).to_string()).ok();
        Begin::Run(
            raw,
            Round {
                sealer: sealer.clone(),
                state,
                responses,
                params: None,
                capabilities,
                client_id: msg.id().map(ToOwned::to_owned),
            },
        )
    }

    /// Handles a server→client request the child sent (already carrying its outward id): the
    /// answer the child gets from `inputResponses` (or a refusal for an undeclared capability),
    /// or the client's `InputRequiredResult` for a new round (the request is over). `None`:
    /// not a request this round can read.
    pub(crate) fn on_request(&mut self, request: &[u8]) -> Option<OnAsk> {
        let v: Value = serde_json::from_slice(request).ok()?;
        let outward = v.get("id")?.clone();
        let method = v.get("method")?.as_str()?.to_owned();
        let params = v.get("params").cloned().unwrap_or(Value::Null);
        let reply = |body: Value| {
            let mut m = serde_json::json!({"jsonrpc": "2.0", "id": outward});
            if let (Some(obj), Value::Object(add)) = (m.as_object_mut(), body) {
                obj.extend(add);
            }
            let raw = RawValue::from_string(m.to_string()).ok()?;
            jsonrpc::parse_message(&raw).ok().map(OnAsk::Answer)
        };
        let capability = match method.as_str() {
            "sampling/createMessage" => "sampling",
            "elicitation/create" => "elicitation",
            "roots/list" => "roots",
            _ => "",
        };
        let declared = serde_json::from_str::<Value>(self.capabilities.get())
            .ok()
            .is_some_and(|c| c.get(capability).is_some());
        if capability.is_empty() || !declared {
            return reply(serde_json::json!({"error": {
                "code": jsonrpc::METHOD_NOT_FOUND,
                "message": format!("{method} is not available: the client did not declare that capability"),
            }}));
        }
        let h = digest(&serde_json::json!({"method": method, "params": params}));
        if let Some(answer) = self
            .state
            .a
            .iter()
            .find(|a| a.h == h)
            .and_then(|a| self.responses.get(&a.k))
        {
            return reply(serde_json::json!({ "result": answer }));
        }
        if self.state.d.is_empty()
            && let Some(p) = self.params.take()
        {
            self.state.d = digest(&salient(&p));
        }
        let key = format!("input-{}", self.state.a.len() + 1);
        self.state.a.push(Asked { k: key.clone(), h });
        let sealed = serde_json::to_vec(&self.state)
            .ok()
            .and_then(|plain| self.sealer.seal(&plain));
        let mut result = serde_json::json!({
            "resultType": "input_required",
            "inputRequests": { key: { "method": method, "params": params } },
        });
        if let Some(s) = sealed {
            result["requestState"] = Value::from(s);
        }
        let body = serde_json::json!({"jsonrpc": "2.0", "result": result});
        let id = self
            .client_id
            .as_deref()
            .map(RawValue::get)
            .unwrap_or("null");
        jsonrpc::replace_id(&RawValue::from_string(body.to_string()).ok()?, id)
            .ok()
            .map(|r| OnAsk::Final(Bytes::from(jsonrpc::into_bytes(r))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(v: Value) -> Message {
        jsonrpc::parse_message(&RawValue::from_string(v.to_string()).unwrap()).unwrap()
    }

    fn params(m: &Message) -> Map<String, Value> {
        serde_json::from_str(m.member("params").unwrap().get()).unwrap()
    }

    /// The `InputRequiredResult` a round ended with.
    fn finished(a: Option<OnAsk>) -> Bytes {
        match a {
            Some(OnAsk::Final(b)) => b,
            _ => panic!("the round did not end"),
        }
    }

    /// The answer a round gave the child.
    fn answered(a: Option<OnAsk>) -> Value {
        match a {
            Some(OnAsk::Answer(m)) => serde_json::from_str(m.raw().get()).unwrap(),
            _ => panic!("the child got no answer"),
        }
    }

    fn caps(v: Value) -> Arc<RawValue> {
        Arc::from(RawValue::from_string(v.to_string()).unwrap())
    }

    const ELICIT: &str = r#"{"jsonrpc":"2.0","id":"mcpl-x","method":"elicitation/create","params":{"message":"name?"}}"#;

    #[test]
    fn a_new_question_is_a_round_and_its_answer_replays() {
        let sealer = sealer(&[[9; 32]]);
        let first = msg(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "t", "arguments": {"a": 1}}}),
        );
        let Begin::Run(_, mut round) = Round::begin(
            &sealer,
            &first,
            params(&first),
            caps(serde_json::json!({"elicitation": {}})),
            Some("alice"),
        ) else {
            panic!("refused")
        };
        let irr: Value =
            serde_json::from_slice(&finished(round.on_request(ELICIT.as_bytes()))).unwrap();
        assert_eq!(irr["id"], 1);
        assert_eq!(irr["result"]["resultType"], "input_required");
        assert_eq!(
            irr["result"]["inputRequests"]["input-1"]["method"],
            "elicitation/create"
        );
        let state = irr["result"]["requestState"].as_str().unwrap().to_owned();
        assert!(state.starts_with(PREFIX));

        // The retry: same params, the answer, the state. The same question is answered.
        let retry = msg(
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "t", "arguments": {"a": 1},
                "inputResponses": {"input-1": {"action": "accept", "content": {"n": "x"}}},
                "requestState": state}}),
        );
        let Begin::Run(forwarded, mut round) = Round::begin(
            &sealer,
            &retry,
            params(&retry),
            caps(serde_json::json!({"elicitation": {}})),
            Some("alice"),
        ) else {
            panic!("refused")
        };
        let f: Value = serde_json::from_str(forwarded.unwrap().get()).unwrap();
        assert!(f["params"].get("inputResponses").is_none());
        assert!(f["params"].get("requestState").is_none());
        assert!(
            answered(round.on_request(ELICIT.as_bytes()))["result"]["action"] == "accept",
            "answered from inputResponses"
        );
        // A different question is a second round with both recorded.
        let other = ELICIT.replace("name?", "age?");
        let irr: Value =
            serde_json::from_slice(&finished(round.on_request(other.as_bytes()))).unwrap();
        assert!(
            irr["result"]["inputRequests"].get("input-2").is_some(),
            "{irr}"
        );
    }

    #[test]
    fn state_is_bound_to_request_and_principal() {
        let sealer = sealer(&[[9; 32]]);
        let first = msg(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "t", "arguments": {"a": 1}}}),
        );
        let Begin::Run(_, mut round) = Round::begin(
            &sealer,
            &first,
            params(&first),
            caps(serde_json::json!({"elicitation": {}})),
            None,
        ) else {
            panic!()
        };
        let irr: Value =
            serde_json::from_slice(&finished(round.on_request(ELICIT.as_bytes()))).unwrap();
        let state = irr["result"]["requestState"].as_str().unwrap().to_owned();
        for (args, principal, st) in [
            (serde_json::json!({"a": 2}), None, state.clone()),
            (serde_json::json!({"a": 1}), Some("mallory"), state.clone()),
            (serde_json::json!({"a": 1}), None, format!("{state}x")),
        ] {
            let retry = msg(
                serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "t", "arguments": args, "requestState": st}}),
            );
            assert!(matches!(
                Round::begin(
                    &sealer,
                    &retry,
                    params(&retry),
                    caps(serde_json::json!({})),
                    principal
                ),
                Begin::Refuse(_)
            ));
        }
        // A state that is not ours is left for the child.
        let foreign = msg(
            serde_json::json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "t", "requestState": "child-state"}}),
        );
        let Begin::Run(fwd, _) = Round::begin(
            &sealer,
            &foreign,
            params(&foreign),
            caps(serde_json::json!({})),
            None,
        ) else {
            panic!()
        };
        assert!(fwd.is_none(), "a foreign state travels unchanged");
    }

    #[test]
    fn undeclared_capabilities_never_reach_the_client() {
        let sealer = sealer(&[]);
        let first = msg(
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "t"}}),
        );
        let Begin::Run(_, mut round) = Round::begin(
            &sealer,
            &first,
            params(&first),
            caps(serde_json::json!({})),
            None,
        ) else {
            panic!()
        };
        let refused = answered(round.on_request(ELICIT.as_bytes()));
        assert_eq!(refused["error"]["code"], jsonrpc::METHOD_NOT_FOUND);
        assert!(supports("prompts/get") && !supports("tools/list"));
    }
}
