"""Drives mcp-lambda with the official Python MCP SDK (mcp 2.x `Client`) through the streaming
paths: progress and log notifications, and the server's own requests (sampling, elicitation).

usage: py_stream.py URL MODE TOOL ARGS_JSON
Calls TOOL with a progress callback; answers sampling with the text "sampled: <prompt>" and
elicitation with {"username": "alice"}. Prints one JSON line: the negotiated protocol version,
the progress values and log messages received, the requests the server made, and the result.
Exits non-zero (with the exception on stderr) on any failure.
"""
import asyncio
import json
import sys

from mcp import Client, types


async def main(url: str, mode: str, tool: str, args: dict) -> None:
    progress: list[float] = []
    logs: list[str] = []
    asked: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(str(params.data))

    async def on_sampling(context, params: types.CreateMessageRequestParams):
        asked.append("sampling/createMessage")
        prompt = params.messages[0].content.text if params.messages else ""
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"sampled: {prompt}"),
            model="test-model",
            stop_reason="endTurn",
        )

    async def on_elicitation(context, params):
        asked.append("elicitation/create")
        return types.ElicitResult(action="accept", content={"username": "alice"})

    async with Client(
        url,
        mode=mode,
        sampling_callback=on_sampling,
        elicitation_callback=on_elicitation,
        logging_callback=on_log,
        log_level="debug",
    ) as client:
        result = await client.call_tool(tool, args, progress_callback=on_progress)
        print(json.dumps({
            "protocolVersion": client.protocol_version,
            "progress": progress,
            "logs": logs,
            "asked": asked,
            "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
        }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])))
