"""Drives mcp-lambda with the official Python MCP SDK (mcp 2.x `Client`).

usage: py_client.py URL MODE TOOL ARGS_JSON
Prints one JSON line: the negotiated protocol version, the tool names, and the tool result.
Exits non-zero (with the exception on stderr) on any failure.
"""
import asyncio
import json
import sys

from mcp import Client


async def main(url: str, mode: str, tool: str, args: dict) -> None:
    async with Client(url, mode=mode) as client:
        tools = await client.list_tools()
        result = await client.call_tool(tool, args)
        print(json.dumps({
            "protocolVersion": client.protocol_version,
            "serverName": client.server_info.name if client.server_info else None,
            "tools": sorted(t.name for t in tools.tools),
            "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
        }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])))
