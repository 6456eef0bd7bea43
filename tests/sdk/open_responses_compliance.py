"""The Open Responses compliance checks, run against llm-sidecar's /v1/responses over its socket.

A port of the seven test templates of the Open Responses project's compliance suite
(github.com/openresponses/openresponses, src/lib/compliance-tests.ts: the same requests and the
same semantic checks), whose TypeScript runner needs the project's generated zod schemas and
cannot run here. The schema check follows the suite's `ResponseResource` schema
(schema/components/schemas/ResponseResource.json): every field it requires, with its type; the
streaming check reads every event as the suite's SSE parser does (a JSON payload with its `type`)
and takes the final response from the terminal event.

Usage: LLM_SIDECAR_SOCKET=/path/llm.sock MODEL=mock-model TOOL_MODEL=llama python open_responses_compliance.py
Prints one line per test and the pass rate; exits non-zero unless every test passed.
"""

import json
import os
import sys

import httpx2

SOCKET = os.environ["LLM_SIDECAR_SOCKET"]
MODEL = os.environ.get("MODEL", "gpt-4o-mini")
# The model the tool-calling tests use (one whose upstream answers with a call).
TOOL_MODEL = os.environ.get("TOOL_MODEL", MODEL)
KEY = os.environ.get("LLM_SIDECAR_CLIENT_KEY", "sk-compliance")

client = httpx2.Client(transport=httpx2.HTTPTransport(uds=SOCKET), base_url="http://localhost/v1", timeout=30)

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a location",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
        "required": ["location"],
    },
}
# A 1x1 PNG (the suite sends a small icon as a data URL).
PIXEL_PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def user(text):
    return {"type": "message", "role": "user", "content": text}


# Predicates for the types the schema names.
def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_str(v):
    return isinstance(v, str)


def is_bool(v):
    return isinstance(v, bool)


def nullable(check):
    return lambda v: v is None or check(v)


# Every field ResponseResource requires, and what its value may be.
REQUIRED = {
    "id": is_str,
    "object": lambda v: v == "response",
    "created_at": is_int,
    "completed_at": nullable(is_int),
    "status": is_str,
    "incomplete_details": lambda v: v is None or (isinstance(v, dict) and is_str(v.get("reason"))),
    "model": is_str,
    "previous_response_id": nullable(is_str),
    "instructions": lambda v: v is None or is_str(v) or isinstance(v, list),
    "output": lambda v: isinstance(v, list),
    "error": lambda v: v is None or (isinstance(v, dict) and is_str(v.get("code")) and is_str(v.get("message"))),
    "tools": lambda v: isinstance(v, list),
    "tool_choice": lambda v: v in ("none", "auto", "required") or isinstance(v, dict),
    "truncation": lambda v: v in ("auto", "disabled"),
    "parallel_tool_calls": is_bool,
    "text": lambda v: isinstance(v, dict),
    "top_p": is_num,
    "presence_penalty": is_num,
    "frequency_penalty": is_num,
    "top_logprobs": is_int,
    "temperature": is_num,
    "reasoning": lambda v: v is None or isinstance(v, dict),
    "user": nullable(is_str),
    "usage": lambda v: v is None or check_usage(v) == [],
    "max_output_tokens": nullable(is_int),
    "max_tool_calls": nullable(is_int),
    "store": is_bool,
    "background": is_bool,
    "service_tier": is_str,
    "metadata": lambda v: isinstance(v, dict),
    "safety_identifier": nullable(is_str),
    "prompt_cache_key": nullable(is_str),
}


def check_usage(usage):
    errors = []
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        if not is_int(usage.get(key)):
            errors.append(f"usage.{key}")
    if not is_int((usage.get("input_tokens_details") or {}).get("cached_tokens")):
        errors.append("usage.input_tokens_details.cached_tokens")
    if not is_int((usage.get("output_tokens_details") or {}).get("reasoning_tokens")):
        errors.append("usage.output_tokens_details.reasoning_tokens")
    return errors


def check_item(i, item):
    """The fields an output item of each kind must have."""
    need = {
        "message": {"id": is_str, "status": is_str, "role": lambda v: v == "assistant", "content": lambda v: isinstance(v, list)},
        "function_call": {"id": is_str, "call_id": is_str, "name": is_str, "arguments": is_str, "status": is_str},
        "reasoning": {"id": is_str, "summary": lambda v: isinstance(v, list)},
    }.get(item.get("type"))
    if need is None:
        return [f"output.{i}.type: unknown {item.get('type')!r}"]
    errors = [f"output.{i}.{k}: invalid {item.get(k)!r}" for k, ok in need.items() if not ok(item.get(k))]
    for j, part in enumerate(item.get("content") or []):
        if part.get("type") == "output_text" and not (is_str(part.get("text")) and isinstance(part.get("annotations"), list)):
            errors.append(f"output.{i}.content.{j}: output_text without text or annotations")
    return errors


def check_schema(response):
    if not isinstance(response, dict):
        return [f"not a response object: {response!r}"]
    errors = [f"{k}: {'missing' if k not in response else 'invalid ' + repr(response[k])}"
              for k, ok in REQUIRED.items() if k not in response or not ok(response[k])]
    for i, item in enumerate(response.get("output") or []):
        errors.extend(check_item(i, item))
    return errors


# Fields each streaming event kind carries besides `type` and `sequence_number`.
EVENT_FIELDS = {
    "response.created": ("response",),
    "response.in_progress": ("response",),
    "response.completed": ("response",),
    "response.incomplete": ("response",),
    "response.failed": ("response",),
    "response.output_item.added": ("output_index", "item"),
    "response.output_item.done": ("output_index", "item"),
    "response.content_part.added": ("item_id", "output_index", "content_index", "part"),
    "response.content_part.done": ("item_id", "output_index", "content_index", "part"),
    "response.output_text.delta": ("item_id", "output_index", "content_index", "delta"),
    "response.output_text.done": ("item_id", "output_index", "content_index", "text"),
    "response.function_call_arguments.delta": ("item_id", "output_index", "delta"),
    "response.function_call_arguments.done": ("item_id", "output_index", "arguments"),
}
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def read_stream(response):
    """(events, final response, errors) of an SSE body, read the way the suite's parser reads it."""
    events, errors, final = [], [], None
    data = []
    for line in response.iter_lines():
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif line == "" and data:
            payload = "\n".join(data)
            data = []
            if payload == "[DONE]":
                continue
            try:
                event = json.loads(payload)
            except ValueError:
                errors.append(f"event is not JSON: {payload[:80]!r}")
                continue
            events.append(event)
    last_sequence = -1
    for event in events:
        kind = event.get("type")
        sequence = event.get("sequence_number")
        if not is_int(sequence) or sequence <= last_sequence:
            errors.append(f"{kind}: sequence_number {sequence!r} after {last_sequence}")
        else:
            last_sequence = sequence
        for field in EVENT_FIELDS.get(kind, ()):
            if field not in event:
                errors.append(f"{kind}: no {field}")
        if kind in TERMINAL:
            final = event.get("response")
    if events and events[0].get("type") != "response.created":
        errors.append(f"first event is {events[0].get('type')}, not response.created")
    return events, final, errors


def has_output(response, _):
    return [] if response.get("output") else ["Response has no output items"]


def completed(response, _):
    status = response.get("status")
    return [] if status == "completed" else [f'Expected status "completed" but got "{status}"']


def has_output_type(kind):
    def check(response, _):
        found = any(item.get("type") == kind for item in response.get("output") or [])
        return [] if found else [f'Expected output item of type "{kind}" but none found']
    return check


def streamed(_, events):
    return [] if events else ["No streaming events received"]


def function_call_events(_, events):
    kinds = [e.get("type") for e in events]
    errors = []
    if not any(e.get("type") == "response.output_item.added" and (e.get("item") or {}).get("type") == "function_call" for e in events):
        errors.append("Missing response.output_item.added event with function_call item")
    for kind in ("response.function_call_arguments.delta", "response.function_call_arguments.done"):
        if kind not in kinds:
            errors.append(f"Missing {kind} event")
    if not any(e.get("type") == "response.output_item.done" and (e.get("item") or {}).get("type") == "function_call" for e in events):
        errors.append("Missing response.output_item.done event with function_call item")
    return errors


# (id, request, streaming, checks): the suite's templates.
TESTS = [
    ("basic-response", {"model": MODEL, "input": [user("Say hello in exactly 3 words.")]}, False, [has_output, completed]),
    ("streaming-response", {"model": MODEL, "input": [user("Count from 1 to 5.")]}, True, [streamed, completed]),
    ("system-prompt", {"model": MODEL, "input": [
        {"type": "message", "role": "system", "content": "You are a pirate. Always respond in pirate speak."},
        user("Say hello."),
    ]}, False, [has_output, completed]),
    ("tool-calling", {"model": TOOL_MODEL, "input": [user("What's the weather like in San Francisco?")], "tools": [WEATHER_TOOL]},
     False, [has_output, has_output_type("function_call")]),
    ("tool-calling-streaming", {"model": TOOL_MODEL, "input": [user("What's the weather like in San Francisco?")], "tools": [WEATHER_TOOL]},
     True, [streamed, function_call_events]),
    ("image-input", {"model": MODEL, "input": [{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "What do you see in this image? Answer in one sentence."},
        {"type": "input_image", "image_url": PIXEL_PNG},
    ]}]}, False, [has_output, completed]),
    ("multi-turn", {"model": MODEL, "input": [
        user("My name is Alice."),
        {"type": "message", "role": "assistant", "content": "Hello Alice! Nice to meet you. How can I help you today?"},
        user("What is my name?"),
    ]}, False, [has_output, completed]),
]


def run(request, streaming):
    """(final response, events, errors) of one request."""
    body = dict(request, stream=streaming)
    headers = {"Authorization": f"Bearer {KEY}"}
    if not streaming:
        r = client.post("/responses", json=body, headers=headers)
        if r.status_code != 200:
            return None, [], [f"HTTP {r.status_code}: {r.text[:200]}"]
        return r.json(), [], []
    with client.stream("POST", "/responses", json=body, headers=headers) as r:
        if r.status_code != 200:
            r.read()
            return None, [], [f"HTTP {r.status_code}: {r.text[:200]}"]
        events, final, errors = read_stream(r)
        return final, events, errors


def main():
    passed = 0
    for test_id, request, streaming, checks in TESTS:
        response, events, errors = run(request, streaming)
        if response is not None:
            schema = check_schema(response)
            errors += schema
            if not schema:
                for check in checks:
                    errors += check(response, events)
        elif not errors:
            errors.append("no final response")
        if errors:
            print(f"FAIL {test_id}: " + "; ".join(errors))
        else:
            passed += 1
            print(f"ok   {test_id}" + (f" ({len(events)} events)" if streaming else ""))
    rate = 100.0 * passed / len(TESTS)
    print(f"passed {passed}/{len(TESTS)} ({rate:.1f}%) [{MODEL}, tools: {TOOL_MODEL}]")
    sys.exit(0 if passed == len(TESTS) else 1)


if __name__ == "__main__":
    main()
