"""Drives llm-sidecar with the official OpenAI Python SDK over its Unix socket.

Usage: LLM_SIDECAR_SOCKET=/path/llm.sock MODEL=gpt-4o python openai_scenarios.py chat stream ...
Exits non-zero with a message on the first failed check.
"""

import json
import os
import sys

import httpx2
import openai

SOCKET = os.environ["LLM_SIDECAR_SOCKET"]
MODEL = os.environ.get("MODEL", "gpt-4o")
EMBEDDING_MODEL = os.environ.get("EMBEDDING_MODEL", "text-embedding-3-small")
# A model whose upstream answers every call with its rate limit (the `throttled` scenario).
THROTTLED_MODEL = os.environ.get("THROTTLED_MODEL", "")
# A 1x1 transparent PNG, the smallest image any upstream accepts as base64 bytes.
PIXEL_PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

client = openai.OpenAI(
    base_url="http://localhost/v1",
    api_key=os.environ.get("LLM_SIDECAR_CLIENT_KEY", "sk-client-key-never-forwarded"),
    http_client=httpx2.Client(transport=httpx2.HTTPTransport(uds=SOCKET)),
    max_retries=0,
)

# Every call sets a completion limit (the mock Ollama insists on seeing it as num_predict).
MAX_TOKENS = 64

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello."},
]
TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}]


def check(condition, message):
    if not condition:
        print(f"FAIL [{MODEL}]: {message}")
        sys.exit(1)


def chat():
    r = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
    check(r.choices[0].message.content, f"no content: {r}")
    check(r.choices[0].finish_reason == "stop", f"finish_reason {r.choices[0].finish_reason}")
    check(r.usage is not None and r.usage.prompt_tokens > 0, f"usage {r.usage}")


def stream():
    text = ""
    finish = None
    for chunk in client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, stream=True):
        check(chunk.usage is None, "usage chunk the client did not ask for")
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    check(text, "streamed no text")
    check(finish == "stop", f"finish {finish}")


def stream_usage():
    usage = None
    for chunk in client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, stream=True, stream_options={"include_usage": True}
    ):
        usage = chunk.usage or usage
    check(usage is not None and usage.total_tokens > 0, f"usage {usage}")


def tools():
    question = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Weather in Paris?"}]
    r = client.chat.completions.create(model=MODEL, messages=question, tools=TOOLS, max_tokens=MAX_TOKENS)
    calls = r.choices[0].message.tool_calls
    check(calls and calls[0].function.name and calls[0].id, f"tool calls {calls}")
    check(r.choices[0].finish_reason == "tool_calls", f"finish {r.choices[0].finish_reason}")
    follow_up = question + [
        {"role": "assistant", "content": None, "tool_calls": [c.model_dump() for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "18C"},
    ]
    r = client.chat.completions.create(model=MODEL, messages=follow_up, tools=TOOLS, max_tokens=MAX_TOKENS)
    check(r.choices, "no answer to the tool result")


def tool_stream():
    question = [{"role": "user", "content": "Weather in Paris?"}]
    calls = {}
    finish = None
    for chunk in client.chat.completions.create(
        model=MODEL, messages=question, tools=TOOLS, max_tokens=MAX_TOKENS, stream=True
    ):
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = call.id or entry["id"]
                if call.function:
                    entry["name"] += call.function.name or ""
                    entry["arguments"] += call.function.arguments or ""
    check(calls and calls[0]["id"] and calls[0]["name"], f"streamed tool calls {calls}")
    check(json.loads(calls[0]["arguments"]) is not None, f"arguments {calls[0]['arguments']!r}")
    check(finish == "tool_calls", f"finish {finish}")


def image():
    content = [{"type": "text", "text": "What is in this image?"}, {"type": "image_url", "image_url": {"url": PIXEL_PNG}}]
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}], max_tokens=MAX_TOKENS)
    check(r.choices[0].message.content, f"no answer about the image: {r}")


def throttled():
    try:
        client.chat.completions.create(model=THROTTLED_MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS)
    except openai.RateLimitError as e:
        check(e.status_code == 429, f"status {e.status_code}")
    else:
        check(False, "a throttled upstream did not raise RateLimitError")


def embeddings():
    r = client.embeddings.create(model=EMBEDDING_MODEL, input=["a", "b"])
    check(len(r.data) == 2 and r.data[0].embedding, f"embeddings {r}")


def models():
    ids = [m.id for m in client.models.list()]
    check(MODEL in ids, f"{MODEL} not in {ids}")


def errors():
    try:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    except openai.NotFoundError as e:
        check(e.code == "model_not_found", f"code {e.code}")
    else:
        check(False, "unknown model did not raise NotFoundError")
    try:
        client.chat.completions.create(model=MODEL, messages=[])
    except openai.BadRequestError:
        pass
    else:
        check(False, "empty messages did not raise BadRequestError")


SCENARIOS = {
    f.__name__: f
    for f in (chat, stream, stream_usage, tools, tool_stream, image, throttled, embeddings, models, errors)
}

if __name__ == "__main__":
    for name in sys.argv[1:]:
        SCENARIOS[name]()
    print(f"ok [{MODEL}]: {' '.join(sys.argv[1:])}")
