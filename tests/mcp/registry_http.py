"""An agent on `promptgate serve`'s registry over MCP Streamable HTTP, driven
by the official MCP Python SDK (PyPI `mcp`).

Usage: registry_http.py URL [loop|floor]

The API keys come from the environment (never the command line):
PROMPTGATE_TEST_KEYS is a JSON object with `read`, `publish` and `admin`
keys that reach `octo/example` and `octo/empty`, and `wrong`, a key the
server never made.

`loop` reads what `promptgate publish` put in `octo/example` (support-bot v1,
and v2 whose gate failed), promotes under the policy with each key, and
asks about `octo/secret` (published, out of the keys' reach) and
`octo/empty` (in reach, nothing published). `floor` asks for one promotion
that only the server's promotion floor refuses.

Each step's outcome goes into one JSON transcript printed on stdout; the
Rust test (tests/mcp_http.rs) asserts on it, so this script only drives.
"""

import contextlib
import json
import os
import sys

import anyio
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from transcript import outcome

REPO = "octo/example"


@contextlib.asynccontextmanager
async def connect(url, key, statuses=None):
    client = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    if statuses is not None:
        # Record the HTTP status of every answer (an async httpx hook).
        async def record(response):
            statuses.append(response.status_code)

        client.event_hooks = {"response": [record]}
    async with client:
        async with streamable_http_client(url, http_client=client) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                yield session


async def call(session, tool, **arguments):
    return outcome(await session.call_tool(tool, arguments))


async def listed_tools(session):
    """Each tool's input and output schema, by name."""
    tools = await session.list_tools()
    return {
        tool.name: {"input": tool.input_schema, "output": tool.output_schema}
        for tool in tools.tools
    }


async def loop(url, keys, transcript):
    async with connect(url, keys["read"]) as reader:
        transcript["tools"] = await listed_tools(reader)
        transcript["list"] = await call(reader, "list_prompts", repository=REPO)
        transcript["read_v1"] = await call(
            reader, "read_prompt", repository=REPO, prompt="support-bot", version="v1"
        )
        transcript["read_latest"] = await call(
            reader, "read_prompt", repository=REPO, prompt="support-bot"
        )
        transcript["read_missing_version"] = await call(
            reader, "read_prompt", repository=REPO, prompt="support-bot", version="v9"
        )
        transcript["diff"] = await call(
            reader, "diff_prompt", repository=REPO, prompt="support-bot", **{"from": "v1"}
        )
        transcript["results_v1"] = await call(
            reader, "results", repository=REPO, prompt="support-bot", version="1"
        )
        transcript["results_latest"] = await call(
            reader, "results", repository=REPO, prompt="support-bot"
        )
        transcript["promote_with_read_key"] = await call(
            reader, "promote", repository=REPO, prompt="support-bot", version="v1", to="staging"
        )

        # Reach is checked before scope, as on the /v1 routes.
        transcript["promote_out_of_reach_with_read_key"] = await call(
            reader, "promote", repository="octo/secret", prompt="support-bot", version="v1",
            to="staging",
        )

    # The same questions, with a key whose scope allows every tool, about a
    # repository out of reach that has the prompt, one out of reach that
    # never existed, and one in reach with nothing published.
    asked = {
        "list_prompts": {},
        "read_prompt": {"prompt": "support-bot", "version": "v1"},
        "diff_prompt": {"prompt": "support-bot", "from": "v1"},
        "results": {"prompt": "support-bot"},
        "history": {"prompt": "support-bot"},
        "promote": {"prompt": "support-bot", "version": "v1", "to": "staging"},
        "rollback": {"prompt": "support-bot", "label": "staging"},
    }
    async with connect(url, keys["publish"]) as publisher:
        transcript["reach"] = {
            tool: {
                repo: await call(publisher, tool, repository=repo, **arguments)
                for repo in ["octo/secret", "octo/nowhere", "octo/empty"]
            }
            for tool, arguments in asked.items()
        }

    async with connect(url, keys["publish"]) as publisher:
        steps = [
            ("promote_failed_gate", "promote", {"version": "v2", "to": "staging"}),
            ("promote_skipping_staging", "promote", {"version": "v1", "to": "production"}),
            ("promote_staging", "promote", {"version": "v1", "to": "staging"}),
            ("promote_production", "promote", {"version": "v1", "to": "production"}),
            (
                "force_with_publish_key",
                "promote",
                {"version": "v2", "to": "staging", "force": True, "reason": "hotfix"},
            ),
        ]
        for name, tool, arguments in steps:
            transcript[name] = await call(
                publisher, tool, repository=REPO, prompt="support-bot", **arguments
            )

    async with connect(url, keys["admin"]) as admin:
        transcript["force_without_reason"] = await call(
            admin, "promote", repository=REPO, prompt="support-bot", version="v2", to="staging",
            force=True,
        )
        transcript["force_with_admin_key"] = await call(
            admin, "promote", repository=REPO, prompt="support-bot", version="v2", to="staging",
            force=True, reason="hotfix",
        )

    async with connect(url, keys["publish"]) as publisher:
        transcript["rollback"] = await call(
            publisher, "rollback", repository=REPO, prompt="support-bot", label="staging",
            reason="the hotfix regressed",
        )
        transcript["history"] = await call(
            publisher, "history", repository=REPO, prompt="support-bot"
        )

    # A key the server never made: refused before any session.
    statuses = []
    try:
        async with connect(url, keys["wrong"], statuses):
            transcript["wrong_key"] = {"session": "started"}
    except Exception as error:  # the SDK raises for an HTTP error
        transcript["wrong_key"] = {"error": repr(error)}
    transcript["wrong_key"]["statuses"] = statuses


async def floor(url, keys, transcript):
    async with connect(url, keys["publish"]) as publisher:
        transcript["promote_under_floor"] = await call(
            publisher, "promote", repository=REPO, prompt="classify-ticket", version="v1", to="staging"
        )


async def main(url: str, mode: str) -> None:
    keys = json.loads(os.environ["PROMPTGATE_TEST_KEYS"])
    transcript = {}
    await {"loop": loop, "floor": floor}[mode](url, keys, transcript)
    print(json.dumps(transcript))


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "loop")
