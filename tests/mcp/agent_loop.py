"""An agent's maintenance loop against `promptgate mcp`, driven by the
official MCP Python SDK (PyPI `mcp`) over stdio.

Usage: agent_loop.py PROMPTGATE_BINARY REPOSITORY [loop|cancel]

`loop` (the default) is the whole loop; `cancel` starts an evaluation of the
prompt `slow` and abandons it after a second.

Each step's outcome goes into one JSON transcript printed on stdout; the
Rust test (tests/mcp_stdio.rs) asserts on it, so this script only drives.
"""

import json
import sys
import time
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from transcript import outcome


async def cancel(session, transcript) -> None:
    started = time.monotonic()
    with anyio.move_on_after(1.0) as scope:
        await session.call_tool("evaluate", {"prompts": ["slow"]})
    transcript["abandoned"] = scope.cancelled_caught
    # The server answers the next call at once: the run is gone.
    transcript["after"] = outcome(await session.call_tool("results", {"prompts": ["slow"]}))
    transcript["seconds"] = time.monotonic() - started
    # The session stays open past the time the scorer would have needed, so
    # only a cancelled run leaves no mark.
    await anyio.sleep(6)


async def main(binary: str, repo: str, mode: str) -> None:
    transcript = {}
    server = StdioServerParameters(command=binary, args=["-C", repo, "mcp"], env={"NO_COLOR": "1"})
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            if mode == "cancel":
                await cancel(session, transcript)
                print(json.dumps(transcript))
                return
            tools = await session.list_tools()
            transcript["tools"] = {
                tool.name: {"input": tool.input_schema, "output": tool.output_schema}
                for tool in tools.tools
            }

            transcript["list"] = outcome(await session.call_tool("list_prompts", {}))

            progress = []

            async def on_progress(done, total, message):
                progress.append({"done": done, "total": total, "message": message})

            transcript["evaluate"] = outcome(
                await session.call_tool("evaluate", {}, progress_callback=on_progress)
            )
            transcript["progress"] = progress
            transcript["results"] = outcome(await session.call_tool("results", {"of": "eval"}))

            resources = await session.list_resources()
            transcript["resources"] = [str(r.uri) for r in resources.resources]
            last = await session.read_resource("promptgate://reports/last-eval")
            transcript["last_eval_resource"] = last.contents[0].text

            # ---- SUGGEST: the lead fills this in when `promptgate suggest` lands ----
            # The agent asks the `suggest` tool for an edit of support-bot and
            # records it, e.g.
            #     transcript["suggest"] = outcome(
            #         await session.call_tool("suggest", {"prompt": "support-bot"})
            #     )
            # Not run yet: the tool does not exist on this branch, and
            # tests/mcp_stdio.rs asserts it is not offered. The fixed edit
            # below stands in for the edit the agent makes.
            # ---- end SUGGEST ----

            # The agent edits a prompt file: the support bot starts promising refunds.
            prompt = Path(repo) / "prompts" / "support-bot.prompt.yml"
            text = prompt.read_text()
            edited = text.replace(
                "      The customer is on the {{ plan }} plan.",
                "      We will refund any customer who asks.\n      The customer is on the {{ plan }} plan.",
            )
            assert edited != text, "the example's support-bot prompt changed; update this test"
            prompt.write_text(edited)

            transcript["diff"] = outcome(
                await session.call_tool("diff_prompt", {"prompt": "support-bot", "from": "main"})
            )
            transcript["check"] = outcome(await session.call_tool("check", {"base": "main"}))
            transcript["check_results"] = outcome(
                await session.call_tool("results", {"of": "check"})
            )

            # A broken prompt file: tool errors, not protocol failures.
            (Path(repo) / "prompts" / "broken.prompt.yml").write_text(
                "name: broken\nmodel: openai/gpt-4o-mini\nmessages:\n  - role: system\n    content: [unclosed\n"
            )
            transcript["validate_broken"] = outcome(await session.call_tool("validate", {}))
            transcript["list_broken"] = outcome(await session.call_tool("list_prompts", {}))
            # Without --allow-writes there is no publish tool to call.
            try:
                refused = outcome(await session.call_tool("publish", {}))
            except Exception as error:  # the SDK raises for a protocol error
                refused = {"protocol_error": str(error)}
            transcript["publish_without_writes"] = refused
    print(json.dumps(transcript))


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "loop")
