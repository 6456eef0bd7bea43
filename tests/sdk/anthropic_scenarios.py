"""Drives llm-sidecar's Anthropic Messages API with the official Anthropic Python SDK over its
Unix socket.

Usage: LLM_SIDECAR_SOCKET=/path/llm.sock MODEL=claude-sonnet-4-5 python anthropic_scenarios.py create stream ...
Exits non-zero with a message on the first failed check.
"""

import os
import sys

import anthropic
import httpx2

SOCKET = os.environ["LLM_SIDECAR_SOCKET"]
MODEL = os.environ.get("MODEL", "claude-sonnet-4-5")

client = anthropic.Anthropic(
    base_url="http://localhost",
    api_key="sk-ant-client-key-never-forwarded",
    http_client=httpx2.Client(transport=httpx2.HTTPTransport(uds=SOCKET)),
    max_retries=0,
)

TOOLS = [{
    "name": "get_current_weather",
    "description": "Get the weather",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}]


def check(condition, message):
    if not condition:
        print(f"FAIL [{MODEL}]: {message}")
        sys.exit(1)


def create():
    m = client.messages.create(
        model=MODEL, max_tokens=100, system="You are terse.", messages=[{"role": "user", "content": "Say hello."}]
    )
    text = "".join(b.text for b in m.content if b.type == "text")
    check(text, f"no text: {m}")
    check(m.stop_reason == "end_turn", f"stop_reason {m.stop_reason}")
    check(m.usage.output_tokens > 0, f"usage {m.usage}")


def stream():
    with client.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Say hello."}]
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    check(text, "streamed no text")
    check(final.stop_reason == "end_turn", f"stop_reason {final.stop_reason}")
    check(final.usage.output_tokens > 0, f"usage {final.usage}")


def tools():
    m = client.messages.create(
        model=MODEL, max_tokens=100, tools=TOOLS, messages=[{"role": "user", "content": "Weather in Paris?"}]
    )
    uses = [b for b in m.content if b.type == "tool_use"]
    check(uses and uses[0].name == "get_current_weather", f"tool uses {m.content}")
    check(isinstance(uses[0].input, dict), f"input {uses[0].input!r}")
    check(m.stop_reason == "tool_use", f"stop_reason {m.stop_reason}")
    follow_up = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [b.model_dump() for b in m.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "18C"}]},
    ]
    m = client.messages.create(model=MODEL, max_tokens=100, tools=TOOLS, messages=follow_up)
    check(m.content, "no answer to the tool result")


def thinking_tools():
    """Extended thinking through a tool call: the signed thinking block must go back with the
    turn that made the call (Claude refuses the follow-up otherwise)."""
    thinking = {"type": "enabled", "budget_tokens": 1024}
    question = [{"role": "user", "content": "Weather in Paris?"}]
    m = client.messages.create(model=MODEL, max_tokens=2048, thinking=thinking, tools=TOOLS, messages=question)
    signed = [b for b in m.content if b.type == "thinking" and b.signature]
    check(signed, f"no signed thinking block: {m.content}")
    uses = [b for b in m.content if b.type == "tool_use"]
    check(uses, f"no tool use: {m.content}")
    follow_up = question + [
        {"role": "assistant", "content": [b.model_dump() for b in m.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "18C"}]},
    ]
    m = client.messages.create(model=MODEL, max_tokens=2048, thinking=thinking, tools=TOOLS, messages=follow_up)
    check(m.content, "no answer to the tool result")


def thinking_stream():
    thinking = {"type": "enabled", "budget_tokens": 1024}
    with client.messages.stream(
        model=MODEL, max_tokens=2048, thinking=thinking, messages=[{"role": "user", "content": "Hi"}]
    ) as s:
        final = s.get_final_message()
    signed = [b for b in final.content if b.type == "thinking" and b.thinking and b.signature]
    check(signed, f"no signed thinking streamed: {final.content}")
    check(any(b.type == "text" and b.text for b in final.content), f"no text: {final.content}")


def count_tokens():
    r = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hello there, how are you?"}])
    check(r.input_tokens > 0, f"count {r}")


def errors():
    try:
        client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    except anthropic.NotFoundError as e:
        check(e.body["error"]["type"] == "not_found_error", f"body {e.body}")
    else:
        check(False, "unknown model did not raise NotFoundError")


SCENARIOS = {
    f.__name__: f for f in (create, stream, tools, thinking_tools, thinking_stream, count_tokens, errors)
}

if __name__ == "__main__":
    for name in sys.argv[1:]:
        SCENARIOS[name]()
    print(f"ok [{MODEL}]: {' '.join(sys.argv[1:])}")
