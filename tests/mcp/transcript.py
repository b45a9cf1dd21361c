"""What the MCP test clients record of a tool call, shared by the scripts in
this folder. They only drive the official SDK; the Rust tests assert on the
JSON transcripts they print."""


def text_of(result):
    return "\n".join(getattr(block, "text", "") for block in result.content)


def outcome(result):
    return {
        "is_error": bool(result.is_error),
        "text": text_of(result),
        "structured": result.structured_content,
    }
