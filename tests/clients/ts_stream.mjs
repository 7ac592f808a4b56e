// Drives mcp-lambda with the official TypeScript MCP SDK through the streaming paths: progress
// and log notifications, and the server's own requests (sampling, elicitation).
//
// usage: node ts_stream.mjs URL TOOL ARGS_JSON
// Calls TOOL with an onprogress handler; answers sampling with "sampled: <prompt>" and
// elicitation with {"username": "alice"}. Prints one JSON line: protocol version, the progress
// values and log messages received, the requests the server made, and the result.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const [url, tool, args] = process.argv.slice(2);
const progress = [];
const logs = [];
const asked = [];
const client = new Client(
  { name: "mcp-lambda-ts-stream", version: "1.0.0" },
  { capabilities: { sampling: {}, elicitation: {} } },
);
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  asked.push("sampling/createMessage");
  const prompt = req.params.messages?.[0]?.content?.text ?? "";
  return {
    role: "assistant",
    content: { type: "text", text: `sampled: ${prompt}` },
    model: "test-model",
    stopReason: "endTurn",
  };
});
client.setRequestHandler(ElicitRequestSchema, async () => {
  asked.push("elicitation/create");
  return { action: "accept", content: { username: "alice" } };
});
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
  logs.push(String(n.params.data));
});
const transport = new StreamableHTTPClientTransport(new URL(url));
try {
  await client.connect(transport);
  const result = await client.callTool(
    { name: tool, arguments: JSON.parse(args) },
    undefined,
    { onprogress: (p) => progress.push(p.progress) },
  );
  console.log(JSON.stringify({
    protocolVersion: transport.protocolVersion,
    progress,
    logs,
    asked,
    result,
  }));
  if (transport.sessionId) await transport.terminateSession();
  await client.close();
} catch (e) {
  console.error(e);
  process.exit(1);
}
