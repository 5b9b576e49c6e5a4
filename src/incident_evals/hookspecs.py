"""Hooks a project implements in a ``conftest.py`` or a plugin (SPEC §8).

They are added to pytest through ``pytest_addhooks``; this module imports nothing heavy, since it
loads even when ``--incident-evals`` is not given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

    from incident_evals.constraints import ConstraintRegistry
    from incident_evals.variants import VariantRegistry

hookspec = pluggy.HookspecMarker("pytest")


@hookspec(firstresult=True)
def pytest_incident_evals_target(config: pytest.Config) -> Callable[[dict[str, Any]], Any] | None:
    """Replace the raw endpoint with the application itself: return a callable, or None.

    The callable gets each Chat Completions request body the replay builds (the case's system
    prompt with its documents, the conversation, the tools, and on later turns the recorded
    tool answers) and returns the response body, a dict with ``choices[0].message`` (``content``
    and/or ``tool_calls``). Everything else is as with an endpoint: the tool loop, constraints,
    recordings (``--incident-record`` / ``--incident-replay``), reports. It is called from the
    dispatcher's threads (``--incident-concurrency``), so it must be thread-safe. An exception it
    raises, or a reply that is not such a dict, makes the item an error with the cause. Returning
    it disables the embedded model; ``--incident-model`` names the model in requests.

    Over the Responses API (``--incident-api responses``, or a case's ``model.api:
    responses``) the callable gets the Responses request body instead (``instructions``,
    ``input`` items, flat ``tools``, ``store: false``) and returns a Responses response body
    (``output`` items: ``message``, ``function_call``); the replay reads it as it reads an
    endpoint's. One callable serving both can tell them apart by ``"input" in request``.

    Example ``conftest.py``, testing the support bot's own pipeline rather than the bare model::

        from acme_support.bot import answer  # your application: messages in, reply out


        def pytest_incident_evals_target(config):
            def run(request):
                reply = answer(request["messages"], tools=request.get("tools", []))
                return {
                    "model": "acme-support-bot",
                    "choices": [{"message": {"role": "assistant", "content": reply}}],
                }

            return run
    """


@hookspec
def pytest_incident_evals_register_constraints(registry: ConstraintRegistry) -> None:
    """Add project constraints to ``registry``, beside the built-ins (which use it too).

    Called once per folder of case files, with the ``conftest.py`` files that apply to that folder,
    as pytest scopes fixtures: a constraint registered in ``incident_cases/security/conftest.py``
    is known to the cases under ``incident_cases/security/`` only. ``incident-evals validate``
    calls it the same way. A name that is already registered is an error.

    The argument schema is checked when a case loads, before ``build`` runs; ``build`` may raise
    :class:`~incident_evals.constraints.ConstraintArgumentError` for what a schema cannot say.
    The check is a pure function of (transcript, case) returning a
    :class:`~incident_evals.constraints.Verdict`.

    Example ``conftest.py``::

        from incident_evals.constraints import ConstraintType, Verdict


        def _build_max_words(limit, case):
            def check(transcript, case):
                words = len(transcript.final_text.split())
                if words <= limit:
                    return Verdict(True, f"at most {limit} words")
                return Verdict(False, f"at most {limit} words", f"{words} words")

            return check


        def pytest_incident_evals_register_constraints(registry):
            registry.register(
                ConstraintType(
                    name="max_words",
                    argument_schema={"type": "integer", "minimum": 1},
                    build=_build_max_words,
                    description="the output has at most that many words",
                )
            )

    and in a case: ``expect: [{max_words: 120}]``.
    """


@hookspec
def pytest_incident_evals_register_variants(registry: VariantRegistry) -> None:
    """Add project variant generators to ``registry``, beside the built-ins.

    Scoped by folder like :func:`pytest_incident_evals_register_constraints`. A generator is a
    deterministic function of the case, its options and a :class:`~incident_evals.variants.Draw`
    (seeded by run seed, case id, generator name and variant index): use only the draw for
    randomness, so the same seed gives the same variants everywhere. It returns the variant's
    whole input and one line saying what changed.

    Example ``conftest.py``::

        from incident_evals.variants import (
            Generated,
            VariantGenerator,
            last_user_message,
            with_message_content,
        )

        SIGN_OFFS = ("Sent from my iPhone", "-- \nDana Reyes | Finance", "Regards, D.")


        def _sign_off(case, options, draw):
            index, text = last_user_message(case.input)
            sign_off = draw.choice(SIGN_OFFS)
            new_input = with_message_content(case.input, index, f"{text}\n\n{sign_off}")
            return Generated(new_input, f"sign-off added: {sign_off!r}")


        def pytest_incident_evals_register_variants(registry):
            registry.register(
                VariantGenerator(
                    name="sign_off",
                    options_schema={"type": ["object", "null"]},
                    generate=_sign_off,
                    description="an email sign-off after the last user message",
                )
            )

    and in a case: ``variants: {generate: [{sign_off: {count: 2}}]}``, which runs the items
    ``<case id>[sign_off-1]`` and ``<case id>[sign_off-2]``.
    """


@hookspec
def pytest_incident_evals_results(results: dict[str, Any]) -> None:
    """Called once at the end of a run with the results document (SPEC §7), on the xdist
    controller only, whether or not ``--incident-report`` writes it to a file.

    The document is what ``--incident-report`` writes: ``run``, ``items`` (each with its outcome,
    pass rate, failures and, against a baseline, its ``regression``) and ``summary``. Treat it
    as read-only.

    Example ``conftest.py``, posting regressions to a chat channel::

        import json
        import urllib.request


        def pytest_incident_evals_results(results):
            regressed = [
                item["nodeid"]
                for item in results["items"]
                if (item["regression"] or {}).get("status") == "regressed"
            ]
            if regressed:
                body = json.dumps({"text": results["summary"]["line"]}).encode()
                urllib.request.urlopen("https://chat.example.com/hooks/ml-gate", body)
    """
