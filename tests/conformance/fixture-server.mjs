#!/usr/bin/env node
// A stdio MCP server with every tool, resource, template and prompt the server scenarios of the
// official conformance suites (@modelcontextprotocol/conformance 0.1.16 and 0.2.0-alpha.12) ask
// for. The suites speak Streamable HTTP; `mcp-lambda serve` puts this server behind it, so what
// the suites measure is the gateway plus an SDK server that does what the scenarios expect.
//
// Written with the official TypeScript SDK (1.32.2: McpServer + StdioServerTransport), plain ESM,
// no build step. Where McpServer cannot express what a scenario checks, a handler is wrapped (see
// `intercept`): raw JSON Schema in tools/list (SEP-1613, `x-mcp-header`), JSON-RPC errors from a
// tool (-32021) and `data.uri` on an unknown resource (SEP-2164).
//
// Nothing here knows about HTTP, sessions or the 2026-07-28 wire: features only that wire has
// (input-required results, tasks, skills, subscriptions/listen) are the gateway's to provide.
// stdout is the protocol channel: diagnostics go to stderr.

import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { completable } from "@modelcontextprotocol/sdk/server/completable.js";
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

// A 1x1 PNG and a minimal WAV (base64).
const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/** MissingRequiredClientCapabilityError (spec 2026-07-28). */
const MISSING_CLIENT_CAPABILITY = -32021;

const server = new McpServer(
  { name: "mcp-lambda-conformance-fixture", version: "1.0.0" },
  {
    capabilities: {
      tools: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      prompts: { listChanged: true },
      logging: {},
      completions: {},
    },
  },
);
const lowLevel = server.server;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (t) => ({ content: [{ type: "text", text: t }] });

/** The client's capabilities for this request: the 2026-07-28 per-request `_meta` if a gateway
 * forwarded it, else what the client declared at `initialize`. */
function clientCapabilities(extra) {
  return (
    extra?._meta?.["io.modelcontextprotocol/clientCapabilities"] ??
    lowLevel.getClientCapabilities() ??
    {}
  );
}

/** A `notifications/message` tied to the request, unless `logging/setLevel` filtered it out. */
async function log(extra, level, data) {
  if (!lowLevel.isMessageIgnored(level, extra.sessionId)) {
    await extra.sendNotification({
      method: "notifications/message",
      params: { level, logger: "conformance-fixture", data },
    });
  }
}

/** Sends `elicitation/create` (form mode) and reports the answer as text. */
async function elicit(extra, message, requestedSchema, prefix) {
  try {
    const r = await extra.sendRequest(
      { method: "elicitation/create", params: { mode: "form", message, requestedSchema } },
      ElicitResultSchema,
    );
    return text(`${prefix}: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
  } catch (e) {
    return { ...text(`elicitation failed: ${e.message}`), isError: true };
  }
}

/** Sends `sampling/createMessage` and returns the model's text. */
async function sample(extra, prompt) {
  const r = await extra.sendRequest(
    {
      method: "sampling/createMessage",
      params: {
        messages: [{ role: "user", content: { type: "text", text: prompt } }],
        maxTokens: 100,
      },
    },
    CreateMessageResultSchema,
  );
  return r.content?.type === "text" ? r.content.text : JSON.stringify(r.content);
}

// ------------------------------------------------------------------------------------ tools

server.registerTool(
  "test_simple_text",
  { description: "Returns one text content item" },
  async () => text("This is a simple text response for testing."),
);

server.registerTool("test_image_content", { description: "Returns a PNG image" }, async () => ({
  content: [{ type: "image", data: PNG, mimeType: "image/png" }],
}));

server.registerTool(
  "test_audio_content",
  { description: "Returns a WAV audio clip" },
  async () => ({
    content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }],
  }),
);

server.registerTool(
  "test_embedded_resource",
  { description: "Returns an embedded text resource" },
  async () => ({
    content: [
      {
        type: "resource",
        resource: {
          uri: "test://embedded-resource",
          mimeType: "text/plain",
          text: "This is an embedded resource content.",
        },
      },
    ],
  }),
);

server.registerTool(
  "test_multiple_content_types",
  { description: "Returns text, an image and an embedded resource" },
  async () => ({
    content: [
      { type: "text", text: "Multiple content types test:" },
      { type: "image", data: PNG, mimeType: "image/png" },
      {
        type: "resource",
        resource: {
          uri: "test://mixed-content-resource",
          mimeType: "application/json",
          text: JSON.stringify({ test: "data", value: 123 }),
        },
      },
    ],
  }),
);

server.registerTool(
  "test_tool_with_logging",
  { description: "Sends three info log messages while it runs", inputSchema: {} },
  async (_args, extra) => {
    await log(extra, "info", "Tool execution started");
    await sleep(50);
    await log(extra, "info", "Tool processing data");
    await sleep(50);
    await log(extra, "info", "Tool execution completed");
    return text("Tool with logging executed successfully");
  },
);

server.registerTool(
  "test_logging_tool",
  { description: "Logs one message at each of debug, info and warning", inputSchema: {} },
  async (_args, extra) => {
    for (const level of ["debug", "info", "warning"]) await log(extra, level, `${level} message`);
    return text("logged");
  },
);

server.registerTool(
  "test_tool_with_progress",
  {
    description: "Reports progress 0, 50 and 100 of 100 for the request progressToken",
    inputSchema: {},
  },
  async (_args, extra) => {
    const token = extra._meta?.progressToken;
    for (const progress of [0, 50, 100]) {
      if (token !== undefined) {
        await extra.sendNotification({
          method: "notifications/progress",
          params: {
            progressToken: token,
            progress,
            total: 100,
            message: `step ${progress} of 100`,
          },
        });
      }
      if (progress < 100) await sleep(50);
    }
    return text(`progress reported for token ${JSON.stringify(token ?? null)}`);
  },
);

server.registerTool(
  "test_error_handling",
  { description: "Always fails with isError: true" },
  async () => {
    throw new Error("This tool intentionally returns an error for testing");
  },
);

server.registerTool(
  "test_reconnection",
  {
    description: "Takes a moment (SEP-1699 polling: the transport may close the stream meanwhile)",
    inputSchema: {},
  },
  async () => {
    await sleep(100);
    return text("Reconnection test completed successfully.");
  },
);

server.registerTool(
  "test_sampling",
  {
    description: "Asks the client for an LLM completion (sampling/createMessage)",
    inputSchema: { prompt: z.string().describe("The prompt to send to the LLM") },
  },
  async ({ prompt }, extra) => {
    try {
      return text(`LLM response: ${await sample(extra, prompt)}`);
    } catch (e) {
      return { ...text(`sampling failed: ${e.message}`), isError: true };
    }
  },
);

server.registerTool(
  "test_elicitation",
  {
    description: "Asks the user for input (elicitation/create)",
    inputSchema: { message: z.string().describe("The message to show the user") },
  },
  async ({ message }, extra) =>
    elicit(
      extra,
      message,
      {
        type: "object",
        properties: {
          username: { type: "string", description: "User's response" },
          email: { type: "string", description: "User's email address" },
        },
        required: ["username", "email"],
      },
      "User response",
    ),
);

server.registerTool(
  "test_streaming_elicitation",
  { description: "Asks the user for input while the call is in flight", inputSchema: {} },
  async (_args, extra) =>
    elicit(
      extra,
      "Please confirm",
      { type: "object", properties: { confirmed: { type: "boolean" } }, required: [] },
      "Elicitation completed",
    ),
);

server.registerTool(
  "test_elicitation_sep1034_defaults",
  { description: "Elicitation whose fields carry default values (SEP-1034)", inputSchema: {} },
  async (_args, extra) =>
    elicit(
      extra,
      "Please review and update the form fields with defaults",
      {
        type: "object",
        properties: {
          name: { type: "string", description: "User name", default: "John Doe" },
          age: { type: "integer", description: "User age", default: 30 },
          score: { type: "number", description: "User score", default: 95.5 },
          status: {
            type: "string",
            description: "User status",
            enum: ["active", "inactive", "pending"],
            default: "active",
          },
          verified: { type: "boolean", description: "Verification status", default: true },
        },
        required: [],
      },
      "Elicitation completed",
    ),
);

server.registerTool(
  "test_elicitation_sep1330_enums",
  { description: "Elicitation with the five enum schema shapes (SEP-1330)", inputSchema: {} },
  async (_args, extra) => {
    const titled = (prefix, word) =>
      ["First", "Second", "Third"].map((t, i) => ({
        const: `${prefix}${i + 1}`,
        title: `${t} ${word}`,
      }));
    return elicit(
      extra,
      "Please select options from the enum fields",
      {
        type: "object",
        properties: {
          untitledSingle: {
            type: "string",
            description: "Select one option",
            enum: ["option1", "option2", "option3"],
          },
          titledSingle: {
            type: "string",
            description: "Select one option with titles",
            oneOf: titled("value", "Option"),
          },
          legacyEnum: {
            type: "string",
            description: "Select one option (legacy)",
            enum: ["opt1", "opt2", "opt3"],
            enumNames: ["Option One", "Option Two", "Option Three"],
          },
          untitledMulti: {
            type: "array",
            description: "Select multiple options",
            minItems: 1,
            maxItems: 3,
            items: { type: "string", enum: ["option1", "option2", "option3"] },
          },
          titledMulti: {
            type: "array",
            description: "Select multiple options with titles",
            minItems: 1,
            maxItems: 3,
            items: { anyOf: titled("value", "Choice") },
          },
        },
        required: [],
      },
      "Elicitation completed",
    );
  },
);

server.registerTool(
  "test_missing_capability",
  {
    description:
      "Needs the client sampling capability (without it: JSON-RPC error -32021, see below)",
    inputSchema: {},
  },
  async (_args, extra) => {
    try {
      return text(`LLM response: ${await sample(extra, "Say hello")}`);
    } catch (e) {
      return { ...text(`sampling failed: ${e.message}`), isError: true };
    }
  },
);

// Hooks that change the tool and prompt lists (each call adds or removes one entry, and the SDK
// sends notifications/{tools,prompts}/list_changed).
let dynamicTool;
server.registerTool(
  "test_trigger_tool_change",
  { description: "Adds or removes the tool test_dynamic_tool", inputSchema: {} },
  async () => {
    if (dynamicTool) {
      dynamicTool.remove();
      dynamicTool = undefined;
      return text("removed test_dynamic_tool");
    }
    dynamicTool = server.registerTool(
      "test_dynamic_tool",
      { description: "Appears and disappears with test_trigger_tool_change" },
      async () => text("dynamic"),
    );
    return text("added test_dynamic_tool");
  },
);

let dynamicPrompt;
server.registerTool(
  "test_trigger_prompt_change",
  { description: "Adds or removes the prompt test_dynamic_prompt", inputSchema: {} },
  async () => {
    if (dynamicPrompt) {
      dynamicPrompt.remove();
      dynamicPrompt = undefined;
      return text("removed test_dynamic_prompt");
    }
    dynamicPrompt = server.registerPrompt(
      "test_dynamic_prompt",
      { description: "Appears and disappears with test_trigger_prompt_change" },
      async () => ({ messages: [{ role: "user", content: { type: "text", text: "dynamic" } }] }),
    );
    return text("added test_dynamic_prompt");
  },
);

// Tools whose advertised inputSchema is raw JSON Schema (patched into tools/list below); the Zod
// shapes only validate the arguments of tools/call.
const RAW_INPUT_SCHEMAS = {
  // SEP-1613 ($schema, $defs, additionalProperties) and SEP-2106 ($anchor, allOf/anyOf,
  // if/then/else) keywords must reach the client unchanged.
  json_schema_2020_12_tool: {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    $defs: {
      address: {
        $anchor: "addressDef",
        type: "object",
        properties: { street: { type: "string" }, city: { type: "string" } },
      },
    },
    properties: {
      name: { type: "string" },
      address: { $ref: "#/$defs/address" },
      contactMethod: { type: "string", enum: ["phone", "email"] },
      phone: { type: "string" },
      email: { type: "string" },
    },
    allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
    if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
    then: { required: ["phone"] },
    else: { required: ["email"] },
    additionalProperties: false,
  },
  // SEP-2243: parameters mirrored into `Mcp-Param-<name>` request headers.
  test_custom_headers: {
    type: "object",
    properties: {
      region: { type: "string", description: "Sent as Mcp-Param-Region", "x-mcp-header": "Region" },
      priority: {
        type: "integer",
        description: "Sent as Mcp-Param-Priority",
        "x-mcp-header": "Priority",
      },
      note: { type: "string", description: "Body only" },
    },
    required: ["region"],
  },
};

server.registerTool(
  "json_schema_2020_12_tool",
  {
    description: "Advertises a JSON Schema 2020-12 inputSchema (SEP-1613, SEP-2106 keywords)",
    // Validates the properties only: the composition and conditional rules are advertised, not
    // enforced.
    inputSchema: {
      name: z.string().optional(),
      address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional(),
      contactMethod: z.enum(["phone", "email"]).optional(),
      phone: z.string().optional(),
      email: z.string().optional(),
    },
  },
  async (args) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`),
);

server.registerTool(
  "test_custom_headers",
  {
    description: "Echoes parameters that clients also send as Mcp-Param-* headers (SEP-2243)",
    inputSchema: {
      region: z.string(),
      priority: z.number().int().optional(),
      note: z.string().optional(),
    },
  },
  async (args) => text(`custom headers tool called with: ${JSON.stringify(args)}`),
);

// ---------------------------------------------------------------------------------- resources

server.registerResource(
  "static-text",
  "test://static-text",
  { title: "Static text", description: "A fixed text resource", mimeType: "text/plain" },
  async (uri) => ({
    contents: [
      {
        uri: uri.href,
        mimeType: "text/plain",
        text: "This is the content of the static text resource.",
      },
    ],
  }),
);

server.registerResource(
  "static-binary",
  "test://static-binary",
  { title: "Static binary", description: "A fixed PNG image", mimeType: "image/png" },
  async (uri) => ({ contents: [{ uri: uri.href, mimeType: "image/png", blob: PNG }] }),
);

server.registerResource(
  "template",
  new ResourceTemplate("test://template/{id}/data", { list: undefined }),
  { title: "Template", description: "JSON data for any id", mimeType: "application/json" },
  async (uri, { id }) => ({
    contents: [
      {
        uri: uri.href,
        mimeType: "application/json",
        text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
      },
    ],
  }),
);

server.registerResource(
  "watched-resource",
  "test://watched-resource",
  {
    title: "Watched resource",
    description: "A resource clients may subscribe to",
    mimeType: "text/plain",
  },
  async (uri) => ({
    contents: [{ uri: uri.href, mimeType: "text/plain", text: "Watched resource content" }],
  }),
);

const subscriptions = new Set();
lowLevel.setRequestHandler(SubscribeRequestSchema, async ({ params }) => {
  subscriptions.add(params.uri);
  return {};
});
lowLevel.setRequestHandler(UnsubscribeRequestSchema, async ({ params }) => {
  subscriptions.delete(params.uri);
  return {};
});

// ------------------------------------------------------------------------------------ prompts

server.registerPrompt(
  "test_simple_prompt",
  { title: "Simple prompt", description: "A prompt without arguments" },
  async () => ({
    messages: [
      { role: "user", content: { type: "text", text: "This is a simple prompt for testing." } },
    ],
  }),
);

const COMPLETIONS = ["paris", "park", "party", "test", "testing"];
server.registerPrompt(
  "test_prompt_with_arguments",
  {
    title: "Prompt with arguments",
    description: "A prompt with two required arguments",
    argsSchema: {
      arg1: completable(z.string().describe("First test argument"), (value) =>
        COMPLETIONS.filter((c) => c.startsWith(value ?? "")),
      ),
      arg2: z.string().describe("Second test argument"),
    },
  },
  async ({ arg1, arg2 }) => ({
    messages: [
      {
        role: "user",
        content: { type: "text", text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` },
      },
    ],
  }),
);

server.registerPrompt(
  "test_prompt_with_embedded_resource",
  {
    title: "Prompt with an embedded resource",
    description: "Embeds the resource named by resourceUri",
    argsSchema: { resourceUri: z.string().describe("URI of the resource to embed") },
  },
  async ({ resourceUri }) => ({
    messages: [
      {
        role: "user",
        content: {
          type: "resource",
          resource: {
            uri: resourceUri,
            mimeType: "text/plain",
            text: "Embedded resource content for testing.",
          },
        },
      },
      {
        role: "user",
        content: { type: "text", text: "Please process the embedded resource above." },
      },
    ],
  }),
);

server.registerPrompt(
  "test_prompt_with_image",
  { title: "Prompt with an image", description: "A prompt carrying a PNG image" },
  async () => ({
    messages: [
      { role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } },
      { role: "user", content: { type: "text", text: "Please analyze the image above." } },
    ],
  }),
);

// --------------------------------------------------------------------- handler interceptions

/** Replaces the handler McpServer installed for `method` with `wrap(original)`. Uses the SDK's
 * handler table (internal to 1.x, pinned at 1.32.2 in package.json). */
function intercept(method, wrap) {
  const original = lowLevel._requestHandlers.get(method);
  if (!original) throw new Error(`no handler for ${method}`);
  lowLevel._requestHandlers.set(method, wrap(original));
}

intercept("tools/list", (original) => async (request, extra) => {
  const result = await original(request, extra);
  for (const tool of result.tools) {
    if (RAW_INPUT_SCHEMAS[tool.name]) tool.inputSchema = RAW_INPUT_SCHEMAS[tool.name];
  }
  return result;
});

// McpServer reports every error a tool throws as an isError result, so the capability check of
// test_missing_capability runs before it: a JSON-RPC MissingRequiredClientCapabilityError.
intercept("tools/call", (original) => async (request, extra) => {
  if (request.params?.name === "test_missing_capability" && !clientCapabilities(extra).sampling) {
    throw new McpError(MISSING_CLIENT_CAPABILITY, "Missing required client capability: sampling", {
      requiredCapabilities: { sampling: {} },
    });
  }
  return original(request, extra);
});

// SEP-2164: an unknown resource is -32602 with the URI in `data`.
intercept("resources/read", (original) => async (request, extra) => {
  try {
    return await original(request, extra);
  } catch (e) {
    if (
      e instanceof McpError &&
      e.code === ErrorCode.InvalidParams &&
      /not found/.test(e.message)
    ) {
      throw new McpError(ErrorCode.InvalidParams, "Resource not found", {
        uri: request.params.uri,
      });
    }
    throw e;
  }
});

await server.connect(new StdioServerTransport());
process.stderr.write("conformance fixture server: ready on stdio\n");
