"""Drives llm-sidecar's /v1/responses with the official OpenAI Python SDK over its Unix socket.

Usage: LLM_SIDECAR_SOCKET=/path/llm.sock MODEL=claude-sonnet-4-5 python responses_scenarios.py create stream ...
Exits non-zero with a message on the first failed check.
"""

import json
import os
import sys

import httpx2
import openai

SOCKET = os.environ["LLM_SIDECAR_SOCKET"]
MODEL = os.environ.get("MODEL", "gpt-4o")

client = openai.OpenAI(
    base_url="http://localhost/v1",
    api_key=os.environ.get("LLM_SIDECAR_CLIENT_KEY", "sk-client-key-never-forwarded"),
    http_client=httpx2.Client(transport=httpx2.HTTPTransport(uds=SOCKET)),
    max_retries=0,
)

# Every call sets a completion limit (the mock Ollama insists on seeing it as num_predict) and
# instructions (the mock Gemini insists on a system prompt).
MAX_OUTPUT_TOKENS = 64
INSTRUCTIONS = "You are terse."
TOOLS = [{
    "type": "function",
    "name": "get_current_weather",
    "description": "Get the weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}]
QUESTION = [{"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]}]


def check(condition, message):
    if not condition:
        print(f"FAIL [{MODEL}]: {message}")
        sys.exit(1)


def create():
    r = client.responses.create(
        model=MODEL, input="Say hello.", instructions=INSTRUCTIONS, max_output_tokens=MAX_OUTPUT_TOKENS,
        metadata={"team": "sdk"},
    )
    check(r.id.startswith("resp_"), f"id {r.id}")
    check(r.object == "response", f"object {r.object}")
    check(r.status == "completed", f"status {r.status}")
    check(r.output_text, f"no output_text: {r}")
    check(r.output[0].type == "message" and r.output[0].role == "assistant", f"output {r.output}")
    check(r.usage is not None and r.usage.input_tokens > 0 and r.usage.total_tokens > 0, f"usage {r.usage}")
    check(r.instructions == INSTRUCTIONS and r.metadata == {"team": "sdk"}, f"echo {r}")


def stream():
    deltas = ""
    kinds = []
    with client.responses.stream(
        model=MODEL, input="Say hello.", instructions=INSTRUCTIONS, max_output_tokens=MAX_OUTPUT_TOKENS
    ) as s:
        for event in s:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas += event.delta
        final = s.get_final_response()
    check(kinds[:2] == ["response.created", "response.in_progress"], f"events {kinds}")
    check(kinds[-1] == "response.completed", f"events {kinds}")
    check(deltas and final.output_text == deltas, f"streamed {deltas!r}, final {final.output_text!r}")
    check(final.status == "completed", f"status {final.status}")
    check(final.usage is not None and final.usage.total_tokens > 0, f"usage {final.usage}")


def raw_stream():
    """`create(stream=True)`: every event has an increasing sequence number."""
    numbers = [event.sequence_number for event in client.responses.create(
        model=MODEL, input="Say hello.", instructions=INSTRUCTIONS, max_output_tokens=MAX_OUTPUT_TOKENS, stream=True)]
    check(numbers == sorted(numbers) and len(set(numbers)) == len(numbers), f"sequence {numbers}")


def tools():
    """A function-calling loop: the call, then its output sent back with the earlier items."""
    r = client.responses.create(
        model=MODEL, input=QUESTION, instructions=INSTRUCTIONS, tools=TOOLS, max_output_tokens=MAX_OUTPUT_TOKENS
    )
    calls = [item for item in r.output if item.type == "function_call"]
    check(calls and calls[0].name and calls[0].call_id, f"output {r.output}")
    check(calls[0].id.startswith("fc_"), f"item id {calls[0].id}")
    check(isinstance(json.loads(calls[0].arguments), dict), f"arguments {calls[0].arguments!r}")
    follow_up = QUESTION + [item.model_dump(exclude_none=True) for item in r.output] + [
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C"},
    ]
    r = client.responses.create(
        model=MODEL, input=follow_up, instructions=INSTRUCTIONS, tools=TOOLS, max_output_tokens=MAX_OUTPUT_TOKENS
    )
    # The upstream took the call and its output in its own terms (each fake enforces its API's
    # rules); what it answers next is up to the fake (Gemini's calls the tool again).
    check(r.status == "completed" and r.output, f"no answer to the function output: {r}")


def tool_stream():
    with client.responses.stream(
        model=MODEL, input=QUESTION, instructions=INSTRUCTIONS, tools=TOOLS, max_output_tokens=MAX_OUTPUT_TOKENS
    ) as s:
        final = s.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    check(calls and calls[0].call_id and calls[0].name, f"output {final.output}")
    check(isinstance(json.loads(calls[0].arguments), dict), f"arguments {calls[0].arguments!r}")


def errors():
    try:
        client.responses.create(model=MODEL, input="x", tools=[{"type": "web_search"}])
    except openai.BadRequestError as e:
        check("web_search" in str(e) and e.status_code == 400, f"message {e}")
    else:
        check(False, "a built-in tool did not raise BadRequestError")
    try:
        client.responses.create(model="no-such-model", input="x")
    except openai.NotFoundError as e:
        check(e.code == "model_not_found", f"code {e.code}")
    else:
        check(False, "unknown model did not raise NotFoundError")


def chain():
    """`previous_response_id`: the second turn sees the first; the stored response reads back,
    lists its input items newest first, and is gone once deleted."""
    first = client.responses.create(
        model=MODEL, input="My name is Ada.", instructions=INSTRUCTIONS, max_output_tokens=MAX_OUTPUT_TOKENS
    )
    check(first.store is True, f"store {first.store}")
    second = client.responses.create(
        model=MODEL, input="What is my name?", previous_response_id=first.id, instructions=INSTRUCTIONS,
        max_output_tokens=MAX_OUTPUT_TOKENS,
    )
    check(second.previous_response_id == first.id, f"previous_response_id {second.previous_response_id}")
    check(second.status == "completed" and second.output_text, f"second turn {second}")
    again = client.responses.retrieve(first.id)
    check(again.id == first.id and again.output_text == first.output_text, f"retrieved {again}")
    items = client.responses.input_items.list(second.id)
    kinds = [(item.type, item.role) for item in items.data]
    check(kinds == [("message", "user"), ("message", "assistant"), ("message", "user")], f"input items {kinds}")
    check(items.data[0].content[0].text == "What is my name?", f"newest item {items.data[0]}")
    check(all(item.id for item in items.data), "input items without ids")
    oldest = client.responses.input_items.list(second.id, order="asc", limit=1)
    check(len(oldest.data) == 1 and oldest.has_more and oldest.data[0].content[0].text == "My name is Ada.",
          f"first page {oldest}")
    client.responses.delete(first.id)
    for call in (
        lambda: client.responses.retrieve(first.id),
        lambda: client.responses.create(model=MODEL, input="x", previous_response_id=first.id,
                                        max_output_tokens=MAX_OUTPUT_TOKENS),
    ):
        try:
            call()
        except openai.NotFoundError as e:
            check(first.id in str(e), f"message {e}")
        else:
            check(False, "a deleted response was still found")


def stream_chain():
    """A streamed response is stored by the time the stream says it is done."""
    with client.responses.stream(
        model=MODEL, input="My name is Ada.", instructions=INSTRUCTIONS, max_output_tokens=MAX_OUTPUT_TOKENS
    ) as s:
        first = s.get_final_response()
    with client.responses.stream(
        model=MODEL, input="What is my name?", previous_response_id=first.id, instructions=INSTRUCTIONS,
        max_output_tokens=MAX_OUTPUT_TOKENS,
    ) as s:
        second = s.get_final_response()
    check(second.previous_response_id == first.id and second.output_text, f"second turn {second}")
    check(client.responses.retrieve(second.id).output_text == second.output_text, "stream not stored")


def no_store():
    r = client.responses.create(
        model=MODEL, input="Say hello.", store=False, instructions=INSTRUCTIONS, max_output_tokens=MAX_OUTPUT_TOKENS
    )
    check(r.store is False, f"store {r.store}")
    try:
        client.responses.retrieve(r.id)
    except openai.NotFoundError:
        pass
    else:
        check(False, "a store=False response was stored")


def tool_chain():
    """The Agents SDK's loop: the function output goes back with only previous_response_id."""
    r = client.responses.create(
        model=MODEL, input=QUESTION, instructions=INSTRUCTIONS, tools=TOOLS, max_output_tokens=MAX_OUTPUT_TOKENS
    )
    calls = [item for item in r.output if item.type == "function_call"]
    check(calls, f"no call: {r.output}")
    r = client.responses.create(
        model=MODEL, previous_response_id=r.id, instructions=INSTRUCTIONS, tools=TOOLS,
        max_output_tokens=MAX_OUTPUT_TOKENS,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C"}],
    )
    check(r.status == "completed" and r.output, f"no answer to the function output: {r}")


SCENARIOS = {
    f.__name__: f
    for f in (create, stream, raw_stream, tools, tool_stream, errors, chain, stream_chain, no_store, tool_chain)
}

if __name__ == "__main__":
    for name in sys.argv[1:]:
        SCENARIOS[name]()
    print(f"ok [{MODEL}]: {' '.join(sys.argv[1:])}")
