// Drives mcp-lambda with the official TypeScript MCP SDK (StreamableHTTPClientTransport).
//
// usage: node ts_client.mjs URL TOOL ARGS_JSON
// Prints one JSON line: negotiated protocol version, session id, tool names, tool result; then
// ends the session with DELETE. Exits non-zero on any failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, tool, args] = process.argv.slice(2);
const client = new Client({ name: "mcp-lambda-ts-e2e", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url));
try {
  await client.connect(transport);
  const tools = await client.listTools();
  const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
  console.log(JSON.stringify({
    protocolVersion: transport.protocolVersion,
    sessionId: transport.sessionId ?? null,
    serverName: client.getServerVersion()?.name ?? null,
    tools: tools.tools.map((t) => t.name).sort(),
    result,
  }));
  if (transport.sessionId) await transport.terminateSession();
  await client.close();
} catch (e) {
  console.error(e);
  process.exit(1);
}
