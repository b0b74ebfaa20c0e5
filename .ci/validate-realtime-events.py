#!/usr/bin/env python3
"""Validate every OpenAI Realtime client frame our session sent against OpenAI's published GA
event models (the `openai` package's `openai.types.realtime`, generated from OpenAI's spec).

Usage: validate-realtime-events.py <dir-or-jsonl>...
The Rust tests (`cargo test --test openai_realtime`) write one JSONL file per test under
`$CARGO_TARGET_DIR/tmp/realtime-client-events/`. Each line must
  * validate (strict mode) as `RealtimeClientEvent`, resolving to the model of its own `type`;
  * carry no key the models do not define (the models tolerate unknown keys, so this is
    checked separately by walking `model_extra`).
Exit 1 on any failure or when no frame was found.
"""
import json
import pathlib
import sys

import pydantic
from openai.types.realtime.realtime_client_event import RealtimeClientEvent

ADAPTER = pydantic.TypeAdapter(RealtimeClientEvent)


def extras(value, path="$"):
    """Paths of keys no model declares."""
    found = []
    if isinstance(value, pydantic.BaseModel):
        for key in (value.model_extra or {}):
            found.append(f"{path}.{key}")
        for name in type(value).model_fields:
            found += extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found += extras(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += extras(item, f"{path}.{key}")
    return found


def files(args):
    for arg in args:
        p = pathlib.Path(arg)
        if p.is_dir():
            yield from sorted(p.glob("*.jsonl"))
        else:
            yield p


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    checked, failures, types = 0, 0, {}
    for path in files(argv[1:]):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{lineno}"
            checked += 1
            try:
                raw = json.loads(line)
                event = ADAPTER.validate_python(raw, strict=True)
            except (ValueError, pydantic.ValidationError) as e:
                failures += 1
                lines = str(e).splitlines()
                print(f"FAIL {where}: " + "\n  ".join(lines[:7]), file=sys.stderr)
                continue
            problems = []
            if getattr(event, "type", None) != raw.get("type"):
                problems.append(f"resolved to {type(event).__name__}")
            problems += [f"unknown key {k}" for k in extras(event)]
            if problems:
                failures += 1
                print(f"FAIL {where}: {'; '.join(problems)}", file=sys.stderr)
            types[raw["type"]] = types.get(raw["type"], 0) + 1
    if checked == 0:
        print("no client frames found (run the openai_realtime tests first)", file=sys.stderr)
        return 1
    summary = ", ".join(f"{k} ×{v}" for k, v in sorted(types.items()))
    print(f"{checked} Realtime client frames checked, {failures} invalid ({summary})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
