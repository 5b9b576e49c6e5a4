"""Chat Completions <-> Responses: the only place that knows the Responses API's shapes.

The replay builds requests and reads answers in the Chat Completions form, whatever API the
endpoint speaks. Over the Responses API, :class:`ResponsesCompleter` sits between the replay and
whatever answers (an endpoint, a target, a recording): :func:`responses_request` turns each
Chat request into the Responses request that goes out, and :func:`chat_answer` reads the
Responses answer back into the completion the replay reads. So the tool loop, constraints,
variants, repeats, baselines and reports are the same code over either API.

Every request carries the whole conversation and ``store: false``: a replay never depends on
state kept by the server (no ``previous_response_id``, no conversation).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from incident_evals.client import quote_fragment
from incident_evals.replay import Malformed, Wrong, check_object, complaints

if TYPE_CHECKING:
    from incident_evals.replay import Completer

Api = Literal["chat", "responses"]

#: Chat request keys sent under the same name: the Responses API reads them the same way. The
#: others are mapped below or not sent (``seed``, ``stop``, the penalties: the Responses API has
#: no such fields; docs/responses-api.md).
SAME_KEYS = ("model", "temperature", "top_p", "parallel_tool_calls", "user", "metadata")
#: Statuses of a finished answer; any other (failed, cancelled, queued, in_progress) is not one.
FINISHED = ("completed", "incomplete")
#: Usage counts: the Responses name and the Chat Completions name it is read into.
USAGE_NAMES = {
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "total_tokens": "total_tokens",
}


# --- requests --------------------------------------------------------------------------------


def responses_request(chat_request: dict[str, Any]) -> dict[str, Any]:
    """``chat_request`` (a Chat Completions request body) as a Responses request body.

    System messages become ``instructions``; the rest become input items, in order: text
    messages as ``{"role", "content"}``, an assistant's tool calls as ``function_call`` items and
    tool messages as ``function_call_output`` items, both keyed by ``call_id``.
    """
    request: dict[str, Any] = {key: chat_request[key] for key in SAME_KEYS if key in chat_request}
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for message in chat_request.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "system":
            text = _text_of(message.get("content"))
            if text:
                instructions.append(text)
            continue
        items.extend(_input_items(message))
    if instructions:
        request["instructions"] = "\n\n".join(instructions)
    request["input"] = items
    tools = chat_request.get("tools")
    if tools:
        request["tools"] = [_tool(tool) for tool in tools]
    if "tool_choice" in chat_request:
        request["tool_choice"] = _tool_choice(chat_request["tool_choice"])
    limit = chat_request.get("max_completion_tokens", chat_request.get("max_tokens"))
    if limit is not None:
        request["max_output_tokens"] = limit
    # Nothing is kept on the server: every turn sends the whole conversation again.
    request["store"] = False
    return request


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return json.dumps(content, ensure_ascii=False)


def _input_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    role = message.get("role")
    content = message.get("content")
    if role == "tool":
        output = content if isinstance(content, str) else _text_of(content)
        return [
            {
                "type": "function_call_output",
                "call_id": message.get("tool_call_id"),
                "output": output,
            }
        ]
    items: list[dict[str, Any]] = []
    calls = message.get("tool_calls") or []
    # An assistant turn that only calls tools has no text to send (Chat writes "" or null).
    if not (calls and content in (None, "", [])):
        items.append({"role": role, "content": _content(content, role)})
    for call in calls:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        items.append(
            {
                "type": "function_call",
                "call_id": call.get("id"),
                "name": function.get("name"),
                "arguments": arguments
                if isinstance(arguments, str)
                else json.dumps(arguments or {}, ensure_ascii=False),
            }
        )
    return items


def _content(content: Any, role: Any) -> Any:
    if content is None:
        return ""
    if not isinstance(content, list):
        return content
    text_type = "output_text" if role == "assistant" else "input_text"
    parts: list[Any] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": text_type, "text": part.get("text")})
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            image = part["image_url"]
            parts.append(
                {
                    "type": "input_image",
                    "image_url": image.get("url"),
                    "detail": image.get("detail", "auto"),
                }
            )
        else:
            # Already a Responses part (refusal, input_file, ...), or one the server judges.
            parts.append(part)
    return parts


def _tool(tool: Any) -> Any:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return tool
    function = tool.get("function") or {}
    flat: dict[str, Any] = {"type": "function", "name": function.get("name")}
    if function.get("description") is not None:
        flat["description"] = function["description"]
    flat["parameters"] = function.get("parameters")
    # Chat Completions does not enforce schemas unless asked; the Responses API does by default,
    # which rejects schemas that strict mode cannot take. Say what Chat meant.
    flat["strict"] = bool(function.get("strict", False))
    return flat


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        if isinstance(function, dict):
            return {"type": "function", "name": function.get("name")}
    return choice


# --- answers ---------------------------------------------------------------------------------


def chat_answer(response: Any, source: str = "the endpoint") -> dict[str, Any]:
    """A Responses answer read into the Chat Completions completion the replay reads.

    Raises :class:`~incident_evals.client.MalformedAnswer`, one line naming the first field at
    fault: an error object, a failed or unfinished response, an empty output, or an output item
    of a shape a replay cannot read is never an empty output that constraints would pass.
    """

    malformed, wrong = complaints(source)
    check_object(response, "a response", malformed, wrong)
    status = response.get("status")
    if status is not None and not isinstance(status, str):
        raise wrong("status", status, "a string")
    if status is not None and status not in FINISHED:
        raise malformed(f"status is {quote_fragment(status)}, expected completed or incomplete")
    model = response.get("model")
    if model is not None and not isinstance(model, str):
        raise wrong("model", model, "a string or null")
    if "output" not in response:
        raise malformed("output is missing")
    output = response["output"]
    if not isinstance(output, list):
        raise wrong("output", output, "an array")
    if not output:
        raise malformed(f"output is empty{_incomplete(response)}")
    texts: list[str] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, item in enumerate(output):
        path = f"output[{index}]"
        if not isinstance(item, dict):
            raise wrong(path, item, "an output item (an object)")
        kind = item.get("type")
        if not isinstance(kind, str):
            raise wrong(f"{path}.type", kind, "a string")
        if kind == "message":
            _read_message(item, path, texts, refusals, wrong, malformed)
        elif kind == "function_call":
            calls.append(_read_call(item, path, wrong, malformed))
        elif kind == "reasoning":
            reasoning.extend(_reasoning_texts(item))
        else:
            raise malformed(
                f"{path}.type is {quote_fragment(kind)}, expected message, function_call or "
                "reasoning"
            )
    if not texts and not calls and not refusals:
        raise malformed(f"output has no text, function call or refusal{_incomplete(response)}")
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": "".join(refusals) if refusals else None,
    }
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        # Never read as the output; kept so the transcript shows what the model reasoned.
        message["reasoning_content"] = "\n\n".join(reasoning)
    answer: dict[str, Any] = {
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": message, "finish_reason": _finish_reason(response, calls)}
        ],
    }
    if isinstance(response.get("id"), str):
        answer["id"] = response["id"]
    if model is not None:
        answer["model"] = model
    usage = _read_usage(response.get("usage"), wrong, malformed)
    if usage is not None:
        answer["usage"] = usage
    return answer


def _incomplete(response: dict[str, Any]) -> str:
    if response.get("status") != "incomplete":
        return ""
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    return f" (status incomplete: {quote_fragment(reason)})" if isinstance(reason, str) else ""


def _read_message(
    item: dict[str, Any],
    path: str,
    texts: list[str],
    refusals: list[str],
    wrong: Wrong,
    malformed: Malformed,
) -> None:
    role = item.get("role")
    if role is not None and role != "assistant":
        raise malformed(f"{path}.role is {quote_fragment(str(role))}, expected assistant")
    if "content" not in item:
        raise malformed(f"{path}.content is missing")
    content = item["content"]
    if not isinstance(content, list):
        raise wrong(f"{path}.content", content, "an array of content parts")
    for index, part in enumerate(content):
        part_path = f"{path}.content[{index}]"
        if not isinstance(part, dict):
            raise wrong(part_path, part, "a content part (an object)")
        kind = part.get("type")
        if kind == "output_text":
            key, into = "text", texts
        elif kind == "refusal":
            key, into = "refusal", refusals
        elif isinstance(kind, str):
            raise malformed(
                f"{part_path}.type is {quote_fragment(kind)}, expected output_text or refusal"
            )
        else:
            raise wrong(f"{part_path}.type", kind, "a string")
        value = part.get(key)
        if not isinstance(value, str):
            raise wrong(f"{part_path}.{key}", value, "a string")
        into.append(value)


def _read_call(
    item: dict[str, Any], path: str, wrong: Wrong, malformed: Malformed
) -> dict[str, Any]:
    for key in ("call_id", "name"):
        if key not in item or item[key] is None:
            raise malformed(f"{path}.{key} is missing")
        if not isinstance(item[key], str):
            raise wrong(f"{path}.{key}", item[key], "a string")
        if not item[key]:
            raise malformed(f"{path}.{key} is empty")
    arguments = item.get("arguments")
    if arguments is None:
        arguments = ""
    elif not isinstance(arguments, str):
        # Arguments sent as JSON data rather than as its text: the replay parses the text and
        # judges it as it judges any arguments, as on the Chat path.
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": item["name"], "arguments": arguments},
    }


def _reasoning_texts(item: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    for key in ("summary", "content"):
        parts = item.get(key)
        if isinstance(parts, list):
            texts.extend(
                part["text"]
                for part in parts
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return texts


def _finish_reason(response: dict[str, Any], calls: list[dict[str, Any]]) -> str:
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if calls else "stop"


def _read_usage(usage: Any, wrong: Wrong, malformed: Malformed) -> dict[str, int] | None:
    if usage is None:
        return None
    if not isinstance(usage, dict):
        raise wrong("usage", usage, "an object or null")
    counts: dict[str, int] = {}
    for name, chat_name in USAGE_NAMES.items():
        value = usage.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong(f"usage.{name}", value, "a whole number of tokens")
        if value < 0:
            raise malformed(f"usage.{name} is {value}, expected a whole number of tokens")
        counts[chat_name] = value
    return counts


# --- the adapter -----------------------------------------------------------------------------


class ResponsesCompleter:
    """A :class:`~incident_evals.replay.Completer` taking Chat requests and giving Chat answers,
    over ``inner``, which is sent (or recorded, or asked) the Responses form.

    ``inner`` is an endpoint client speaking the Responses API, a target, or a recording; what
    it stores or is given is what goes over the wire, so a recording of a Responses exchange
    holds the Responses request and answer and never answers a Chat request.
    """

    api: Api = "responses"

    def __init__(self, inner: Completer) -> None:
        self.inner = inner

    @property
    def source(self) -> str:
        return str(getattr(self.inner, "source", "the endpoint"))

    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        response, latency = self.inner.complete(responses_request(request))
        return chat_answer(response, self.source), latency

    async def acomplete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """:meth:`complete` on the event loop, over an ``inner`` that has it."""
        inner = self.inner.acomplete  # type: ignore[attr-defined]
        response, latency = await inner(responses_request(request))
        return chat_answer(response, self.source), latency
