"""The llama_cpp.server launcher caps chatml-function-calling's tool-argument generation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from embedded_model import require_local_model
from incident_evals._llama_server import Slot, shared_prefix, take_slot, take_slots
from incident_evals.local_model import LocalModelServer

# An array of free strings is what a small model keeps filling without a cap.
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "send_email",
            "description": "Send an email with attachments.",
            "parameters": {
                "type": "object",
                "properties": {
                    "to": {"type": "string"},
                    "attachment_ids": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["to", "attachment_ids"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    require_local_model()
    with LocalModelServer() as server:
        # A loaded machine is slow; an uncapped generation is caught by its length, not by this.
        yield openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=600)


def test_generations_stop_at_the_requests_max_tokens(client: openai.OpenAI) -> None:
    # Uncapped, SmolLM2 fills the array until the context (thousands of tokens) is full.
    # Plain JSON, as the replay sends it.
    request: dict[str, Any] = {
        "model": LocalModelServer.MODEL_ALIAS,
        "messages": [
            {"role": "system", "content": "You send emails."},
            {"role": "user", "content": "Send the Q3 draft and all annexes to finance."},
        ],
        "tools": TOOLS,
        "tool_choice": "auto",
        "max_tokens": 4,
        "temperature": 0,
    }
    reply = client.chat.completions.create(**request)

    # Whichever the model chose, tool calls or a text answer, each generation stopped at
    # MIN_CAP (32) tokens.
    message = reply.choices[0].message
    generated = [call.function.arguments for call in message.tool_calls or []]
    for text in generated or [message.content or ""]:
        assert len(text) < 250, reply.model_dump_json()


# --- prompts are plain text ------------------------------------------------------------------

#: Arguments with every character HTML escaping changes.
ARGUMENTS = '{"to": "finance-team@acme.example", "subject": "Q3 <draft> & \'annex\'"}'


#: An assistant turn calling the tool, as the handler's template renders it.
CALL = "<|im_start|>assistant\nfunctions.send_email:\n"


class CopyingLlama:
    """Stands in for ``Llama`` under the chatml-function-calling handler: it calls send_email
    with the arguments of the last call shown in its prompt, as a small model copies its own
    history (the first turn, with ``ARGUMENTS``). Every prompt is kept."""

    verbose = False

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def create_completion(self, *, prompt: str, **kwargs: Any) -> dict[str, Any]:
        self.prompts.append(prompt)
        if prompt.endswith(CALL):
            # The arguments: those of the last call in the history, else the first turn's.
            shown = prompt[: -len(CALL)].rsplit(CALL, 1)
            text = shown[1].split("<|im_end|>", 1)[0] if len(shown) == 2 else ARGUMENTS
        elif kwargs.get("stop") == [":"]:
            text = "functions.send_email"  # the tool choice
        else:
            text = ""  # no further call
        return {
            "id": f"cmpl-{len(self.prompts)}",
            "object": "text_completion",
            "created": 0,
            "model": "fake",
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


@pytest.fixture
def launcher_handler() -> Iterator[Any]:
    """The chatml-function-calling handler as the launcher sets it up in the server process;
    this process's llama_cpp is put back afterwards."""
    require_local_model()
    from llama_cpp import llama_chat_format

    from incident_evals import _llama_server

    module: Any = llama_chat_format
    environment = module.ImmutableSandboxedEnvironment
    registry = llama_chat_format.LlamaChatCompletionHandlerRegistry()  # type: ignore[no-untyped-call]
    original = registry.get_chat_completion_handler_by_name(_llama_server.HANDLER)
    _llama_server.render_plain_text()
    _llama_server.install_cap()
    try:
        yield registry.get_chat_completion_handler_by_name(_llama_server.HANDLER)
    finally:
        module.ImmutableSandboxedEnvironment = environment
        registry.register_chat_completion_handler(_llama_server.HANDLER, original, overwrite=True)


@pytest.mark.parametrize("turns", [1, 5])
def test_tool_arguments_survive_turns_unescaped(launcher_handler: Any, turns: int) -> None:
    llama = CopyingLlama()
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": 'You send emails. Quote "exactly".'},
        {"role": "user", "content": "Send <the Q3 draft> & annexes to finance."},
    ]
    arguments = []
    for _ in range(turns):
        reply = launcher_handler(
            llama=llama,
            messages=messages,
            tools=TOOLS,
            tool_choice="auto",
            max_tokens=200,
            temperature=0,
        )
        [call] = reply["choices"][0]["message"]["tool_calls"]
        arguments.append(call["function"]["arguments"])
        # As the replay sends the next turn: the call echoed back, then its recorded answer.
        messages += [
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": '{"status": "sent"}'},
        ]

    assert arguments == [ARGUMENTS] * turns
    # Each later turn showed the model the earlier calls as they were made.
    argument_prompts = [p for p in llama.prompts if p.endswith(CALL)]
    assert len(argument_prompts) == turns
    for turn, prompt in enumerate(argument_prompts):
        assert prompt.count(f"{CALL}{ARGUMENTS}<|im_end|>") == turn
    for prompt in llama.prompts:
        assert "&#" not in prompt
        assert "&amp;" not in prompt
        assert "&lt;" not in prompt
    assert 'Quote "exactly".' in llama.prompts[0]
    assert "Send <the Q3 draft> & annexes to finance." in llama.prompts[0]


@pytest.mark.parametrize(
    ("argv", "slots", "rest"),
    [
        (["x", "--model", "m"], 1, ["x", "--model", "m"]),
        (["x", "--slots", "3", "--model", "m"], 3, ["x", "--model", "m"]),
        (["x", "--model", "m", "--slots", "2"], 2, ["x", "--model", "m"]),
    ],
)
def test_slots_are_taken_off_the_servers_arguments(
    argv: list[str], slots: int, rest: list[str]
) -> None:
    assert take_slots(argv) == slots
    assert argv == rest


@pytest.mark.parametrize("argv", [["x", "--slots"], ["x", "--slots", "two"], ["x", "--slots", "0"]])
def test_bad_slots_end_the_launcher_with_a_message(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        take_slots(argv)
    assert "--slots needs a whole number" in str(info.value.code)


def slot(number: int, *last: str) -> Slot:
    return Slot(number, proxy=None, last=[{"role": "system", "content": text} for text in last])


def test_a_request_gets_the_free_slot_that_served_its_prompt_last() -> None:
    system = {"role": "system", "content": "case A's documents"}
    free = [slot(0, "case A's documents"), slot(1, "case B's documents")]
    prompt = [system, {"role": "user", "content": "a variant of case A"}]

    taken = take_slot(free, prompt)

    assert taken.number == 0
    assert taken.last == prompt  # what its context now holds
    assert [s.number for s in free] == [1]


def test_without_a_shared_prompt_the_most_recently_freed_slot_goes() -> None:
    free = [slot(0, "x"), slot(1, "y"), slot(2, "z")]
    assert take_slot(free, [{"role": "user", "content": "new"}]).number == 2
    assert [s.number for s in free] == [0, 1]


def test_shared_prefix_counts_leading_items() -> None:
    assert shared_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert shared_prefix([], [1]) == 0
    assert shared_prefix([1, 2], [1, 2, 3]) == 2
