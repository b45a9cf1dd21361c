"""A remote agent's whole maintenance loop on `promptgate serve` over MCP
Streamable HTTP, driven by the official MCP Python SDK (PyPI `mcp`): the
server reads the repository through its GitHub App, and the agent applies a
suggestion the way a remote agent can, by committing it through GitHub's
contents API (plain urllib).

Usage: agent_loop_http.py MCP_URL

Everything else comes from the environment (never the command line):
PROMPTGATE_TEST_KEYS is a JSON object with a `publish` and a `read` key;
PROMPTGATE_TEST_WORLD names the GitHub side: `api_url` and `token` (the
agent's own GitHub token), `repository`, the pull request `pull` and its
branch `branch`, `commands` (a repository whose default branch has a
`command` evaluator, with an open pull request `pull`), `hidden` (installed,
out of the keys' reach) and `uninstalled` (in reach, not installed).

Each step's outcome goes into one JSON transcript printed on stdout; the
Rust test (tests/mcp_http_loop.rs) asserts on it, so this script only drives.
"""

import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

import anyio

from registry_http import connect, listed_tools
from transcript import outcome


async def call(session, tool, progress=None, **arguments):
    if progress is None:
        return outcome(await session.call_tool(tool, arguments))
    notes = []

    async def on_progress(done, total, message):
        notes.append({"done": done, "total": total, "message": message})

    result = outcome(await session.call_tool(tool, arguments, progress_callback=on_progress))
    progress.extend(notes)
    return result


def github(world, method, path, body=None):
    """One GitHub REST call as the agent; (status, JSON answer)."""
    request = urllib.request.Request(
        world["api_url"] + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {world['token']}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            **({} if body is None else {"Content-Type": "application/json"}),
        },
    )
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def apply(world, edits):
    """Commits each file edit on the pull request's branch, as a remote agent
    would: the file's blob SHA first, then its new content."""
    commits = []
    for edit in edits:
        where = f"/repos/{world['repository']}/contents/{urllib.parse.quote(edit['path'])}"
        status, current = github(world, "GET", f"{where}?ref={world['branch']}")
        assert status == 200, (status, current)
        status, made = github(
            world,
            "PUT",
            where,
            {
                "message": f"Apply promptgate's suggestion to {edit['path']}",
                "content": base64.b64encode(edit["new"].encode()).decode(),
                "sha": current["sha"],
                "branch": world["branch"],
            },
        )
        commits.append({"status": status, "commit": made.get("commit", {}).get("sha")})
    return commits


async def main(url: str) -> None:
    keys = json.loads(os.environ["PROMPTGATE_TEST_KEYS"])
    world = json.loads(os.environ["PROMPTGATE_TEST_WORLD"])
    repo, pull = world["repository"], world["pull"]
    t = {}
    async with connect(url, keys["publish"]) as agent:
        t["tools"] = await listed_tools(agent)
        t["list"] = await call(agent, "list_prompts", repository=repo)
        t["validate"] = await call(agent, "validate", repository=repo, ref=pull)
        t["estimate"] = await call(agent, "estimate", repository=repo, ref=pull)
        t["evaluate_progress"] = []
        t["evaluate"] = await call(
            agent, "evaluate", t["evaluate_progress"], repository=repo, ref=pull
        )
        t["results"] = await call(agent, "results", repository=repo, prompt="support-bot")
        t["check_progress"] = []
        t["check"] = await call(agent, "check", t["check_progress"], repository=repo, head=pull)
        t["suggest"] = await call(agent, "suggest", repository=repo, head=pull)

        found = (t["suggest"]["structured"] or {}).get("suggestions", [])
        edits = [edit for suggestion in found for edit in suggestion["edits"]]
        t["applied"] = apply(world, edits)

        t["check_after"] = await call(agent, "check", repository=repo, head=pull)

        # A repository whose default branch runs a command: refused.
        commands = world["commands"]
        t["commands_evaluate"] = await call(agent, "evaluate", repository=commands, ref="main")
        t["commands_check"] = await call(
            agent, "check", repository=commands, head=world["commands_pull"]
        )

        # Installed but out of reach, and in reach but not installed: the same words.
        t["hidden"] = await call(agent, "evaluate", repository=world["hidden"], ref="main")
        t["uninstalled"] = await call(
            agent, "evaluate", repository=world["uninstalled"], ref="main"
        )
        t["unknown_ref"] = await call(agent, "validate", repository=repo, ref="no-such-branch")

    async with connect(url, keys["read"]) as reader:
        t["read_key_evaluate"] = await call(reader, "evaluate", repository=repo, ref=pull)
        t["read_key_results"] = await call(
            reader, "results", repository=repo, prompt="support-bot"
        )
    print(json.dumps(t))


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
