// Drives a stdio MCP server (e.g. `mcp-lambda connect TARGET`) with the official TypeScript MCP
// SDK: StdioClientTransport spawns the command, the SDK Client talks to it.
//
// usage: node ts_stdio.mjs TOOL ARGS_JSON -- CMD [ARG...]   (cwd tests/clients)
// CMD runs with this process's environment; its stderr is ours ('inherit'). Initializes, lists the
// tools (every page), calls TOOL with an onprogress handler (which also resets the request
// timeout), and prints one JSON line: the negotiated protocol version (from the initialize result,
// as the SDK hands it to the transport), the server's name, the tool names, the tool result, the
// progress values, how many progress notifications the SDK dropped (see PROGRESS_RACE: the last one
// may be missing from `progress`) and the number of log messages received; then closes the client
// (stdin ended, then the SDK's SIGTERM/SIGKILL escalation) and exits 0. Exits non-zero on any
// failure, including any error the session reports (a line of the child's stdout that is not a
// JSON-RPC message, a response to an unknown id, ...) other than that race.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const argv = process.argv.slice(2);
if (argv.length < 4 || argv[2] !== "--") {
  console.error("usage: node ts_stdio.mjs TOOL ARGS_JSON -- CMD [ARG...]");
  process.exit(2);
}
const [tool, args, , command, ...commandArgs] = argv;
const progress = [];
const transportErrors = [];
let logs = 0;
let protocolVersion = null;

const client = new Client({ name: "mcp-lambda-ts-stdio", version: "1.0.0" });
client.setNotificationHandler(LoggingMessageNotificationSchema, () => {
  logs += 1;
});
// The SDK hands a notification to its handler a microtask later, but forgets a request's progress
// token as soon as the response is read: a last progress notification read in the same chunk as
// the result is dropped with this error. That is the SDK's own race, not a protocol fault.
const PROGRESS_RACE = "Received a progress notification for an unknown token";
let droppedProgress = 0;
client.onerror = (e) => {
  if (String(e?.message ?? e).startsWith(PROGRESS_RACE)) {
    droppedProgress += 1;
    console.error(`ts_stdio: ${e.message}`);
  } else {
    transportErrors.push(String(e));
  }
};
const env = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined));
const transport = new StdioClientTransport({ command, args: commandArgs, env, stderr: "inherit" });
// The SDK exposes the negotiated version only to transports that take it (HTTP ones do); the
// stdio transport has no such hook, so this one records it.
transport.setProtocolVersion = (version) => {
  protocolVersion = version;
};
try {
  await client.connect(transport);
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor === undefined ? undefined : { cursor });
    tools.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor);
  const result = await client.callTool(
    { name: tool, arguments: JSON.parse(args) },
    undefined,
    { onprogress: (p) => progress.push(p.progress), resetTimeoutOnProgress: true },
  );
  if (transportErrors.length) {
    throw new Error(`the session reported errors: ${transportErrors.join("; ")}`);
  }
  console.log(JSON.stringify({
    protocolVersion,
    serverName: client.getServerVersion()?.name ?? null,
    tools: tools.sort(),
    result,
    progress,
    droppedProgress,
    logs,
  }));
  await client.close();
  process.exit(0);
} catch (e) {
  console.error(e);
  await client.close().catch(() => {});
  process.exit(1);
}
