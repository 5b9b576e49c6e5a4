"""Recording and offline replay of exchanges (``incident_evals.recording``)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from chat_server import ChatServer, Reply
from incident_evals.case import (
    CaseInput,
    Incident,
    IncidentCase,
    RecordedResponse,
    Runs,
    Tool,
)
from incident_evals.client import ChatClient, Endpoint, EndpointError
from incident_evals.recording import (
    RecordingCompleter,
    RecordingMiss,
    RecordingStore,
    request_key,
)
from incident_evals.replay import replay

API_KEY = "sk-test-do-not-store-4f1c9e"

REQUEST: dict[str, Any] = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "Be exact. Ünïcode stays readable."},
        {"role": "user", "content": "hi"},
    ],
    "temperature": 0.2,
    "max_tokens": 64,
}
RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "model": "served",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


class FakeCompleter:
    """Answers every request with the same reply, counting the calls."""

    def __init__(self, response: dict[str, Any] = RESPONSE, latency: float = 0.123456) -> None:
        self.response = response
        self.latency = latency
        self.requests: list[dict[str, Any]] = []

    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        self.requests.append(request)
        return self.response, self.latency


def make_case() -> IncidentCase:
    return IncidentCase(
        id="INC-1",
        incident=Incident(category="autonomy", severity="major"),
        input=CaseInput(
            messages=({"role": "user", "content": "Find order 7."},),
            tools=(
                Tool(
                    name="lookup",
                    responses=(
                        RecordedResponse({"error": "not found"}),
                        RecordedResponse({"id": 7, "status": "shipped"}, when={"q": "7"}),
                    ),
                ),
            ),
        ),
        expect=(),
        path=Path("case.yaml"),
        line=1,
        model={"name": "recorded-only", "temperature": 0.2, "max_tokens": 64},
        runs=Runs(max_turns=3),
    )


def all_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


# -- keys ------------------------------------------------------------------------------------


def test_key_is_stable_across_calls_and_dict_orderings() -> None:
    reordered = dict(reversed(list(REQUEST.items())))
    reordered["messages"] = [dict(reversed(list(m.items()))) for m in REQUEST["messages"]]

    key = request_key(REQUEST, 0)

    assert key == request_key(REQUEST, 0) == request_key(reordered, 0)
    assert len(key) == 20
    assert all(c in "0123456789abcdef" for c in key)


def test_key_names_the_sample_and_the_request_but_not_the_model() -> None:
    assert request_key(REQUEST, 0) != request_key(REQUEST, 1)
    assert request_key(REQUEST, 0) == request_key({**REQUEST, "model": "other"}, 0)
    assert request_key(REQUEST, 0) == request_key(
        {k: v for k, v in REQUEST.items() if k != "model"}, 0
    )
    assert request_key(REQUEST, 0) != request_key({**REQUEST, "temperature": 0.3}, 0)


# -- the store -------------------------------------------------------------------------------


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)

    path = store.save("INC-1", 0, REQUEST, RESPONSE, 0.123456)

    assert path == tmp_path / "INC-1" / f"{request_key(REQUEST, 0)}.json"
    assert store.load("INC-1", 0, REQUEST) == {
        "case_id": "INC-1",
        "sample": 0,
        "model": "m",
        "request": REQUEST,
        "response": RESPONSE,
        "latency_s": 0.123,
    }
    assert store.load("INC-1", 1, REQUEST) is None
    assert store.load("INC-2", 0, REQUEST) is None


def test_file_is_sorted_indented_and_stable(tmp_path: Path) -> None:
    path = RecordingStore(tmp_path).save("INC-1", 0, REQUEST, RESPONSE, 1.0)

    raw = path.read_bytes()
    text = raw.decode("utf-8")

    assert text.endswith("}\n")
    assert text.startswith('{\n  "case_id": "INC-1",\n')
    assert "Ünïcode" in text  # readable in a diff, not \u-escaped
    record = json.loads(text)
    assert list(record) == sorted(record)
    redumped = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert redumped.encode("utf-8") == raw


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    for sample in range(3):
        store.save("INC-1", sample, REQUEST, RESPONSE, 0.5)
    # Overwriting an existing recording goes through the same rename.
    store.save("INC-1", 0, REQUEST, {**RESPONSE, "id": "chatcmpl-2"}, 0.5)

    files = all_files(tmp_path)
    assert len(files) == 3
    assert not [f for f in files if f.name.startswith(".tmp-")]
    assert store.load("INC-1", 0, REQUEST)["response"]["id"] == "chatcmpl-2"  # type: ignore[index]


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)

    with pytest.raises(TypeError):
        store.save("INC-1", 0, REQUEST, {"not json": object()}, 0.5)

    assert all_files(tmp_path) == []


@pytest.mark.parametrize("case_id", ["..", ".", "a/b", "../escape", "", "INC 1"])
def test_case_ids_that_are_not_one_folder_name_are_refused(tmp_path: Path, case_id: str) -> None:
    with pytest.raises(ValueError, match="cannot name a recordings folder"):
        RecordingStore(tmp_path).save(case_id, 0, REQUEST, RESPONSE, 0.5)


def test_concurrent_saves_write_only_valid_json(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for round_ in range(25):
                # Every worker writes the shared key and one of its own, in the same folders.
                store.save("SHARED", 0, REQUEST, RESPONSE, 0.5)
                store.save("SHARED", 1 + worker, REQUEST, RESPONSE, round_)
                store.save(f"OWN-{worker}", round_, REQUEST, RESPONSE, 0.5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    files = all_files(tmp_path)
    assert len(files) == 1 + 8 + 8 * 25
    assert not [f for f in files if f.name.startswith(".tmp-")]
    for path in files:
        assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)


# -- the completer ---------------------------------------------------------------------------


def test_record_mode_calls_inner_once_per_request_and_writes_a_file(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    inner = FakeCompleter()
    completer = RecordingCompleter(store, "INC-1", 0, inner)
    second = {**REQUEST, "temperature": 0.9}

    assert completer.complete(REQUEST) == (RESPONSE, 0.123456)
    assert completer.complete(second) == (RESPONSE, 0.123456)

    assert inner.requests == [REQUEST, second]
    assert len(all_files(tmp_path)) == 2
    assert store.load("INC-1", 0, second) is not None


def test_replay_mode_answers_from_the_store(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    store.save("INC-1", 0, REQUEST, RESPONSE, 0.123456)

    # The model is checked against the file, not the key: a replay may configure none.
    for model in (None, "m"):
        completer = RecordingCompleter(store, "INC-1", 0, None, model=model)
        assert completer.complete({**REQUEST, "model": "whatever"}) == (RESPONSE, 0.123)


def test_replay_miss_names_case_sample_directory_and_how_to_re_record(tmp_path: Path) -> None:
    directory = tmp_path / "recordings"
    completer = RecordingCompleter(RecordingStore(directory), "INC-1", 0, None)

    with pytest.raises(RecordingMiss) as caught:
        completer.complete(REQUEST)

    shown = f"{directory}{os.sep}"
    assert str(caught.value) == (
        f"no recording for case INC-1 (sample 0) in {shown}: the request differs from every "
        f"recorded one or was never recorded; re-record with --incident-record {shown}"
    )
    # The session reports it like any other infrastructure error: the item errors.
    assert isinstance(caught.value, EndpointError)
    assert caught.value.attempts == 1
    assert "attempt" not in str(caught.value)


def test_replay_of_another_model_is_a_miss(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    store.save("INC-1", 0, REQUEST, RESPONSE, 0.5)
    completer = RecordingCompleter(store, "INC-1", 0, None, model="other")

    with pytest.raises(RecordingMiss, match=r"\(sample 0\) .*: recorded for model m, not other;"):
        completer.complete({**REQUEST, "model": "other"})


def test_a_recording_that_no_longer_matches_its_request_is_a_miss(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    path = store.save("INC-1", 0, REQUEST, RESPONSE, 0.5)
    record = json.loads(path.read_text(encoding="utf-8"))
    record["request"]["temperature"] = 1.5
    path.write_text(json.dumps(record), encoding="utf-8")

    with pytest.raises(RecordingMiss, match="does not match the request"):
        RecordingCompleter(store, "INC-1", 0, None).complete(REQUEST)

    path.write_text("<<<<<<< HEAD\n", encoding="utf-8")
    with pytest.raises(RecordingMiss, match=r"cannot read .*INC-1"):
        RecordingCompleter(store, "INC-1", 0, None).complete(REQUEST)


# -- end to end ------------------------------------------------------------------------------


def test_a_recorded_tool_loop_replays_offline_identically(
    tmp_path: Path, chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    case = make_case()
    chat_server.set_script(
        [
            Reply(
                tool_calls=[
                    {"name": "lookup", "arguments": {"q": "7"}},
                    {"name": "lookup", "arguments": "{not json"},
                ],
                model="served-1",
            ),
            Reply(content="Order 7 has shipped.", model="served-2"),
        ]
    )
    store = RecordingStore(tmp_path / "recordings")
    client = ChatClient(Endpoint(chat_server.base_url, "m", "test"), retries=0)
    try:
        recorded = replay(case, RecordingCompleter(store, "INC-1", 0, client), "m")
    finally:
        client.close()
    seen = len(chat_server.requests)
    chat_server.stop()

    replayed = replay(case, RecordingCompleter(store, "INC-1", 0, None, model="m"), "m")

    assert seen == 2
    assert len(chat_server.requests) == seen
    assert recorded.final_text == replayed.final_text == "Order 7 has shipped."
    assert [c.to_json() for c in replayed.tool_calls] == [c.to_json() for c in recorded.tool_calls]
    assert [c.output for c in replayed.tool_calls] == [{"id": 7, "status": "shipped"}, None]
    assert replayed.tool_calls[1].arguments_error is not None
    assert [ex.request for ex in replayed.exchanges] == [ex.request for ex in recorded.exchanges]
    assert [ex.response for ex in replayed.exchanges] == [ex.response for ex in recorded.exchanges]
    assert (replayed.model, replayed.usage) == (recorded.model, recorded.usage)
    # The key reached the server, and no recording holds it.
    assert chat_server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    files = all_files(store.directory)
    assert len(files) == 2
    for path in files:
        assert API_KEY not in path.read_text(encoding="utf-8")

    # Repeats are distinct answers, not one cached one: sample 1 was never recorded.
    with pytest.raises(RecordingMiss, match=r"case INC-1 \(sample 1\)"):
        replay(case, RecordingCompleter(store, "INC-1", 1, None), "m")


def test_a_store_with_the_runs_scrubber_writes_no_credential_and_still_replays(
    tmp_path: Path,
) -> None:
    from incident_evals.secrets import Scrubber

    scrubber = Scrubber([(API_KEY, "api key")])
    store = RecordingStore(tmp_path, scrub=scrubber.credentials)
    # An endpoint that echoed the key, then a request that carries the echo back (a tool loop).
    echoed = {**RESPONSE, "choices": [{"index": 0, "message": {"content": f"key {API_KEY}"}}]}
    request = {
        **REQUEST,
        "messages": [*REQUEST["messages"], {"role": "assistant", "content": f"key {API_KEY}"}],
    }

    path = store.save("INC-1", 0, request, echoed, 0.5)

    assert API_KEY[:10] not in path.read_text(encoding="utf-8")
    response, latency = RecordingCompleter(store, "INC-1", 0, None).complete(request)
    assert response["choices"][0]["message"]["content"] == "key [redacted: api key]"
    assert latency == 0.5


def test_the_api_is_part_of_the_key_and_a_recording_of_one_api_never_answers_the_other(
    tmp_path: Path,
) -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    # Chat keys are what they were before the Responses API, so older recordings still replay.
    assert request_key(request, 0) == request_key(request, 0, "chat")
    assert request_key(request, 0, "responses") != request_key(request, 0)
    chat = RecordingStore(tmp_path)
    responses = RecordingStore(tmp_path, api="responses")
    written = chat.save("INC-1", 0, request, {"choices": []}, 0.1)
    assert "api" not in json.loads(written.read_text())
    assert responses.load("INC-1", 0, request) is None
    with pytest.raises(RecordingMiss, match="the request differs from every recorded one"):
        RecordingCompleter(responses, "INC-1", 0, None).complete(request)
    again = responses.save("INC-1", 0, request, {"output": []}, 0.1)
    assert json.loads(again.read_text())["api"] == "responses"
    again.unlink()

    # A Chat recording moved under a Responses key (a hand edit) is named as such.
    moved = responses.path("INC-1", 0, request)
    moved.parent.mkdir(parents=True, exist_ok=True)
    moved.write_text(written.read_text())
    with pytest.raises(RecordingMiss, match="recorded over the chat API, not responses"):
        RecordingCompleter(responses, "INC-1", 0, None).complete(request)
