"""Writes the OpenAI spec's Responses API schemas the translator is checked against.

Reads the public OpenAI OpenAPI spec (../shared/specs/openai-openapi.yaml next to the checkout,
or the path given) and writes tests/fixtures/reference/openai/responses_schemas.json: the
component schemas `Response`, `ResponseStreamEvent` and `ResponseItemList` and every schema they
reference, as {"components": {"schemas": {...}}} so their `#/components/schemas/...` references
resolve within the file. Needs PyYAML. Run it again when the spec is updated.
"""

import json
import pathlib
import sys

import yaml

ROOTS = ("Response", "ResponseStreamEvent", "ResponseItemList")
HERE = pathlib.Path(__file__).resolve().parent.parent
SPEC = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "shared/specs/openai-openapi.yaml"
OUT = HERE / "tests/fixtures/reference/openai/responses_schemas.json"
PREFIX = "#/components/schemas/"


def referenced(node, schemas, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(PREFIX):
            name = ref[len(PREFIX):]
            if name not in found:
                found.add(name)
                referenced(schemas[name], schemas, found)
        for value in node.values():
            referenced(value, schemas, found)
    elif isinstance(node, list):
        for value in node:
            referenced(value, schemas, found)


def main():
    schemas = yaml.safe_load(SPEC.read_text())["components"]["schemas"]
    found = set(ROOTS)
    for root in ROOTS:
        referenced(schemas[root], schemas, found)
    kept = {name: schemas[name] for name in sorted(found)}
    OUT.write_text(json.dumps({"components": {"schemas": kept}}, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"{OUT}: {len(kept)} schemas")


if __name__ == "__main__":
    main()
