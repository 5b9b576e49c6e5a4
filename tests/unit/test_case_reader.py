"""The loader's YAML reader (``incident_evals.case._Reader``) against PyYAML's own loader.

The reader builds data straight from parser events, remembering each plain scalar's tag by its
text and each value's line. Here its data is PyYAML's safe loader's (timestamps kept as written),
and its lines are the lines of the nodes PyYAML's composer builds, on the example catalogue and
on documents that repeat every kind of plain scalar, so that a remembered tag that differed from
the resolver's would show.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from incident_evals.case import _Lines, _Reader

ROOT = Path(__file__).resolve().parents[2]


class _TextTimestamps(yaml.SafeLoader):
    """PyYAML's safe loader, with timestamps kept as the text written (as the reader does)."""


def _timestamp_text(loader: _TextTimestamps, node: yaml.ScalarNode) -> Any:
    return loader.construct_scalar(node)


_TextTimestamps.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_text)

#: Plain scalars of every core-schema type, and texts that only look like one.
SCALARS = [
    "1", "-7", "+3", "0x1F", "0o17", "017", "1_000", "1:30", "190:20:30", "3.5", "-.5", "1e3",
    "6.8523015e+5", "1_000.5", "true", "True", "TRUE", "false", "yes", "No", "on", "OFF", "y",
    "n", "null", "Null", "~", "", "2025-11-02", "2025-11-02T14:30:00Z", "2025-11-02 14:30",
    "<<x", "abc", "1.2.3", "0x", "+", ".", "e3", "truely", "nullish", "12 days",
]  # fmt: skip


def _scalars_document() -> str:
    """Every scalar of SCALARS as a value, twice (the second read hits the remembered tag),
    plain and quoted, in mappings and lists."""
    lines = ["plain:"]
    lines += [f"  k{i}: {text}" for i, text in enumerate(SCALARS)]
    lines += ["again:"]
    lines += [f"  - {text}" if text else "  -" for text in SCALARS]
    lines += ["quoted:"]
    lines += [f"  - '{text}'" for text in SCALARS]
    lines += ["keys:"]
    lines += [f"  {text}: {i}" for i, text in enumerate(SCALARS) if _is_str(text)]
    return "\n".join(lines) + "\n"


def _is_str(text: str) -> bool:
    # A timestamp is not a key: its text is kept, but it is not written as a string.
    return bool(text) and isinstance(yaml.safe_load(text), str)


ANCHORS = """\
base: &base {a: 1, b: [x, y]}
merged:
  <<: *base
  b: 2
listed:
  <<: [*base, {c: 3}]
again: *base
---
- &s yes
- *s
- {k: *s}
"""


def _sources() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "incident_cases").rglob("*.yaml")):
        yield str(path.relative_to(ROOT)), path.read_text("utf-8")
    yield "scalars", _scalars_document()
    yield "anchors", ANCHORS


def _read(text: str) -> list[tuple[Any, _Lines]]:
    documents = []
    for document in _Reader(text, Path("case.yaml")).documents():
        assert isinstance(document, tuple), str(document)
        documents.append(document)
    return documents


@pytest.mark.parametrize(("name", "text"), list(_sources()), ids=[n for n, _ in _sources()])
def test_the_reader_reads_what_pyyaml_loads(name: str, text: str) -> None:
    expected = list(yaml.load_all(text, Loader=_TextTimestamps))
    assert [data for data, _ in _read(text)] == expected
    # Types too: 1 == 1.0 == True, so equal data could still hold another type.
    assert [_types(data) for data, _ in _read(text)] == [_types(data) for data in expected]


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value).__name__


def _node_lines(node: yaml.Node, at: tuple[str | int, ...], out: dict[Any, int]) -> None:
    """The line of each path as the loader reports it: a field at its key, an item at itself."""
    out.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out.setdefault((*at, key.value), key.start_mark.line + 1)
            _node_lines(value, (*at, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*at, index), out)


@pytest.mark.parametrize(("name", "text"), [s for s in _sources() if s[0] != "anchors"])
def test_every_value_has_the_line_of_its_node(name: str, text: str) -> None:
    # Without anchors: PyYAML's composer gives an alias the node, and the line, of its anchor.
    composed = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    for (_, lines), node in zip(_read(text), composed, strict=True):
        expected: dict[Any, int] = {}
        _node_lines(node, (), expected)
        assert lines.by_path == expected
