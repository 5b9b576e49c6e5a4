"""--incident-generator-model / --incident-generator-base-url: paraphrases and translations
written by a model, cached; without one, paraphrase uses offline rules and translation errors."""

from __future__ import annotations

from typing import Any

import pytest

from case_files import case_data, write_case
from chat_server import ChatServer, Reply

QUESTION = "Can I get a refund 40 days after purchase?"


def is_generator_request(body: dict[str, Any]) -> bool:
    first = body["messages"][0]
    return first["role"] == "system" and (
        "Rewrite" in first["content"] or "Translate" in first["content"]
    )


def script(body: dict[str, Any]) -> Reply:
    if is_generator_request(body):
        instruction = body["messages"][0]["content"]
        version = "2" if "version 2" in instruction else "1"
        if "Translate" in instruction:
            return Reply(content=f'"¿Puedo obtener un reembolso 40 días después? (v{version})"')
        return Reply(content=f"Is a refund possible 40 days after I bought it? (v{version})")
    return Reply(content="Refunds are possible within 30 days.")


@pytest.fixture
def catalogue(pytester: pytest.Pytester, chat_server: ChatServer) -> None:
    write_case(
        pytester.path,
        "incident_cases/refund.yaml",
        case_data(
            "INC-1",
            input={"messages": [{"role": "user", "content": QUESTION}]},
            expect=[{"contains": "30 days"}],
            variants={
                "generate": [
                    {"paraphrase": {"count": 2}},
                    {"translation": {"language": "Spanish"}},
                ]
            },
        ),
    )
    chat_server.set_script(script)


def target_questions(server: ChatServer) -> list[str]:
    return sorted(
        str(r.body["messages"][-1]["content"])
        for r in server.requests
        if not is_generator_request(r.body)
    )


@pytest.mark.usefixtures("catalogue")
def test_the_generator_model_writes_paraphrases_and_translations_once(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    args = [
        "--incident-evals",
        f"--incident-base-url={chat_server.base_url}",
        "--incident-model=target",
        "--incident-generator-model=writer",
    ]

    result = pytester.runpytest(*args, "-v")

    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            f"incident-evals: generator {chat_server.base_url} (the endpoint under test), "
            "model writer"
        ]
    )
    generated = [r.body for r in chat_server.requests if is_generator_request(r.body)]
    assert [(body["model"], body["messages"][-1]["content"]) for body in generated] == [
        ("writer", QUESTION)
    ] * 3
    assert target_questions(chat_server) == [
        QUESTION,
        "Is a refund possible 40 days after I bought it? (v1)",
        "Is a refund possible 40 days after I bought it? (v2)",
        "¿Puedo obtener un reembolso 40 días después? (v1)",
    ]

    pytester.runpytest(*args).assert_outcomes(passed=4)
    # The second run found every generated text in pytest's cache.
    assert sum(is_generator_request(r.body) for r in chat_server.requests) == 3


@pytest.mark.usefixtures("catalogue")
def test_without_a_generator_model_paraphrase_is_offline_and_translation_an_error(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    result = pytester.runpytest(*endpoint_args, "--collect-only", "-q")

    result.stdout.fnmatch_lines(
        [
            "  incident_cases/refund.yaml:16: variants.generate: translation needs a generator "
            "model (--incident-generator-model; --generator-model for incident-evals variants), "
            "or its variants frozen into the case with incident-evals variants --freeze",
        ]
    )
    # The offline paraphrases still run: only the translation entry is missing.
    result.stdout.fnmatch_lines(
        [
            "incident_cases/refund.yaml::INC-1",
            "incident_cases/refund.yaml::INC-1[[]paraphrase-1]",
            "incident_cases/refund.yaml::INC-1[[]paraphrase-2]",
        ]
    )


@pytest.mark.usefixtures("catalogue")
def test_a_generator_model_with_no_endpoint_at_all_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest(
        "--incident-evals", "--incident-generator-model=writer", "--collect-only"
    )

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--incident-generator-model needs an endpoint: pass --incident-generator-base-url "
            "URL (ini incident_generator_base_url), or configure the endpoint under test"
        ]
    )
