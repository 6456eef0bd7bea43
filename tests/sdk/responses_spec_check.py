"""Checks llm-sidecar's translated Responses API answers against the public OpenAI spec's schemas.

Every `response` object (whole, the ones inside stream events, read back by GET), every stream
event and the `input_items` list is validated with jsonschema against the spec's `Response`,
`ResponseStreamEvent` and `ResponseItemList` (tests/fixtures/reference/openai/
responses_schemas.json, written by scripts/extract_responses_schemas.py from the spec).

Usage: LLM_SIDECAR_SOCKET=/path/llm.sock MODEL=mock-model TOOL_MODEL=llama python responses_spec_check.py
Exits non-zero with every violation found.
"""

import json
import os
import pathlib
import sys

import httpx2
import jsonschema

SOCKET = os.environ["LLM_SIDECAR_SOCKET"]
MODEL = os.environ.get("MODEL", "mock-model")
TOOL_MODEL = os.environ.get("TOOL_MODEL", MODEL)
KEY = os.environ.get("LLM_SIDECAR_CLIENT_KEY", "sk-spec-check")
SCHEMAS = pathlib.Path(__file__).resolve().parent.parent / "fixtures/reference/openai/responses_schemas.json"

document = json.loads(SCHEMAS.read_text())
# The spec types the deprecated `user` as a bare string, yet its own example responses (and the
# API) carry `"user": null`, which Open Responses requires: accept exactly that null.
_user = document["components"]["schemas"]["ModelResponseProperties"]["properties"]["user"]
_user["type"] = ["string", "null"]
client = httpx2.Client(transport=httpx2.HTTPTransport(uds=SOCKET), base_url="http://localhost/v1", timeout=30)
HEADERS = {"Authorization": f"Bearer {KEY}"}
TOOLS = [{
    "type": "function", "name": "get_weather", "description": "Weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}]


def validator(name):
    schema = dict(document, **{"$ref": f"#/components/schemas/{name}"})
    return jsonschema.Draft202012Validator(schema)


RESPONSE = validator("Response")
EVENT = validator("ResponseStreamEvent")


def event_schemas():
    """The schema of each stream event `type` (ResponseStreamEvent is a union discriminated by it):
    a violation is then reported where it is, not as "none of the union matched"."""
    by_type = {}
    for member in document["components"]["schemas"]["ResponseStreamEvent"]["anyOf"]:
        name = member["$ref"].rsplit("/", 1)[-1]
        kinds = document["components"]["schemas"][name].get("properties", {}).get("type", {}).get("enum", [])
        for kind in kinds:
            by_type[kind] = validator(name)
    return by_type


EVENTS = event_schemas()
ITEM_LIST = validator("ResponseItemList")
violations = []
checked = {"responses": 0, "events": 0, "lists": 0}


def check(kind, instance, what):
    checked[kind] += 1
    schema = {"responses": RESPONSE, "events": EVENT, "lists": ITEM_LIST}[kind]
    if kind == "events":
        schema = EVENTS.get(instance.get("type"), EVENT)
    for error in schema.iter_errors(instance):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        violations.append(f"{what}: {where}: {error.message[:300]}")


def events_of(body):
    for block in body.split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in block.splitlines() if line.startswith("data:"))
        if data and data != "[DONE]":
            yield json.loads(data)


def create(what, request):
    r = client.post("/responses", json=request, headers=HEADERS)
    if r.status_code != 200:
        violations.append(f"{what}: HTTP {r.status_code}: {r.text[:200]}")
        return None
    check("responses", r.json(), what)
    return r.json()


def stream(what, request):
    r = client.post("/responses", json=dict(request, stream=True), headers=HEADERS)
    if r.status_code != 200:
        violations.append(f"{what}: HTTP {r.status_code}: {r.text[:200]}")
        return
    for event in events_of(r.text):
        check("events", event, f"{what} {event.get('type')}")


def main():
    text = {"model": MODEL, "input": "Say hello.", "instructions": "Be brief.", "max_output_tokens": 64,
            "metadata": {"team": "spec"}}
    tools = {"model": TOOL_MODEL, "input": [{"role": "user", "content": "Weather in Paris?"}], "tools": TOOLS,
             "max_output_tokens": 64}
    first = create("create", text)
    create("create with tools", tools)
    create("create, json_schema", dict(text, text={"format": {"type": "json_schema", "name": "greeting",
                                                              "schema": {"type": "object"}}}))
    stream("stream", text)
    stream("stream with tools", tools)
    if first is not None:
        follow = create("previous_response_id", {"model": MODEL, "input": "Again.", "previous_response_id": first["id"],
                                                  "max_output_tokens": 64})
        got = client.get(f"/responses/{first['id']}", headers=HEADERS)
        check("responses", got.json(), "GET /responses/{id}")
        if follow is not None:
            items = client.get(f"/responses/{follow['id']}/input_items", headers=HEADERS)
            check("lists", items.json(), "GET /responses/{id}/input_items")
    if violations:
        print("\n".join(f"FAIL {v}" for v in violations))
        sys.exit(1)
    print(f"ok [{MODEL}, tools: {TOOL_MODEL}]: {checked['responses']} responses, {checked['events']} events, "
          f"{checked['lists']} lists valid against the OpenAI spec")


if __name__ == "__main__":
    main()
