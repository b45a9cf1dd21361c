"""An agent's maintenance loop against `promptgate mcp`, driven by the
official MCP Python SDK (PyPI `mcp`) over stdio.

Usage: agent_loop.py PROMPTGATE_BINARY REPOSITORY [loop|cancel]

`loop` (the default) is the whole loop — list, evaluate, read the results,
edit a prompt, check (it fails), ask for a verified fix, apply it, validate,
check again — for a repository whose `[suggest]` names a model; `cancel`
starts an evaluation of the prompt `slow` and abandons it after a second.

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


def applied(text: str, edit) -> str:
    """`text` with the edit's lines replaced, as the tool describes the edit."""
    lines = text.split("\n")
    start, end = edit["start_line"], edit["end_line"]
    return "\n".join(lines[: start - 1] + edit["new_text"].split("\n") + lines[end:])


async def suggest(session, transcript, repo: str) -> None:
    """The gate failed: the agent asks for a verified fix, reads it, applies
    it through the tool, and checks again."""
    steps = []

    async def on_progress(done, total, message):
        steps.append({"done": done, "total": total, "message": message})

    transcript["suggest"] = outcome(
        await session.call_tool(
            "suggest", {"prompt": "support-bot", "base": "main"}, progress_callback=on_progress
        )
    )
    transcript["suggest_progress"] = steps
    suggestions = (transcript["suggest"]["structured"] or {}).get("suggestions") or [{}]
    edits = (suggestions[0].get("verified") or {}).get("edits", [])
    before = {edit["path"]: (Path(repo) / edit["path"]).read_text() for edit in edits}
    transcript["suggest_apply"] = outcome(
        await session.call_tool(
            "suggest", {"prompts": ["support-bot"], "base": "main", "apply": True}
        )
    )
    # What the tool said it would write is what is on disk now.
    transcript["applied_as_described"] = bool(edits) and all(
        (Path(repo) / edit["path"]).read_text() == applied(before[edit["path"]], edit)
        for edit in edits
    )
    transcript["prompt_after_apply"] = (
        Path(repo) / "prompts" / "support-bot.prompt.yml"
    ).read_text()
    transcript["validate_after_apply"] = outcome(await session.call_tool("validate", {}))
    transcript["check_after_apply"] = outcome(
        await session.call_tool("check", {"base": "main"})
    )


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
            await suggest(session, transcript, repo)

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
