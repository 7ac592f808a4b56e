"""Drives an OAuth-protected mcp-lambda with the official Python MCP SDK's OAuth client
(`mcp.client.auth.OAuthClientProvider` as the httpx2 auth of the streamable HTTP transport):
401 -> protected-resource + authorization-server discovery -> dynamic client registration ->
authorization code + PKCE -> token -> retried request with the bearer token.

The "browser" part (login and consent pages of tests/oauth/provider.mjs, oidc-provider
devInteractions) is automated here with httpx2, mirroring tests/oauth/login.mjs.

usage: py_oauth.py URL TOOL ARGS_JSON [MODE]     (MODE defaults to "legacy", see py_client.py)
Prints one JSON line: {"tools": [...], "result": {...}, "steps": [...], "authorization": {...}},
steps recording the flow ("401", "prm", "as-metadata", "registered", "authorized", "token",
"connected"). Exits non-zero (with the exception on stderr) on any failure.
"""
import asyncio
import json
import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# never listened on: the login automation stops at the redirect and hands back the code
REDIRECT_URI = "http://127.0.0.1:8977/callback"
steps: list[str] = []
authorization: dict = {}


async def login(authorization_url: str, user: str = "alice", password: str = "secret") -> dict:
    """Follow authorization URL -> login form -> consent form -> redirect to the client; return
    {code, state, iss, redirect}. Raises RuntimeError with status/location/body on a surprise."""
    redirect_uri = parse_qs(urlparse(authorization_url).query).get("redirect_uri", [None])[0]
    origin = urlparse(authorization_url).netloc
    jar: dict[str, str] = {}

    def fail(step: str, res: httpx2.Response, url: str) -> RuntimeError:
        body = re.sub(r"\s+", " ", res.text)[:600]
        loc = res.headers.get("location")
        return RuntimeError(f"login: {step}: HTTP {res.status_code} at {url}{f' -> {loc}' if loc else ''}\n{body}")

    async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as http:

        async def request(method: str, url: str, **kw) -> httpx2.Response:
            headers = kw.pop("headers", {})
            if jar:
                headers["cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
            res = await http.request(method, url, headers=headers, **kw)
            for line in res.headers.get_list("set-cookie"):
                pair, *attrs = line.split(";")
                name, _, value = pair.partition("=")
                expired = any(
                    a.strip().lower().startswith(("max-age=0", "max-age=-", "expires=thu, 01 jan 1970")) for a in attrs
                )
                if expired or not value.strip():
                    jar.pop(name.strip(), None)
                else:
                    jar[name.strip()] = value.strip()
            return res

        url = authorization_url
        res = await request("GET", url)
        for _ in range(20):
            if 300 <= res.status_code < 400:
                location = urljoin(url, res.headers["location"])
                if (redirect_uri and location.startswith(redirect_uri)) or urlparse(location).netloc != origin:
                    params = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
                    if "error" in params:
                        raise fail(f"authorization error {params['error']}: {params.get('error_description', '')}", res, url)
                    if "code" not in params:
                        raise fail("redirect without code", res, url)
                    return {"code": params["code"], "state": params.get("state"), "iss": params.get("iss"), "redirect": location}
                url = location
                res = await request("GET", url)
                continue
            if res.status_code != 200:
                raise fail("unexpected response", res, url)
            action = re.search(r'<form[^>]*action="([^"]+)"', res.text)
            prompt = re.search(r'name="prompt" value="([^"]+)"', res.text)
            if not action or not prompt:
                raise fail("page is not a login/consent form", res, url)
            form = {"prompt": prompt.group(1)}
            if form["prompt"] == "login":
                form.update(login=user, password=password)
            elif form["prompt"] != "consent":
                raise fail(f"unknown prompt {form['prompt']}", res, url)
            url = urljoin(url, action.group(1).replace("&amp;", "&"))
            res = await request("POST", url, data=form)
            if not 300 <= res.status_code < 400:
                raise fail(f"submitting the {form['prompt']} form", res, url)
        raise RuntimeError(f"login: no redirect to the client after 20 steps (last: {url})")


class InMemoryStorage:
    """mcp.client.auth.TokenStorage kept in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        steps.append("token")

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info
        authorization["client_id"] = client_info.client_id
        authorization["token_endpoint_auth_method"] = client_info.token_endpoint_auth_method
        steps.append("registered")


async def main(url: str, tool: str, args: dict, mode: str) -> None:
    pending: dict = {}

    async def redirect_handler(authorization_url: str) -> None:
        query = parse_qs(urlparse(authorization_url).query)
        authorization["scope"] = query.get("scope", [None])[0]
        authorization["resource"] = query.get("resource", [None])[0]
        pending.update(await login(authorization_url))
        steps.append("authorized")

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=pending["code"], state=pending["state"], iss=pending["iss"])

    async def record(response: httpx2.Response) -> None:
        path = response.request.url.path
        if response.status_code == 401:
            steps.append("401")
        elif response.is_success and path.startswith("/.well-known/oauth-protected-resource"):
            steps.append("prm")
        elif response.is_success and (
            path.startswith("/.well-known/oauth-authorization-server") or "/.well-known/openid-configuration" in path
        ):
            steps.append("as-metadata")

    auth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="mcp-lambda-py-oauth-e2e",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=InMemoryStorage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    http = httpx2.AsyncClient(
        auth=auth, timeout=httpx2.Timeout(30, read=300), event_hooks={"response": [record]}
    )
    async with http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            steps.append("connected")
            tools = await client.list_tools()
            result = await client.call_tool(tool, args)
            print(json.dumps({
                "tools": sorted(t.name for t in tools.tools),
                "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
                "steps": steps,
                "authorization": authorization,
            }))


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "legacy"))
    except BaseException:
        print(f"steps so far: {json.dumps(steps)}", file=sys.stderr)
        raise
