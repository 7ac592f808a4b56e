// Automates the browser half of an authorization-code flow against tests/oauth/provider.mjs
// (oidc-provider devInteractions): authorization URL -> login form -> consent form -> redirect.
//
// library: import { login } from './login.mjs';
//          const { code, state, iss, redirect } = await login(authorizationUrl, { user: 'alice' });
// CLI:     node tests/oauth/login.mjs AUTHORIZATION_URL [USER]   -> prints {"code","state","iss","redirect"}
//
// The final redirect to the client's redirect_uri is parsed, never fetched. Any unexpected step
// throws with the status, location and a body snippet.

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const MAX_STEPS = 20;

function makeJar() {
  const cookies = new Map(); // name -> value; one origin only, paths ignored (names are unique enough)
  return {
    store(res) {
      for (const line of res.headers.getSetCookie()) {
        const [pair, ...attrs] = line.split(';');
        const eq = pair.indexOf('=');
        const name = pair.slice(0, eq).trim();
        const value = pair.slice(eq + 1).trim();
        const expired = attrs.some((a) => {
          const [k, v = ''] = a.trim().split('=');
          return (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now())
            || (k.toLowerCase() === 'max-age' && Number(v) <= 0);
        });
        if (expired || value === '') cookies.delete(name); else cookies.set(name, value);
      }
    },
    header() {
      return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    },
  };
}

function fail(step, res, url, body) {
  const location = res?.headers.get('location');
  return new Error(`login: ${step}: ${res ? `HTTP ${res.status}` : ''} at ${url}`
    + `${location ? ` -> ${location}` : ''}${body ? `\n${body.replace(/\s+/g, ' ').slice(0, 600)}` : ''}`);
}

export async function login(authorizationUrl, { user = 'alice', password = 'secret' } = {}) {
  const start = new URL(authorizationUrl);
  const redirectUri = start.searchParams.get('redirect_uri');
  const jar = makeJar();
  const request = async (url, init = {}) => {
    const headers = { ...(init.headers ?? {}) };
    const cookie = jar.header();
    if (cookie) headers.cookie = cookie;
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    jar.store(res);
    return res;
  };

  let url = start.href;
  let res = await request(url);
  for (let step = 0; step < MAX_STEPS; step += 1) {
    if (res.status >= 300 && res.status < 400) {
      const location = new URL(res.headers.get('location'), url).href;
      // done: the provider sends the user agent to the client's redirect_uri
      if ((redirectUri && location.startsWith(redirectUri)) || new URL(location).origin !== start.origin) {
        const back = new URL(location);
        const params = back.searchParams.size ? back.searchParams : new URLSearchParams(back.hash.slice(1));
        if (params.get('error')) {
          throw fail(`authorization error ${params.get('error')}: ${params.get('error_description') ?? ''}`, res, url);
        }
        if (!params.get('code')) throw fail('redirect without code', res, url);
        await res.body?.cancel();
        return { code: params.get('code'), state: params.get('state'), iss: params.get('iss'), redirect: location };
      }
      await res.body?.cancel();
      url = location;
      res = await request(url);
      continue;
    }
    const body = await res.text();
    if (res.status !== 200) throw fail('unexpected response', res, url, body);
    // an interaction page: a form with a hidden "prompt" field (login or consent)
    const action = body.match(/<form[^>]*action="([^"]+)"/)?.[1]?.replace(/&amp;/g, '&');
    const prompt = body.match(/name="prompt" value="([^"]+)"/)?.[1];
    if (!action || !prompt) throw fail('page is not a login/consent form', res, url, body);
    const form = new URLSearchParams({ prompt });
    if (prompt === 'login') {
      form.set('login', user);
      form.set('password', password);
    } else if (prompt !== 'consent') {
      throw fail(`unknown prompt ${prompt}`, res, url, body);
    }
    url = new URL(action, url).href;
    res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    if (!(res.status >= 300 && res.status < 400)) {
      throw fail(`submitting the ${prompt} form`, res, url, await res.text());
    }
  }
  throw new Error(`login: no redirect to the client after ${MAX_STEPS} steps (last: ${url})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  const [authorizationUrl, user] = process.argv.slice(2);
  try {
    console.log(JSON.stringify(await login(authorizationUrl, user ? { user } : {})));
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
