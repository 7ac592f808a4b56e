// A real OAuth 2.1 / OIDC authorization server (oidc-provider v9) for mcp-lambda's OAuth tests,
// plus a small "mint" side server that forges tokens for refusal tests.
//
// usage: PORT=0 RESOURCES=http://127.0.0.1:41234/mcp,http://127.0.0.1:9/other \
//        SCOPES="mcp:tools files:write" [ACCESS_TTL=600] [MINT_PORT=0] [LOG_REQUESTS=1] \
//        [EXIT_ON_STDIN_EOF=1] node tests/oauth/provider.mjs
//
// Prints exactly one line to stdout once both servers listen, then runs until killed:
//   {"issuer":"http://127.0.0.1:PORT","mint":"http://127.0.0.1:PORT2"}
// Everything else (oidc-provider notices, errors) goes to stderr.
//
// Authorization server (issuer http://127.0.0.1:PORT, no trailing slash):
//   discovery at /.well-known/openid-configuration AND /.well-known/oauth-authorization-server,
//   jwks /jwks, authorization /auth, token /token, dynamic registration /reg (open), devInteractions
//   login/consent pages under /interaction/<uid> (drive them with login.mjs; any login/password).
//   Access tokens are RS256 JWTs (typ at+jwt, kid = the provider key) with aud = the resource,
//   iss = issuer, sub = user (client id for client_credentials), scope, client_id, jti, iat, exp.
//   Requests without a `resource` get the first of RESOURCES. PKCE (S256) is required for every
//   code flow. Static confidential client: tester / tester-secret (client_secret_basic),
//   client_credentials only.
// Mint server (http://127.0.0.1:PORT2):
//   POST /mint {"claims":{...},"header":{...},"mode":"sign"|"none"|"hs256-public"|"bad-signature"|"foreign-key"}
//        -> compact JWT as text/plain; claims are used verbatim (no iat/exp/iss defaults); header
//        members override the mode's default header ({alg,kid,typ:'at+jwt'}), null removes one.
//   GET  /stats -> {"jwks_requests":N,"discovery_requests":M} (both discovery paths; counted even while stopped)
//   POST /stop-keys, POST /start-keys -> while stopped the jwks and discovery paths answer 503.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// oidc-provider prints its "you SHOULD change ..." notices with console.info (stdout); keep stdout
// for the single JSON line.
console.info = (...a) => console.error(...a);
console.log = (...a) => console.error(...a);

const here = path.dirname(fileURLToPath(import.meta.url));
const oidcEntry = path.join(here, '..', 'clients', 'node_modules', 'oidc-provider', 'lib', 'index.js');
const { default: Provider, errors } = await import(pathToFileURL(oidcEntry).href);

const RESOURCES = (process.env.RESOURCES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const SCOPES = (process.env.SCOPES ?? '').split(/\s+/).filter(Boolean);
const ACCESS_TTL = Number(process.env.ACCESS_TTL ?? 600);
if (!RESOURCES.length) {
  console.error('provider.mjs: RESOURCES must list at least one resource URI');
  process.exit(2);
}

// --- signing key -------------------------------------------------------------------------------
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = `test-${crypto.randomBytes(6).toString('hex')}`;
const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
const publicPem = publicKey.export({ type: 'spki', format: 'pem' });

// --- helpers -------------------------------------------------------------------------------------
const listen = (server, port) => new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', () => resolve(server.address().port));
});
const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const rs256 = (input, key) => crypto.sign('sha256', Buffer.from(input), key).toString('base64url');

function mint({ claims = {}, header: overrides = {}, mode = 'sign' } = {}) {
  // header overrides are merged over each mode's defaults; a null value removes that member
  const hdr = (defaults) => Object.fromEntries(
    Object.entries({ ...defaults, ...overrides }).filter(([, v]) => v !== null),
  );
  switch (mode) {
    case 'sign':
    case 'bad-signature': {
      const input = `${b64u(hdr({ alg: 'RS256', kid: KID, typ: 'at+jwt' }))}.${b64u(claims)}`;
      if (mode === 'sign') return `${input}.${rs256(input, privateKey)}`;
      // a genuine signature, but over a different payload: same length, same key, never valid
      return `${input}.${rs256(`${input}x`, privateKey)}`;
    }
    case 'none':
      return `${b64u(hdr({ alg: 'none', typ: 'at+jwt' }))}.${b64u(claims)}.`;
    case 'hs256-public': {
      // algorithm confusion: HMAC keyed with the provider's published public key (SPKI PEM text)
      const input = `${b64u(hdr({ alg: 'HS256', kid: KID, typ: 'at+jwt' }))}.${b64u(claims)}`;
      return `${input}.${crypto.createHmac('sha256', publicPem).update(input).digest('base64url')}`;
    }
    case 'foreign-key': {
      const foreign = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const input = `${b64u(hdr({ alg: 'RS256', kid: 'unknown-kid', typ: 'at+jwt' }))}.${b64u(claims)}`;
      return `${input}.${rs256(input, foreign)}`;
    }
    default:
      throw new Error(`unknown mint mode ${mode}`);
  }
}

// --- authorization server ------------------------------------------------------------------------
// Listen first (PORT may be 0), then build the provider for the now-known issuer.
let handler = (_req, res) => { res.statusCode = 503; res.end(); };
const asServer = http.createServer((req, res) => handler(req, res));
const asPort = await listen(asServer, Number(process.env.PORT ?? 0));
const issuer = `http://127.0.0.1:${asPort}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'tester',
    client_secret: 'tester-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  }],
  jwks: { keys: [privateJwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  // Resource scopes must also be "static" scopes: registration validates a client's `scope`
  // metadata against this list, and both SDKs register with the scope they are about to request.
  scopes: ['openid', 'offline_access', ...SCOPES],
  pkce: { required: () => true },
  clientBasedCORS: () => true,
  // compact error pages (login.mjs quotes the body when a step fails)
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return { sub }; } };
  },
  ttl: {
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TTL,
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ACCESS_TTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 24 * 3600,
    Interaction: 3600,
    Session: 24 * 3600,
    Grant: 24 * 3600,
  },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? RESOURCES[0],
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (!RESOURCES.includes(resourceIndicator)) throw new errors.InvalidTarget();
        return {
          scope: SCOPES.join(' '),
          audience: resourceIndicator,
          accessTokenTTL: ACCESS_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});

const stats = { jwks_requests: 0, discovery_requests: 0 };
let keysStopped = false;
const DISCOVERY = new Set(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']);
provider.use(async (ctx, next) => {
  if (process.env.LOG_REQUESTS) console.error(`provider: ${ctx.method} ${ctx.path}`);
  const isJwks = ctx.path === '/jwks';
  const isDiscovery = DISCOVERY.has(ctx.path);
  if (isJwks) stats.jwks_requests += 1;
  if (isDiscovery) stats.discovery_requests += 1;
  if ((isJwks || isDiscovery) && keysStopped) {
    ctx.status = 503;
    ctx.body = { error: 'temporarily_unavailable', error_description: 'stopped by /stop-keys' };
    return;
  }
  await next();
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'registration_create.error',
  'discovery.error', 'jwks.error', 'userinfo.error', 'end_session.error',
  'pushed_authorization_request.error']) {
  provider.on(event, (...args) => {
    const err = args.find((a) => a instanceof Error);
    console.error(`provider ${event}: ${err?.name ?? ''} ${err?.message ?? ''} ${err?.error_description ?? ''}`);
  });
}
handler = provider.callback();

// --- mint server ---------------------------------------------------------------------------------
const mintServer = http.createServer(async (req, res) => {
  const send = (status, body, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  try {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'GET' && url.pathname === '/stats') return send(200, stats);
    if (req.method === 'POST' && url.pathname === '/stop-keys') { keysStopped = true; return send(200, { stopped: true }); }
    if (req.method === 'POST' && url.pathname === '/start-keys') { keysStopped = false; return send(200, { stopped: false }); }
    if (req.method === 'POST' && url.pathname === '/mint') {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      return send(200, mint(raw ? JSON.parse(raw) : {}), 'text/plain');
    }
    return send(404, { error: 'not found' });
  } catch (e) {
    return send(400, { error: String(e?.message ?? e) });
  }
});
const mintPort = await listen(mintServer, Number(process.env.MINT_PORT ?? 0));

process.stdout.write(`${JSON.stringify({ issuer, mint: `http://127.0.0.1:${mintPort}` })}\n`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
// opt-in: die with a parent that holds our stdin pipe (no orphaned servers when a test panics)
if (process.env.EXIT_ON_STDIN_EOF) process.stdin.on('end', () => process.exit(0)).resume();
