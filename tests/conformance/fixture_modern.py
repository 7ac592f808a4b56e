"""A stdio MCP server that speaks protocol 2026-07-28 natively, for the conformance suites.

`mcp-lambda serve` wraps it like `fixture-server.mjs` (the initialize-era TypeScript fixture),
but this one answers `server/discover`, so the gateway passes 2026-07-28 requests and results
through unchanged. It provides every tool, resource, template and prompt the 2026-07-28 server
scenarios of @modelcontextprotocol/conformance 0.2.0-alpha.12 use, including the ones only a
native 2026-07-28 server can serve: the InputRequiredResult (MRTR, SEP-2322) tools and prompt
with the exact `inputRequests` keys the scenarios name.

Written with the official Python SDK (`mcp` 2.3.0), low-level `Server` over stdio, so every
result is the wire shape written here. The SDK provides the rest: the dual-era stdio loop (the
first request decides: a 2026-07-28 envelope opens a modern connection, `initialize` a legacy
one), `server/discover`, per-request `_meta`, caching hints (`cache_hints`), the serverInfo
stamp, `subscriptions/listen` (`ListenHandler`), and sealing of `requestState`
(`RequestStateBoundary`: AES-GCM under a per-process key, bound to the request; a tampered
state is answered with -32602 before a handler runs).

Interactive tools ask through `gather`: at 2026-07-28 it returns an InputRequiredResult and
reads the retry's `inputResponses`; on a legacy connection it sends the same requests to the
client and waits. Run: `.tools/venv-client/bin/python tests/conformance/fixture_modern.py`.
stdout is the protocol channel: diagnostics go to stderr.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Mapping
from typing import Any

import anyio
import mcp_types as types
from mcp.server import CacheHint, Server, ServerRequestContext
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.subscriptions import PromptsListChanged, ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

# The deprecation warnings of logging, roots and client progress (SEP-2577) would only be noise:
# this server serves both eras on purpose.
warnings.simplefilter("ignore")

NAME = "mcp-lambda-conformance-fixture-modern"

# A 1x1 PNG and a minimal WAV (base64), as in fixture-server.mjs.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAA"
    "AABJRU5ErkJggg=="
)
WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

Ctx = ServerRequestContext[Any, Any]
Json = dict[str, Any]


def text(t: str) -> Json:
    return {"content": [{"type": "text", "text": t}]}


def modern(ctx: Ctx) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


# ------------------------------------------------------------------ input requests (MRTR)


def elicit(message: str, properties: Json, required: list[str]) -> Json:
    """An `elicitation/create` (form mode) input request."""
    return {
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": message,
            "requestedSchema": {"type": "object", "properties": properties, "required": required},
        },
    }


def sample(prompt: str, max_tokens: int) -> Json:
    """A `sampling/createMessage` input request."""
    return {
        "method": "sampling/createMessage",
        "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
            "maxTokens": max_tokens,
        },
    }


ROOTS: Json = {"method": "roots/list", "params": {}}

# The client capability each input request needs, and how a legacy connection sends it.
CAPABILITY = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}
LEGACY_REQUEST: dict[str, tuple[Any, Any]] = {
    "elicitation/create": (types.ElicitRequest, types.ElicitResult),
    "sampling/createMessage": (types.CreateMessageRequest, types.CreateMessageResult),
    "roots/list": (types.ListRootsRequest, types.ListRootsResult),
}


def declared(ctx: Ctx) -> Json:
    """The client's capabilities for this request (the 2026-07-28 `_meta` ones, or initialize's)."""
    caps = ctx.session.client_capabilities
    return caps.model_dump(by_alias=True, mode="json", exclude_none=True) if caps else {}


def missing_capability(name: str) -> MCPError:
    """MissingRequiredClientCapabilityError (-32021); `requiredCapabilities` names `name`."""
    return MCPError(
        types.MISSING_REQUIRED_CLIENT_CAPABILITY,
        f"Missing required client capability: {name}",
        {"requiredCapabilities": {name: {}}},
    )


def answers_of(params: types.InputResponseRequestParams) -> dict[str, Json]:
    """The retry's `inputResponses` (already validated by the SDK: a malformed one is -32602)."""
    return {
        key: value.model_dump(by_alias=True, mode="json", exclude_none=True)
        for key, value in (params.input_responses or {}).items()
    }


async def gather(
    ctx: Ctx,
    params: types.InputResponseRequestParams,
    requests: dict[str, Json],
    state: str | None = None,
) -> Json:
    """Answers to `requests` (key → input request), every key answered; or, at 2026-07-28, the
    InputRequiredResult asking for the keys the retry did not answer (with `state` as
    `requestState`, sealed by the SDK). Keys the client answered that were not asked are ignored.
    A request needing a capability the client did not declare is -32021."""
    caps = declared(ctx)
    for request in requests.values():
        capability = CAPABILITY[request["method"]]
        if capability not in caps:
            raise missing_capability(capability)
    if modern(ctx):
        answers = answers_of(params)
        missing = {key: r for key, r in requests.items() if key not in answers}
        if not missing:
            return {key: answers[key] for key in requests}
        result: Json = {"resultType": "input_required", "inputRequests": missing}
        if state is not None:
            result["requestState"] = state
        return result
    # Initialize era: the same requests as server→client requests on the call's stream.
    answers = {}
    for key, request in requests.items():
        request_type, result_type = LEGACY_REQUEST[request["method"]]
        answer = await ctx.session.send_request(
            request_type.model_validate(request),
            result_type,
            metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
        )
        answers[key] = answer.model_dump(by_alias=True, mode="json", exclude_none=True)
    return answers


def asked(outcome: Json) -> bool:
    """Whether `gather` returned an InputRequiredResult (to return as is) rather than answers."""
    return outcome.get("resultType") == "input_required"


def form_text(answer: Json, prefix: str) -> str:
    content = json.dumps(answer.get("content") or {})
    return f"{prefix}: action={answer.get('action')}, content={content}"


def sampled_text(answer: Json) -> str:
    content = answer.get("content")
    if isinstance(content, dict) and content.get("type") == "text":
        return str(content.get("text"))
    return json.dumps(content)


def roots_text(answer: Json) -> str:
    return ", ".join(str(r.get("uri")) for r in answer.get("roots") or [])


# ------------------------------------------------------------------------------- tools

# Fixed (raw JSON Schema) input schemas. SEP-1613/SEP-2106 keywords and SEP-2243 `x-mcp-header`
# must reach the client unchanged.
NO_ARGS: Json = {"type": "object", "properties": {}}
JSON_SCHEMA_2020_12: Json = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}
CUSTOM_HEADERS: Json = {
    "type": "object",
    "properties": {
        "region": {
            "type": "string",
            "description": "Sent as Mcp-Param-Region",
            "x-mcp-header": "Region",
        },
        "priority": {
            "type": "integer",
            "description": "Sent as Mcp-Param-Priority",
            "x-mcp-header": "Priority",
        },
        "note": {"type": "string", "description": "Body only"},
    },
    "required": ["region"],
}

TOOLS: dict[str, Json] = {}
TOOL_HANDLERS: dict[str, Any] = {}


def tool(name: str, description: str, input_schema: Json | None = None):
    """Registers `fn(ctx, params, arguments) -> result` as the tool `name`."""

    def register(fn: Any) -> Any:
        schema = input_schema or NO_ARGS
        TOOLS[name] = {"name": name, "description": description, "inputSchema": schema}
        TOOL_HANDLERS[name] = fn
        return fn

    return register


@tool("test_simple_text", "Returns one text content item")
async def simple_text(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    return text("This is a simple text response for testing.")


@tool("test_image_content", "Returns a PNG image")
async def image_content(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    return {"content": [{"type": "image", "data": PNG, "mimeType": "image/png"}]}


@tool("test_audio_content", "Returns a WAV audio clip")
async def audio_content(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    return {"content": [{"type": "audio", "data": WAV, "mimeType": "audio/wav"}]}


@tool("test_embedded_resource", "Returns an embedded text resource")
async def embedded_resource(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    resource = {
        "uri": "test://embedded-resource",
        "mimeType": "text/plain",
        "text": "This is an embedded resource content.",
    }
    return {"content": [{"type": "resource", "resource": resource}]}


@tool("test_multiple_content_types", "Returns text, an image and an embedded resource")
async def multiple_content_types(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    resource = {
        "uri": "test://mixed-content-resource",
        "mimeType": "application/json",
        "text": json.dumps({"test": "data", "value": 123}),
    }
    return {
        "content": [
            {"type": "text", "text": "Multiple content types test:"},
            {"type": "image", "data": PNG, "mimeType": "image/png"},
            {"type": "resource", "resource": resource},
        ]
    }


async def log(ctx: Ctx, level: types.LoggingLevel, data: str) -> None:
    """A `notifications/message` on the call's stream; at 2026-07-28 only when the request's
    `_meta` opted in at that level (the SDK drops it otherwise)."""
    await ctx.session.send_log_message(
        level, data, logger="conformance-fixture", related_request_id=ctx.request_id
    )


@tool("test_tool_with_logging", "Sends three info log messages while it runs")
async def tool_with_logging(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    messages = ["Tool execution started", "Tool processing data", "Tool execution completed"]
    for i, message in enumerate(messages):
        if i:
            await anyio.sleep(0.05)
        await log(ctx, "info", message)
    return text("Tool with logging executed successfully")


@tool("test_logging_tool", "Logs one message at each of debug, info and warning")
async def logging_tool(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    for level in ("debug", "info", "warning"):
        await log(ctx, level, f"{level} message")
    return text("logged")


@tool(
    "test_tool_with_progress",
    "Reports progress 0, 50 and 100 of 100 for the request progressToken",
)
async def tool_with_progress(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    for progress in (0, 50, 100):
        await ctx.session.report_progress(progress, 100, f"step {progress} of 100")
        if progress < 100:
            await anyio.sleep(0.05)
    token = (ctx.meta or {}).get("progress_token")
    return text(f"progress reported for token {json.dumps(token)}")


@tool("test_error_handling", "Always fails with isError: true")
async def error_handling(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    return {**text("This tool intentionally returns an error for testing"), "isError": True}


@tool(
    "test_reconnection",
    "Takes a moment (SEP-1699 polling: the transport may close the stream meanwhile)",
)
async def reconnection(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    await anyio.sleep(0.1)
    return text("Reconnection test completed successfully.")


PROMPT_ARG: Json = {
    "type": "object",
    "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
    "required": ["prompt"],
}


@tool("test_sampling", "Asks the client for an LLM completion (sampling/createMessage)", PROMPT_ARG)
async def sampling(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    outcome = await gather(ctx, params, {"completion": sample(str(args.get("prompt", "")), 100)})
    if asked(outcome):
        return outcome
    return text(f"LLM response: {sampled_text(outcome['completion'])}")


MESSAGE_ARG: Json = {
    "type": "object",
    "properties": {"message": {"type": "string", "description": "The message to show the user"}},
    "required": ["message"],
}


@tool("test_elicitation", "Asks the user for input (elicitation/create)", MESSAGE_ARG)
async def elicitation(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    request = elicit(
        str(args.get("message", "")),
        {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        ["username", "email"],
    )
    outcome = await gather(ctx, params, {"user_response": request})
    return outcome if asked(outcome) else text(form_text(outcome["user_response"], "User response"))


@tool(
    "test_streaming_elicitation",
    "Asks the user to confirm (an InputRequiredResult at 2026-07-28)",
)
async def streaming_elicitation(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    request = elicit("Please confirm", {"confirmed": {"type": "boolean"}}, [])
    outcome = await gather(ctx, params, {"confirmation": request})
    if asked(outcome):
        return outcome
    return text(form_text(outcome["confirmation"], "Elicitation completed"))


@tool(
    "test_elicitation_sep1034_defaults",
    "Elicitation whose fields carry default values (SEP-1034)",
)
async def elicitation_defaults(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    properties = {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    }
    request = elicit("Please review and update the form fields with defaults", properties, [])
    outcome = await gather(ctx, params, {"defaults": request})
    if asked(outcome):
        return outcome
    return text(form_text(outcome["defaults"], "Elicitation completed"))


@tool("test_elicitation_sep1330_enums", "Elicitation with the five enum schema shapes (SEP-1330)")
async def elicitation_enums(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    def titled(word: str) -> list[Json]:
        ordinals = ["First", "Second", "Third"]
        return [{"const": f"value{i + 1}", "title": f"{t} {word}"} for i, t in enumerate(ordinals)]

    properties = {
        "untitledSingle": {
            "type": "string",
            "description": "Select one option",
            "enum": ["option1", "option2", "option3"],
        },
        "titledSingle": {
            "type": "string",
            "description": "Select one option with titles",
            "oneOf": titled("Option"),
        },
        "legacyEnum": {
            "type": "string",
            "description": "Select one option (legacy)",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "description": "Select multiple options",
            "minItems": 1,
            "maxItems": 3,
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "description": "Select multiple options with titles",
            "minItems": 1,
            "maxItems": 3,
            "items": {"anyOf": titled("Choice")},
        },
    }
    request = elicit("Please select options from the enum fields", properties, [])
    outcome = await gather(ctx, params, {"enums": request})
    return outcome if asked(outcome) else text(form_text(outcome["enums"], "Elicitation completed"))


@tool(
    "test_missing_capability",
    "Needs the client sampling capability (without it: JSON-RPC error -32021)",
)
async def needs_sampling(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    outcome = await gather(ctx, params, {"greeting": sample("Say hello", 100)})
    return outcome if asked(outcome) else text(f"LLM response: {sampled_text(outcome['greeting'])}")


# Hooks that change the tool and prompt lists: each call adds or removes one entry and tells
# `subscriptions/listen` streams (2026-07-28) or the connection (initialize era).
BUS = InMemorySubscriptionBus()
DYNAMIC_TOOL: Json = {
    "name": "test_dynamic_tool",
    "description": "Appears and disappears with test_trigger_tool_change",
}
DYNAMIC_PROMPT: Json = {
    "name": "test_dynamic_prompt",
    "description": "Appears and disappears with test_trigger_prompt_change",
}
dynamic = {"tool": False, "prompt": False}


@tool("test_trigger_tool_change", "Adds or removes the tool test_dynamic_tool")
async def trigger_tool_change(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    dynamic["tool"] = not dynamic["tool"]
    if modern(ctx):
        await BUS.publish(ToolsListChanged())
    else:
        await ctx.session.send_tool_list_changed()
    return text(("added" if dynamic["tool"] else "removed") + " test_dynamic_tool")


@tool("test_trigger_prompt_change", "Adds or removes the prompt test_dynamic_prompt")
async def trigger_prompt_change(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    dynamic["prompt"] = not dynamic["prompt"]
    if modern(ctx):
        await BUS.publish(PromptsListChanged())
    else:
        await ctx.session.send_prompt_list_changed()
    return text(("added" if dynamic["prompt"] else "removed") + " test_dynamic_prompt")


@tool(
    "json_schema_2020_12_tool",
    "Advertises a JSON Schema 2020-12 inputSchema (SEP-1613, SEP-2106 keywords)",
    JSON_SCHEMA_2020_12,
)
async def json_schema_2020_12(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    return text(f"JSON Schema 2020-12 tool called with: {json.dumps(args)}")


@tool(
    "test_custom_headers",
    "Echoes parameters that clients also send as Mcp-Param-* headers (SEP-2243)",
    CUSTOM_HEADERS,
)
async def custom_headers(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    if not isinstance(args.get("region"), str):
        raise MCPError(types.INVALID_PARAMS, "region (string) is required")
    return text(f"custom headers tool called with: {json.dumps(args)}")


# InputRequiredResult scenarios (input-required-result-*): keys, messages and schemas as the
# scenarios specify.
USER_NAME = elicit("What is your name?", {"name": {"type": "string"}}, ["name"])
GREETING = sample("Generate a greeting", 50)


@tool(
    "test_input_required_result_elicitation",
    "Asks for the user's name (key user_name), then greets",
)
async def irr_elicitation(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    outcome = await gather(ctx, params, {"user_name": USER_NAME})
    if asked(outcome):
        return outcome
    answer = outcome["user_name"]
    if answer.get("action") != "accept":
        return text(f"No name given (action={answer.get('action')})")
    return text(f"Hello, {(answer.get('content') or {}).get('name')}!")


@tool(
    "test_input_required_result_sampling",
    "Asks the client's LLM a question (key capital_question)",
)
async def irr_sampling(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    question = sample("What is the capital of France?", 100)
    outcome = await gather(ctx, params, {"capital_question": question})
    if asked(outcome):
        return outcome
    return text(f"LLM said: {sampled_text(outcome['capital_question'])}")


@tool("test_input_required_result_list_roots", "Asks for the client's roots (key client_roots)")
async def irr_list_roots(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    outcome = await gather(ctx, params, {"client_roots": ROOTS})
    if asked(outcome):
        return outcome
    return text(f"Client roots: {roots_text(outcome['client_roots'])}")


CONFIRM_STATE = "awaiting-confirmation"


@tool(
    "test_input_required_result_request_state",
    "Asks for confirmation with a requestState it checks on retry",
)
async def irr_request_state(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    confirm = elicit("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])
    if modern(ctx) and params.input_responses and params.request_state != CONFIRM_STATE:
        raise MCPError(types.INVALID_PARAMS, "requestState missing or not the one this tool issued")
    outcome = await gather(ctx, params, {"confirm": confirm}, CONFIRM_STATE)
    if asked(outcome):
        return outcome
    confirmed = (outcome["confirm"].get("content") or {}).get("ok")
    return text(f"state-ok: confirmed={json.dumps(confirmed)}")


MULTIPLE_STATE = "awaiting-name-greeting-roots"


@tool(
    "test_input_required_result_multiple_inputs",
    "Asks for elicitation, sampling and roots in one round",
)
async def irr_multiple_inputs(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    requests = {"user_name": USER_NAME, "greeting": GREETING, "client_roots": ROOTS}
    if modern(ctx) and params.input_responses and params.request_state != MULTIPLE_STATE:
        raise MCPError(types.INVALID_PARAMS, "requestState missing or not the one this tool issued")
    outcome = await gather(ctx, params, requests, MULTIPLE_STATE)
    if asked(outcome):
        return outcome
    name = (outcome["user_name"].get("content") or {}).get("name")
    greeting, roots = sampled_text(outcome["greeting"]), roots_text(outcome["client_roots"])
    return text(f"name={name}; greeting={greeting}; roots={roots}")


STEP1 = elicit("Step 1: What is your name?", {"name": {"type": "string"}}, ["name"])
STEP2 = elicit("Step 2: What is your favorite color?", {"color": {"type": "string"}}, ["color"])


@tool(
    "test_input_required_result_multi_round",
    "Asks for a name, then a colour, carrying state across rounds",
)
async def irr_multi_round(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    if not modern(ctx):
        outcome = await gather(ctx, params, {"step1": STEP1, "step2": STEP2})
        name = (outcome["step1"].get("content") or {}).get("name")
        return text(f"{name} likes {(outcome['step2'].get('content') or {}).get('color')}")
    # requestState (plaintext here, sealed on the wire): "round-1", then "round-2:<name as JSON>".
    state = params.request_state
    if state is None or state == "round-1":
        outcome = await gather(ctx, params, {"step1": STEP1}, "round-1")
        if asked(outcome):
            return outcome
        name = (outcome["step1"].get("content") or {}).get("name")
        # A new question: only step2 is asked, whatever else the retry carried.
        fresh = params.model_copy(update={"input_responses": None})
        return await gather(ctx, fresh, {"step2": STEP2}, "round-2:" + json.dumps(name))
    if state.startswith("round-2:"):
        name = json.loads(state[len("round-2:") :])
        outcome = await gather(ctx, params, {"step2": STEP2}, state)
        if asked(outcome):
            return outcome
        return text(f"{name} likes {(outcome['step2'].get('content') or {}).get('color')}")
    raise MCPError(types.INVALID_PARAMS, "unknown requestState")


@tool(
    "test_input_required_result_tampered_state",
    "Issues a sealed requestState; a tampered one is -32602",
)
async def irr_tampered_state(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    confirm = elicit("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])
    # The SDK's RequestStateBoundary rejects a state it did not seal before this runs.
    if modern(ctx) and params.input_responses and params.request_state != CONFIRM_STATE:
        raise MCPError(types.INVALID_PARAMS, "requestState missing or not the one this tool issued")
    outcome = await gather(ctx, params, {"confirm": confirm}, CONFIRM_STATE)
    return outcome if asked(outcome) else text("state-ok")


@tool(
    "test_input_required_result_capabilities",
    "Asks only for what the client's capabilities allow",
)
async def irr_capabilities(ctx: Ctx, params: types.CallToolRequestParams, args: Json) -> Json:
    caps = declared(ctx)
    wanted = {"user_name": USER_NAME, "greeting": GREETING, "client_roots": ROOTS}
    requests = {key: r for key, r in wanted.items() if CAPABILITY[r["method"]] in caps}
    if not requests:
        return text("the client declared no capability this tool could ask through")
    outcome = await gather(ctx, params, requests)
    if asked(outcome):
        return outcome
    return text(f"answered: {', '.join(sorted(outcome))}")


# ---------------------------------------------------------------------------- resources

RESOURCES: list[Json] = [
    {
        "uri": "test://static-text",
        "name": "static-text",
        "title": "Static text",
        "description": "A fixed text resource",
        "mimeType": "text/plain",
    },
    {
        "uri": "test://static-binary",
        "name": "static-binary",
        "title": "Static binary",
        "description": "A fixed PNG image",
        "mimeType": "image/png",
    },
    {
        "uri": "test://watched-resource",
        "name": "watched-resource",
        "title": "Watched resource",
        "description": "A resource clients may subscribe to",
        "mimeType": "text/plain",
    },
]
TEMPLATE_PREFIX, TEMPLATE_SUFFIX = "test://template/", "/data"
TEMPLATES: list[Json] = [
    {
        "uriTemplate": "test://template/{id}/data",
        "name": "template",
        "title": "Template",
        "description": "JSON data for any id",
        "mimeType": "application/json",
    }
]


def read(uri: str) -> Json | None:
    """The contents item of `uri`, or None if there is no such resource."""
    if uri == "test://static-text":
        content = "This is the content of the static text resource."
        return {"uri": uri, "mimeType": "text/plain", "text": content}
    if uri == "test://static-binary":
        return {"uri": uri, "mimeType": "image/png", "blob": PNG}
    if uri == "test://watched-resource":
        return {"uri": uri, "mimeType": "text/plain", "text": "Watched resource content"}
    if uri.startswith(TEMPLATE_PREFIX) and uri.endswith(TEMPLATE_SUFFIX):
        id_ = uri[len(TEMPLATE_PREFIX) : -len(TEMPLATE_SUFFIX)]
        if id_ and "/" not in id_:
            data = {"id": id_, "templateTest": True, "data": f"Data for ID: {id_}"}
            return {"uri": uri, "mimeType": "application/json", "text": json.dumps(data)}
    return None


# ------------------------------------------------------------------------------ prompts

PROMPTS: list[Json] = [
    {
        "name": "test_simple_prompt",
        "title": "Simple prompt",
        "description": "A prompt without arguments",
    },
    {
        "name": "test_prompt_with_arguments",
        "title": "Prompt with arguments",
        "description": "A prompt with two required arguments",
        "arguments": [
            {"name": "arg1", "description": "First test argument", "required": True},
            {"name": "arg2", "description": "Second test argument", "required": True},
        ],
    },
    {
        "name": "test_prompt_with_embedded_resource",
        "title": "Prompt with an embedded resource",
        "description": "Embeds the resource named by resourceUri",
        "arguments": [
            {"name": "resourceUri", "description": "URI of the resource to embed", "required": True}
        ],
    },
    {
        "name": "test_prompt_with_image",
        "title": "Prompt with an image",
        "description": "A prompt carrying a PNG image",
    },
    {
        "name": "test_input_required_result_prompt",
        "title": "Prompt that needs input",
        "description": "Asks the user for context (key user_context) before it can be built",
    },
]
COMPLETIONS = ["paris", "park", "party", "test", "testing"]


def user(content: Json) -> Json:
    return {"role": "user", "content": content}


async def get_prompt(ctx: Ctx, params: types.GetPromptRequestParams) -> Json:
    args = params.arguments or {}

    def required(name: str) -> str:
        if name not in args:
            raise MCPError(types.INVALID_PARAMS, f"Missing required argument: {name}")
        return args[name]

    if params.name == "test_simple_prompt":
        said = "This is a simple prompt for testing."
        return {"messages": [user({"type": "text", "text": said})]}
    if params.name == "test_prompt_with_arguments":
        arg1, arg2 = required("arg1"), required("arg2")
        said = f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
        return {"messages": [user({"type": "text", "text": said})]}
    if params.name == "test_prompt_with_embedded_resource":
        resource = {
            "uri": required("resourceUri"),
            "mimeType": "text/plain",
            "text": "Embedded resource content for testing.",
        }
        return {
            "messages": [
                user({"type": "resource", "resource": resource}),
                user({"type": "text", "text": "Please process the embedded resource above."}),
            ]
        }
    if params.name == "test_prompt_with_image":
        return {
            "messages": [
                user({"type": "image", "data": PNG, "mimeType": "image/png"}),
                user({"type": "text", "text": "Please analyze the image above."}),
            ]
        }
    if params.name == "test_input_required_result_prompt":
        question = "What context should the prompt use?"
        context = elicit(question, {"context": {"type": "string"}}, ["context"])
        outcome = await gather(ctx, params, {"user_context": context})
        if asked(outcome):
            return outcome
        given = (outcome["user_context"].get("content") or {}).get("context")
        said = f"Answer with this context in mind: {given}"
        return {"messages": [user({"type": "text", "text": said})]}
    if params.name == DYNAMIC_PROMPT["name"] and dynamic["prompt"]:
        return {"messages": [user({"type": "text", "text": "dynamic"})]}
    raise MCPError(types.INVALID_PARAMS, f"Unknown prompt: {params.name}")


# ----------------------------------------------------------------------------- handlers


async def list_tools(ctx: Ctx, params: types.PaginatedRequestParams | None) -> Json:
    tools = list(TOOLS.values())
    if dynamic["tool"]:
        tools.append({**DYNAMIC_TOOL, "inputSchema": NO_ARGS})
    return {"tools": tools}


async def call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
    if params.name == DYNAMIC_TOOL["name"] and dynamic["tool"]:
        return text("dynamic")
    handler = TOOL_HANDLERS.get(params.name)
    if handler is None:
        raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
    return await handler(ctx, params, params.arguments or {})


async def list_resources(ctx: Ctx, params: types.PaginatedRequestParams | None) -> Json:
    return {"resources": RESOURCES}


async def list_resource_templates(ctx: Ctx, params: types.PaginatedRequestParams | None) -> Json:
    return {"resourceTemplates": TEMPLATES}


async def read_resource(ctx: Ctx, params: types.ReadResourceRequestParams) -> Json:
    contents = read(str(params.uri))
    if contents is None:
        # SEP-2164: an unknown resource is -32602 with the URI in `data`.
        raise MCPError(types.INVALID_PARAMS, "Resource not found", {"uri": str(params.uri)})
    return {"contents": [contents]}


SUBSCRIPTIONS: set[str] = set()


async def subscribe(ctx: Ctx, params: types.SubscribeRequestParams) -> Json:
    SUBSCRIPTIONS.add(str(params.uri))
    return {}


async def unsubscribe(ctx: Ctx, params: types.UnsubscribeRequestParams) -> Json:
    SUBSCRIPTIONS.discard(str(params.uri))
    return {}


async def list_prompts(ctx: Ctx, params: types.PaginatedRequestParams | None) -> Json:
    prompts = PROMPTS + ([DYNAMIC_PROMPT] if dynamic["prompt"] else [])
    return {"prompts": prompts}


async def complete(ctx: Ctx, params: types.CompleteRequestParams) -> Json:
    ref: Mapping[str, Any] = params.ref.model_dump(by_alias=True)
    values: list[str] = []
    if ref.get("type") == "ref/prompt" and ref.get("name") == "test_prompt_with_arguments":
        if params.argument.name == "arg1":
            values = [c for c in COMPLETIONS if c.startswith(params.argument.value)]
    return {"completion": {"values": values, "total": len(values), "hasMore": False}}


async def set_logging_level(ctx: Ctx, params: types.SetLevelRequestParams) -> Json:
    # Initialize era only (2026-07-28 removed logging/setLevel; the SDK answers -32601 there).
    return {}


def wire(handler: Any) -> Any:
    """`handler` with its dict result marked `resultType: "complete"` unless it says otherwise:
    required at 2026-07-28 (the SDK validates results against the request's protocol version,
    and drops the field on an initialize-era connection)."""

    async def handle(ctx: Ctx, params: Any) -> Json:
        result = await handler(ctx, params)
        return result if "resultType" in result else {**result, "resultType": "complete"}

    return handle


server: Server[Any] = Server(
    NAME,
    version="1.0.0",
    # SEP-2549: the lists change (test_trigger_*_change), the resources never do.
    cache_hints={
        "tools/list": CacheHint(ttl_ms=0, scope="public"),
        "prompts/list": CacheHint(ttl_ms=0, scope="public"),
        "resources/list": CacheHint(ttl_ms=60_000, scope="public"),
        "resources/templates/list": CacheHint(ttl_ms=60_000, scope="public"),
        "resources/read": CacheHint(ttl_ms=60_000, scope="public"),
    },
    on_list_tools=wire(list_tools),
    on_call_tool=wire(call_tool),
    on_list_resources=wire(list_resources),
    on_list_resource_templates=wire(list_resource_templates),
    on_read_resource=wire(read_resource),
    on_subscribe_resource=wire(subscribe),
    on_unsubscribe_resource=wire(unsubscribe),
    on_subscriptions_listen=ListenHandler(BUS),
    on_list_prompts=wire(list_prompts),
    on_get_prompt=wire(get_prompt),
    on_completion=wire(complete),
    on_set_logging_level=wire(set_logging_level),
)
# What MCPServer installs by default: requestState sealed under a key of this process.
server.middleware.append(
    RequestStateBoundary(RequestStateSecurity.ephemeral(), default_audience=NAME)
)


async def main() -> None:
    async with stdio_server() as (read_stream, write_stream):
        options = server.create_initialization_options()
        # Initialize era: list changes are notified on the connection.
        options.capabilities.tools = types.ToolsCapability(list_changed=True)
        options.capabilities.prompts = types.PromptsCapability(list_changed=True)
        print(f"{NAME}: ready on stdio", file=sys.stderr, flush=True)
        await server.run(read_stream, write_stream, options)


if __name__ == "__main__":
    anyio.run(main)
