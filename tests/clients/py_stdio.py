"""Drives a stdio MCP server (e.g. `mcp-lambda connect TARGET`) with the official Python MCP SDK
(mcp 2.x): its stdio transport spawns the command, and its `Client` session runs over it.

usage: py_stdio.py MODE TOOL ARGS_JSON -- CMD [ARG...]
MODE is as for py_client.py: `auto` (server/discover, falling back to initialize), `legacy`
(initialize handshake) or a modern protocol version (`2026-07-28`: adopted without a probe).
CMD runs with this process's environment; its stderr is ours. Lists the tools (every page), calls
TOOL with a progress callback (log messages opted in at debug), closes the session (stdin closed,
then the SDK's bounded wait and kill), and prints one JSON line: the negotiated protocol version,
the server's name, the tool names, the tool result, the progress values and the number of log
messages received. Exits non-zero (with the exception on stderr) on any failure, on a line of the
child's stdout that is not a JSON-RPC message, or after 60 s.
"""
import asyncio
import json
import os
import sys

import anyio
from mcp import Client, types
from mcp.client.session import IncomingMessage
from mcp.client.stdio import StdioServerParameters, stdio_client

TIMEOUT_SECONDS = 60


async def main(mode: str, tool: str, args: dict, command: list[str]) -> None:
    progress: list[float] = []
    logs: list[str] = []
    transport_errors: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(str(params.data))

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, Exception):  # e.g. a stdout line that is not JSON-RPC
            transport_errors.append(repr(message))

    server = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    with anyio.fail_after(TIMEOUT_SECONDS):
        async with Client(
            stdio_client(server, errlog=sys.stderr),
            mode=mode,
            logging_callback=on_log,
            log_level="debug",
            message_handler=on_message,
        ) as client:
            tools: list[str] = []
            cursor: str | None = None
            while True:
                page = await client.list_tools(cursor=cursor)
                tools.extend(t.name for t in page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            result = await client.call_tool(tool, args, progress_callback=on_progress)
            out = {
                "protocolVersion": client.protocol_version,
                "serverName": client.server_info.name if client.server_info else None,
                "tools": sorted(tools),
                "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
                "progress": progress,
                "logs": len(logs),
            }
    if transport_errors:
        raise RuntimeError(f"the server's stdout carried non-JSON-RPC lines: {transport_errors}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        sys.exit("usage: py_stdio.py MODE TOOL ARGS_JSON -- CMD [ARG...]")
    asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[5:]))
