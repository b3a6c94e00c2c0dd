"""A model's JSON answer read from its text: bare, fenced, or embedded in prose, then checked
against the step's JSON schema. Python and shell steps read their ``output: json`` the same way."""

from __future__ import annotations

import json
import re
from typing import Any

from gorgon_nb.errors import OutputFormatError

__all__ = ["parse_json_answer"]

_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)\n\s*```", re.DOTALL)


def parse_json_answer(text: str, schema: dict[str, Any] | None) -> Any:
    """The JSON in an answer (bare, fenced, or embedded in prose), validated against ``schema``."""
    candidates = [text.strip()]
    candidates += [m.group(1) for m in _FENCE.finditer(text)]
    value: Any = None
    for candidate in candidates:
        try:
            value = json.loads(candidate)
            break
        except json.JSONDecodeError:
            continue
    else:
        value = _embedded_json(text)
    if schema:
        import jsonschema

        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
            raise OutputFormatError(f"the JSON does not match the schema at {where}: {exc.message}") from None
        except jsonschema.SchemaError as exc:
            raise OutputFormatError(f"the step's schema is not a valid JSON schema: {exc.message}") from None
    return value


def _embedded_json(text: str) -> Any:
    decoder = json.JSONDecoder()
    for index, char in enumerate(text):
        if char in "{[":
            try:
                return decoder.raw_decode(text, index)[0]
            except json.JSONDecodeError:
                continue
    raise OutputFormatError("the answer is not valid JSON")
