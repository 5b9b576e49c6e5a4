"""A JSON Schema that project code registers is never fetched from: a constraint's argument
schema with a remote ``$ref`` is refused by name when a case uses the constraint, and a local
HTTP server that counts requests gets none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hostile.test_case_files import RefServer
from incident_evals.case import IncidentCase
from incident_evals.constraints import (
    Check,
    ConstraintArgumentError,
    ConstraintType,
    Verdict,
    builtin_registry,
)
from transcripts import load_error


@pytest.fixture
def ref_server() -> Iterator[RefServer]:
    with RefServer() as server:
        yield server


def _build(argument: Any, case: IncidentCase) -> Check:
    return lambda transcript, case: Verdict(True)


def _remote(url: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"domain": {"$ref": f"{url}/domain.json"}},
        "required": ["domain"],
    }


def test_a_case_using_a_constraint_whose_schema_refers_to_a_url_does_not_load(
    tmp_path: Path, ref_server: RefServer
) -> None:
    registry = builtin_registry().copy()
    registry.register(ConstraintType("recipient", _remote(ref_server.url), _build))

    error = load_error(
        tmp_path,
        """\
        input: {messages: [{role: user, content: hi}]}
        expect:
        - recipient: {domain: acme.example}
        """,
        registry=registry,
    )

    assert error == (
        "case.yaml:5: expect[0].recipient: constraint 'recipient' has an invalid argument_schema "
        f'(at $.properties.domain.$ref: $ref "{ref_server.url}/domain.json" is not local; only '
        '"#/..." references inside the schema are allowed); fix its registration'
    )
    assert ref_server.hits == 0


def test_the_argument_validator_is_refused_before_anything_is_fetched(
    ref_server: RefServer,
) -> None:
    registry = builtin_registry().copy()
    registry.register(ConstraintType("recipient", _remote(ref_server.url), _build))

    with pytest.raises(ConstraintArgumentError, match="is not local"):
        registry.argument_validator("recipient")
    assert ref_server.hits == 0
