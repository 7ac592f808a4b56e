// Drives an OAuth-protected mcp-lambda with the official TypeScript MCP SDK's OAuth client:
// 401 -> protected-resource + authorization-server discovery -> dynamic client registration ->
// authorization code + PKCE (the "browser" part automated by ../oauth/login.mjs) -> token ->
// reconnect with the bearer token -> tools/list -> tools/call.
//
// usage: node ts_oauth.mjs URL TOOL ARGS_JSON
// Prints one JSON line: {"tools": [sorted names], "result": <tools/call result>, "steps": [...],
// "authorization": {scope, resource, client_id, token_endpoint_auth_method}} where steps records
// what happened in order ("401", "prm", "as-metadata", "registered", "authorized", "token",
// "connected"). Exits 1 (error on stderr) on any failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { login } from "../oauth/login.mjs";

const [url, tool, args] = process.argv.slice(2);
const steps = [];
const authorization = {};
// the redirect URI is never listened on: login.mjs stops at the redirect and hands back the code
const redirectUrl = "http://127.0.0.1:8976/callback";

// records the HTTP exchanges the SDK makes that matter for the flow
const recordingFetch = async (input, init) => {
  const res = await fetch(input, init);
  const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
  if (res.status === 401) steps.push("401");
  else if (path.startsWith("/.well-known/oauth-protected-resource") && res.ok) steps.push("prm");
  else if ((path.startsWith("/.well-known/oauth-authorization-server")
    || path.includes("/.well-known/openid-configuration")) && res.ok) steps.push("as-metadata");
  return res;
};

class InMemoryOAuthProvider {
  constructor() {
    this._clientInformation = undefined;
    this._tokens = undefined;
    this._codeVerifier = undefined;
    this.authorizationCode = undefined;
  }
  get redirectUrl() { return redirectUrl; }
  get clientMetadata() {
    return {
      client_name: "mcp-lambda-ts-oauth-e2e",
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() { return this._clientInformation; }
  saveClientInformation(info) {
    this._clientInformation = info;
    authorization.client_id = info.client_id;
    authorization.token_endpoint_auth_method = info.token_endpoint_auth_method;
    steps.push("registered");
  }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; steps.push("token"); }
  saveCodeVerifier(v) { this._codeVerifier = v; }
  codeVerifier() {
    if (!this._codeVerifier) throw new Error("no code verifier saved");
    return this._codeVerifier;
  }
  async redirectToAuthorization(authorizationUrl) {
    authorization.scope = authorizationUrl.searchParams.get("scope");
    authorization.resource = authorizationUrl.searchParams.get("resource");
    const { code } = await login(authorizationUrl.href);
    this.authorizationCode = code;
    steps.push("authorized");
  }
}

const provider = new InMemoryOAuthProvider();
const newTransport = () => new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: recordingFetch });
try {
  const first = newTransport();
  try {
    await new Client({ name: "mcp-lambda-ts-oauth-e2e", version: "1.0.0" }).connect(first);
    throw new Error("connected without authorization: the server did not answer 401");
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  if (!provider.authorizationCode) throw new Error("UnauthorizedError but no authorization code was obtained");
  await first.finishAuth(provider.authorizationCode);

  const client = new Client({ name: "mcp-lambda-ts-oauth-e2e", version: "1.0.0" });
  const transport = newTransport();
  await client.connect(transport);
  steps.push("connected");
  const tools = await client.listTools();
  const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
  console.log(JSON.stringify({
    tools: tools.tools.map((t) => t.name).sort(),
    result,
    steps,
    authorization,
  }));
  if (transport.sessionId) await transport.terminateSession();
  await client.close();
} catch (e) {
  console.error(e);
  console.error(`steps so far: ${JSON.stringify(steps)}`);
  process.exit(1);
}
