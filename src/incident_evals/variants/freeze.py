"""``incident-evals variants CASE --freeze``: model-made variants written into the case file.

Paraphrases and translations written by a generator model are not reproducible from a seed, so
they are reviewed once and kept in the case as hand-written ``variants.cases`` entries with the
same ids (``paraphrase-1``), and their ``variants.generate`` entries are removed: a later run needs
no generator model, and baselines still compare the same variant ids.

The file is edited as text, at the lines PyYAML's composer reports, so comments and formatting
elsewhere stay as they are. Only block-style ``variants`` can be edited (flow style, ``{...}``,
is an error asking for block style). The edited file is loaded again before it is written: an
edit that would not load is never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from incident_evals.variants import Variant

__all__ = ["FreezeError", "freeze_text"]

INDENT_STEP = 2


class FreezeError(Exception):
    pass


@dataclass
class _Edit:
    #: 0-based line range ``[start, end)`` replaced by ``lines``.
    start: int
    end: int
    lines: list[str]


def _node_lines(node: Any, lines: list[str]) -> tuple[int, int]:
    """The 0-based ``[start, end)`` lines a block node occupies.

    A block node ends where the next token starts: at the start of a line, or after the
    indentation (and ``- ``) of the next entry, which is not part of the node.
    """
    line, column = node.end_mark.line, node.end_mark.column
    before = lines[line][:column] if line < len(lines) else ""
    end = line if before.strip() in ("", "-") else line + 1
    start = node.start_mark.line
    # Comments and blank lines after the last entry belong to what follows, not to the node.
    while end - 1 > start and (
        not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
    ):
        end -= 1
    return start, end


def _key(mapping: Any, name: str) -> tuple[Any, Any] | None:
    return next(((k, v) for k, v in mapping.value if getattr(k, "value", None) == name), None)


def _case_node(source: str, case_id: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for node in yaml.compose_all(source, Loader=loader):
        if isinstance(node, yaml.MappingNode):
            found = _key(node, "id")
            if found is not None and found[1].value == case_id:
                return node
    raise FreezeError(f"no case {case_id!r} in the file")


def _render_entries(variants: list[Variant], note: str, indent: int) -> list[str]:
    import yaml

    lines: list[str] = []
    for variant in variants:
        entry: dict[str, Any] = {"name": variant.id, "messages": list(variant.case.input.messages)}
        dumped = yaml.safe_dump(
            [entry], sort_keys=False, allow_unicode=True, default_flow_style=False, width=96
        )
        made = variant.provenance
        lines.append(" " * indent + f"# {variant.id}: {note}; {made.description}"[:200])
        lines.extend(" " * indent + line for line in dumped.splitlines())
    return lines


def freeze_text(
    source: str, case_id: str, variants: list[Variant], generators: set[str], note: str
) -> str:
    """``source`` with ``variants`` added to ``variants.cases`` of case ``case_id`` and the
    ``variants.generate`` entries of ``generators`` removed."""
    import yaml

    case = _case_node(source, case_id)
    found = _key(case, "variants")
    if found is None or not isinstance(found[1], yaml.MappingNode):
        raise FreezeError("the case has no variants mapping to freeze into")
    variants_key, variants_node = found
    if variants_node.flow_style:
        raise FreezeError("`variants` is written in flow style ({...}); write it in block style")
    key_indent = variants_node.value[0][0].start_mark.column
    lines = source.splitlines()
    edits: list[_Edit] = []

    generate = _key(variants_node, "generate")
    if generate is not None:
        generate_key, items = generate
        if items.flow_style:
            raise FreezeError(
                "`variants.generate` is in flow style ([...]); write it in block style"
            )
        frozen_items = [
            item
            for item in items.value
            if isinstance(item, yaml.MappingNode) and item.value[0][0].value in generators
        ]
        if len(frozen_items) == len(items.value):
            edits.append(_Edit(generate_key.start_mark.line, _node_lines(items, lines)[1], []))
        else:
            edits.extend(_Edit(*_node_lines(item, lines), []) for item in frozen_items)

    cases = _key(variants_node, "cases")
    if cases is not None and cases[1].value:
        sequence = cases[1]
        if sequence.flow_style:
            raise FreezeError("`variants.cases` is in flow style ([...]); write it in block style")
        item_indent = sequence.value[0].start_mark.column - INDENT_STEP
        end = _node_lines(sequence, lines)[1]
        edits.append(_Edit(end, end, _render_entries(variants, note, item_indent)))
    else:
        end = _node_lines(variants_node, lines)[1]
        if cases is not None:  # `cases:` with nothing under it
            edits.append(_Edit(cases[0].start_mark.line, cases[0].start_mark.line + 1, []))
        rendered = _render_entries(variants, note, key_indent + INDENT_STEP)
        edits.append(_Edit(end, end, [" " * key_indent + "cases:", *rendered]))

    # Bottom-up, so earlier line numbers stay valid; an insertion goes after a removal that
    # ends where it starts.
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        lines[edit.start : edit.end] = edit.lines
    del variants_key
    return "\n".join(lines) + "\n"
