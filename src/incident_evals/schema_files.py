"""The JSON Schemas shipped in the package (``schemas/*.schema.json``), read once."""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["load_schema"]


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema shipped in the package (``case``, ``results``); shared, so never edit
    the result."""
    import json
    from importlib.resources import files

    text = files("incident_evals").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
