"""promptfoo results (format ``promptfoo``) -> model calls.

Reads what ``promptfoo eval -o results.json`` and ``promptfoo export`` write (``{"evalId",
"results": {"version", "results": [...]}, "config"}``), the bare summary (``{"version",
"results": [...], "stats"}``) and ``promptfoo eval -o results.jsonl`` (one result a line). Each
result (one test case on one prompt and one provider) is one model call:

- ``prompt.raw``, the rendered prompt: a chat prompt is the JSON text of its messages, any other
  text is one user message (as promptfoo's OpenAI provider sends it);
- ``response.output``: the answer's text, or its tool calls (an OpenAI ``tool_calls`` array, the
  assistant message holding them, or the JSON text of either);
- ``provider.id`` (``openai:gpt-4o-mini``, ``openai:chat:gpt-4o``) names the model; the provider's
  options in ``config`` (and the prompt's own ``config``) give the tools and request parameters.

Whether promptfoo passed the result, its score and the grader's reason go in the call's guesses,
so that ``incident-evals calls`` shows which results failed. Headers, API keys and the provider's
raw response are not read; error and grader texts are scrubbed of credentials.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from incident_evals.json_types import a_json_type
from incident_evals.replay import REQUEST_PARAMS
from incident_evals.secrets import Scrubber, placeholder
from incident_evals.traces import ModelCall, Source, ToolCallRecord, TraceError
from incident_evals.traces.formats import Document, first_record, records
from incident_evals.traces.openai_chat import _conversation, _record_call

__all__ = ["NAME", "detect", "read"]

NAME = "promptfoo"

#: The part of a provider id that names the API, not the model (``openai:chat:gpt-4o``).
_API_KINDS = frozenset({"chat", "completion", "responses", "messages", "assistant", "realtime"})
#: How much of a grader's reason or an error a guess line keeps.
_SHOWN = 200
#: A provider key written bare in an error ("Incorrect API key provided: sk-...").
_BARE_KEY = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_-]{16,}")
#: Provider options that hold a key.
_KEY_OPTIONS = ("apiKey", "api_key")


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def detect(document: Document) -> bool:
    if document.kind == "jsonl":
        return _is_result(first_record(document))
    if document.kind != "json":
        return False
    rows = _rows_of(document.value)
    if rows is not None:
        return not rows or _is_result(rows[0])
    return isinstance(document.value, list) and _is_result(first_record(document))


def _is_result(record: Any) -> bool:
    """A promptfoo ``EvaluateResult``: a rendered prompt and the provider or its response."""
    prompt = record.get("prompt") if isinstance(record, dict) else None
    return (
        isinstance(prompt, dict)
        and "raw" in prompt
        and ("provider" in record or "response" in record)
        and ("success" in record or "testCase" in record or "gradingResult" in record)
    )


def _rows_of(value: Any) -> list[Any] | None:
    """The results of an output file or export (``results.results``) or of a bare summary
    (``results`` beside ``stats``); ``None`` when ``value`` is neither."""
    if not isinstance(value, dict):
        return None
    results = value.get("results")
    if isinstance(results, list) and "version" in value and "stats" in value:
        return results
    if not isinstance(results, dict):
        return None
    nested = results.get("results")
    if isinstance(nested, list) and (
        "evalId" in value or "version" in results or "config" in value
    ):
        return nested
    return None


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read(document: Document, file: str) -> list[ModelCall]:
    if document.kind not in ("json", "jsonl"):
        raise TraceError(f"{file}: not promptfoo results (JSON or JSONL)")
    value = document.value
    rows = _rows_of(value) if document.kind == "json" else None
    if rows is not None:
        config = value.get("config") if isinstance(value, dict) else None
        eval_id = value.get("evalId") if isinstance(value, dict) else None
        located = [(f"{file}: result {n}", row) for n, row in enumerate(rows)]
    elif document.kind == "jsonl" or isinstance(value, list):
        config, eval_id = None, None
        located = list(records(document, file))
    else:
        raise TraceError(f'{file}: not promptfoo results (no "results" list)')
    providers = _providers(config)
    scrubber = Scrubber.from_environment()
    for options in providers.values():
        for key in _KEY_OPTIONS:
            if isinstance(options.get(key), str):
                scrubber = scrubber.adding(options[key], "API key")
    said = _teller(scrubber)
    try:
        return [_call(row, where, file, eval_id, providers, said) for where, row in located]
    except RecursionError:
        raise TraceError(f"{file}: the results are nested too deeply") from None


def _providers(config: Any) -> dict[str, dict[str, Any]]:
    """Each configured provider's options, by its id and by its label."""
    if not isinstance(config, dict):
        return {}
    listed = config.get("providers")
    if isinstance(listed, str | dict):
        listed = [listed]
    if not isinstance(listed, list):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for provider in listed:
        if isinstance(provider, str):
            found.setdefault(provider, {})
        elif isinstance(provider, dict):
            options = provider.get("config")
            options = options if isinstance(options, dict) else {}
            for key in (provider.get("id"), provider.get("label")):
                if isinstance(key, str):
                    found.setdefault(key, options)
    return found


def _call(
    row: Any,
    where: str,
    file: str,
    eval_id: Any,
    providers: dict[str, dict[str, Any]],
    said: Callable[[str], str],
) -> ModelCall:
    if not isinstance(row, dict):
        raise TraceError(f"{where}: {a_json_type(row)}, not a result object")
    guesses: list[str] = []
    prompt = row.get("prompt")
    if not isinstance(prompt, dict) or not isinstance(prompt.get("raw"), str):
        raise TraceError(f'{where}: no "prompt.raw" text (the rendered prompt)')
    system, messages = _prompt(prompt["raw"], where, guesses)
    provider_id, label = _provider(row.get("provider"))
    options = dict(providers.get(label or "", providers.get(provider_id or "", {})))
    if isinstance(prompt.get("config"), dict):
        options.update(prompt["config"])
    response = row.get("response")
    if response is not None and not isinstance(response, dict):
        raise TraceError(f'{where}: "response" is {a_json_type(response)}, not an object')
    output, tool_calls = _answer((response or {}).get("output"), where, guesses)
    error = (response or {}).get("error") or row.get("error")
    if output is None and not tool_calls and isinstance(error, str):
        guesses.append(f"the provider call failed: {said(error)}")
    model = _model(provider_id, guesses, said)
    if not providers and "tools" not in options:
        guesses.append("the file holds no config: the provider's tools and parameters are unknown")
    # Last, so that it ends the call's lines in ``calls``.
    guesses.extend(_verdict(row, said))
    result_id = row.get("id")
    return ModelCall(
        index=0,
        source=Source(
            NAME,
            file,
            trace_id=str(row.get("evalId") or eval_id) if row.get("evalId") or eval_id else None,
            span_id=result_id if isinstance(result_id, str) else None,
        ),
        model=model,
        system=system,
        messages=tuple(messages),
        tools=tuple(_tools(options.get("tools"), where, guesses)),
        tool_calls=tuple(tool_calls),
        output=output,
        params=_params(options),
        guesses=tuple(dict.fromkeys(guesses)),
    )


def _prompt(raw: str, where: str, guesses: list[str]) -> tuple[str | None, list[dict[str, Any]]]:
    """A chat prompt's messages (the JSON text of a list of them), or the text as one user
    message."""
    if raw.lstrip().startswith("["):
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
            guesses.append("the prompt looks like JSON but is not: it is taken as one user message")
        if isinstance(parsed, list):
            return _conversation(parsed, f"{where}: prompt", guesses)
    return None, [{"role": "user", "content": raw}]


def _answer(output: Any, where: str, guesses: list[str]) -> tuple[str | None, list[ToolCallRecord]]:
    """The answer's text and tool calls, from the shapes promptfoo's providers give."""
    if isinstance(output, str):
        stripped = output.strip()
        if stripped.startswith(("[", "{")):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                return output, []
            if _tool_call_shaped(parsed):
                guesses.append("the output is JSON text of tool calls: read as the tool calls")
                return _answer(parsed, where, guesses)
        return output, []
    if output is None:
        return None, []
    if _tool_call_shaped(output):
        if isinstance(output, list):
            calls = output
            content = None
        elif "tool_calls" in output or "function_call" in output:
            calls = output.get("tool_calls") or []
            legacy = output.get("function_call")
            if isinstance(legacy, dict):
                guesses.append("a legacy function_call is taken as a tool call")
                calls = [*calls, {"id": legacy.get("name"), "function": legacy}]
            content = output.get("content") if isinstance(output.get("content"), str) else None
        else:
            guesses.append("a legacy function_call is taken as a tool call")
            calls = [{"id": output.get("name"), "function": output}]
            content = None
        return content or None, [
            _record_call(call, n, f"{where}: response.output", guesses)
            for n, call in enumerate(calls)
        ]
    guesses.append(f"the output is {a_json_type(output)}: kept as its JSON text")
    return json.dumps(output, ensure_ascii=False), []


def _tool_call_shaped(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(
            isinstance(item, dict) and isinstance(item.get("function"), dict) for item in value
        )
    if isinstance(value, dict):
        if isinstance(value.get("tool_calls"), list) or isinstance(
            value.get("function_call"), dict
        ):
            return True
        return isinstance(value.get("name"), str) and "arguments" in value and len(value) <= 3
    return False


def _provider(raw: Any) -> tuple[str | None, str | None]:
    if isinstance(raw, str):
        return raw, None
    if isinstance(raw, dict):
        found, label = raw.get("id"), raw.get("label")
        return (
            found if isinstance(found, str) else None,
            label if isinstance(label, str) else None,
        )
    return None, None


def _model(provider_id: str | None, guesses: list[str], said: Callable[[str], str]) -> str | None:
    """``openai:gpt-4o-mini`` -> ``gpt-4o-mini``; ``openai:chat:gpt-4o`` -> ``gpt-4o``."""
    if provider_id is None:
        guesses.append("the result names no provider: the model is unknown")
        return None
    if provider_id.startswith(("file://", "python:", "exec:", "http://", "https://")):
        # An HTTP provider's id is its URL, which may hold credentials.
        guesses.append(f"the provider {said(provider_id[:80])} is custom: the model is unknown")
        return None
    parts = provider_id.split(":")
    if len(parts) == 1:
        return provider_id
    rest = parts[2:] if len(parts) > 2 and parts[1] in _API_KINDS else parts[1:]
    return ":".join(rest) or None


def _tools(raw: Any, where: str, guesses: list[str]) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if isinstance(raw, str):
        guesses.append(f"the tools are in {raw[:60]}, which the results do not hold")
        return []
    if not isinstance(raw, list):
        raise TraceError(f"{where}: the provider's tools are {a_json_type(raw)}, not a list")
    tools = []
    for tool in raw:
        if isinstance(tool, dict) and tool.get("type") == "function":
            if isinstance(tool.get("function"), dict):
                tools.append(tool)
            elif isinstance(tool.get("name"), str):
                # The Responses API's flat form.
                function = {
                    key: tool[key] for key in ("name", "description", "parameters") if key in tool
                }
                tools.append({"type": "function", "function": function})
        else:
            kind = tool.get("type") if isinstance(tool, dict) else a_json_type(tool)
            guesses.append(f"a tool that is not a function is dropped: {str(kind)[:40]}")
    return tools


def _params(options: dict[str, Any]) -> dict[str, Any]:
    params = {key: options[key] for key in REQUEST_PARAMS if options.get(key) is not None}
    if "max_tokens" not in params and options.get("max_completion_tokens") is not None:
        params["max_tokens"] = options["max_completion_tokens"]
    if isinstance(options.get("tool_choice"), str | dict):
        params["tool_choice"] = options["tool_choice"]
    return params


def _verdict(row: dict[str, Any], said: Callable[[str], str]) -> list[str]:
    """One line when promptfoo failed the result: its score and why."""
    if row.get("success") is not False:
        return []
    score = row.get("score")
    grading = row.get("gradingResult")
    reason = grading.get("reason") if isinstance(grading, dict) else None
    if not isinstance(reason, str) or not reason:
        reason = row.get("error") if isinstance(row.get("error"), str) else None
    scored = f" (score {score})" if isinstance(score, int | float) else ""
    why = f": {said(reason)}" if reason else ""
    return [f"promptfoo failed this result{scored}{why}"]


def _teller(scrubber: Scrubber) -> Callable[[str], str]:
    """How a text of the file is told in one line of a guess: credentials out (this
    environment's, the file's own provider keys, anyone's), cut short."""

    def said(text: str) -> str:
        line = _BARE_KEY.sub(placeholder("API key"), " ".join(scrubber.text(text).split()))
        return line if len(line) <= _SHOWN else line[: _SHOWN - 1] + "…"

    return said
