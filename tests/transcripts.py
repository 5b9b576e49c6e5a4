"""Cases and transcripts for constraint tests, built the way a replay builds them.

``load_case`` goes through the real loader (YAML text, schema, load-time cross-checks), so a
test of a constraint also exercises how a user writes it. ``transcript`` builds what the replay
would have recorded for a given final text and tool calls.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from incident_evals.case import CaseError, LoadedCase, load_file
from incident_evals.constraints import ConstraintRegistry, Verdict, builtin_registry
from incident_evals.replay import parse_arguments
from incident_evals.transcript import ToolCall, Transcript
from incident_evals.variants import VariantRegistry

CASE_HEADER = """\
id: INC-test
incident: {category: security, severity: major}
"""


def load_case(
    directory: Path,
    body: str,
    *,
    registry: ConstraintRegistry | None = None,
    variants: VariantRegistry | None = None,
    name: str = "case.yaml",
) -> LoadedCase:
    """Load one case written as YAML (``id`` and ``incident`` are added unless given)."""
    text = textwrap.dedent(body)
    if not text.startswith("id:"):
        text = CASE_HEADER + text
    path = directory / name
    path.write_text(text, encoding="utf-8")
    [result] = load_file(path, directory, registry or builtin_registry(), variants)
    if isinstance(result, CaseError):
        raise result
    return result


def load_error(
    directory: Path,
    body: str,
    *,
    registry: ConstraintRegistry | None = None,
    variants: VariantRegistry | None = None,
) -> str:
    """The one-line error a broken case gives (relative to ``directory``)."""
    try:
        load_case(directory, body, registry=registry, variants=variants)
    except CaseError as error:
        return error.render(directory)
    raise AssertionError("the case loaded without an error")


def tool_call(name: str, arguments: Any = None, *, raw: str | None = None) -> ToolCall:
    """A call as the replay records it: ``raw`` overrides the JSON text (for malformed ones)."""
    text = raw if raw is not None else json.dumps(arguments or {}, ensure_ascii=False)
    parsed, error = parse_arguments(text)
    return ToolCall(
        id=f"call_{name}", name=name, arguments_raw=text, arguments=parsed, arguments_error=error
    )


def transcript(text: str = "", *calls: ToolCall) -> Transcript:
    return Transcript(final_text=text, tool_calls=list(calls))


def verdicts(loaded: LoadedCase, result: Transcript) -> list[Verdict]:
    """Every constraint of the case judged on ``result``, in the order of ``expect``."""
    return [constraint.judge(result, loaded.case) for constraint in loaded.constraints]
