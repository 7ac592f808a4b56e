// A stand-in for the system browser in `mcp-lambda connect --oauth` tests (its `--browser`):
// given the authorization URL, it signs in with login.mjs (login and consent pages of
// provider.mjs) and then delivers the redirect to connect's loopback listener, as a browser
// would, recording what it saw.
//
// usage: BROWSER_LOG=FILE [BROWSER_MODE=ok|forged-state-first|deny] node tests/oauth/browser.mjs URL
//   ok                  sign in, deliver the redirect
//   forged-state-first  deliver a copy of the redirect with another state first, then the real one
//   deny                deliver an access_denied error redirect (with the right state), no sign-in
// Appends one JSON line to FILE: {"url", "params": {...}, "code", "deliveries": [HTTP status, ...]}
// or {"url", "error"}, after the last delivery was answered. Exits 0 either way (connect does not wait for its browser).

import { appendFileSync } from 'node:fs';
import { login } from './login.mjs';

const url = process.argv[process.argv.length - 1];
const mode = process.env.BROWSER_MODE ?? 'ok';
const entry = { url, mode, params: Object.fromEntries(new URL(url).searchParams), deliveries: [] };
const deliver = async (target) => {
  const res = await fetch(target, { redirect: 'manual' });
  await res.text();
  entry.deliveries.push(res.status);
};
try {
  if (mode === 'deny') {
    const back = new URL(entry.params.redirect_uri);
    back.searchParams.set('error', 'access_denied');
    back.searchParams.set('error_description', 'the user said no');
    back.searchParams.set('state', entry.params.state);
    await deliver(back.href);
  } else {
    const { redirect, code } = await login(url);
    entry.code = code;
    if (mode === 'forged-state-first') {
      const forged = new URL(redirect);
      forged.searchParams.set('state', 'forged');
      await deliver(forged.href);
    }
    await deliver(redirect);
  }
} catch (e) {
  entry.error = e.message;
}
if (process.env.BROWSER_LOG) appendFileSync(process.env.BROWSER_LOG, `${JSON.stringify(entry)}\n`);
