"""``check_schema_once``: a case's JSON Schema is checked against its metaschema once per schema
(``incident_evals.schema_refs``)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import SchemaError

from incident_evals.schema_refs import check_schema_once


class Counting:
    """A validator class as jsonschema's ``validator_for`` returns it, counting its checks."""

    checked: ClassVar[list[Any]] = []
    draft: ClassVar[Any] = Draft202012Validator

    @classmethod
    def check_schema(cls, schema: Any) -> None:
        cls.checked.append(schema)
        cls.draft.check_schema(schema)


def counting(draft: Any = Draft202012Validator) -> type[Counting]:
    # A class of its own per test: the remembered schemas are keyed by class.
    return type("Counting", (Counting,), {"checked": [], "draft": draft})


def test_a_schema_passed_once_is_not_checked_again() -> None:
    validator_class = counting()
    first = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    # Equal as JSON: the same schema written in another key order.
    again = {"required": ["a"], "properties": {"a": {"type": "string"}}, "type": "object"}

    check_schema_once(validator_class, first)
    check_schema_once(validator_class, again)

    assert validator_class.checked == [first]


def test_another_schema_is_checked() -> None:
    validator_class = counting()
    check_schema_once(validator_class, {"type": "string"})
    # 1 and 1.0 are one number to Python, two texts to JSON: checked apart.
    check_schema_once(validator_class, {"type": "string", "maxLength": 1})
    check_schema_once(validator_class, {"type": "string", "maxLength": 1.0})

    assert len(validator_class.checked) == 3


def test_an_invalid_schema_gives_its_error_every_time() -> None:
    validator_class = counting()
    schema = {"type": "object", "properties": {"a": {"type": "no-such-type"}}}
    with pytest.raises(SchemaError) as expected:
        Draft202012Validator.check_schema(schema)

    for _ in range(2):
        with pytest.raises(SchemaError) as raised:
            check_schema_once(validator_class, schema)
        assert raised.value.message == expected.value.message
        assert raised.value.json_path == expected.value.json_path
    assert len(validator_class.checked) == 2


def test_a_schema_passed_under_one_draft_is_checked_under_another() -> None:
    # Valid under draft-07, not under 2020-12: `items` as a list was replaced by prefixItems,
    # and 2020-12's metaschema wants a schema there.
    schema: dict[str, Any] = {"type": "array", "items": [{"type": "string"}]}
    draft7, draft2020 = counting(Draft7Validator), counting()

    check_schema_once(draft7, schema)
    with pytest.raises(SchemaError):
        check_schema_once(draft2020, schema)

    assert draft7.checked == [schema]
    assert draft2020.checked == [schema]


def test_a_schema_that_is_not_json_is_checked_every_time() -> None:
    validator_class = counting()
    schema = {"type": "string", "default": {"a set", "is not JSON"}}

    check_schema_once(validator_class, schema)
    check_schema_once(validator_class, schema)

    assert len(validator_class.checked) == 2
