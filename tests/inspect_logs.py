"""Inspect AI eval logs for the tests: written by Inspect itself against the scripted test server
(:func:`run_inspect`), or by hand for what a real run does not write (:func:`eval_log`,
:func:`eval_archive`).

Inspect runs in a child process: importing it patches the standard library's ``zipfile`` (to
read zstd) and sets up logging, which would change what the rest of the test session sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from chat_server import ChatServer, Reply

#: Long enough (over 100 characters) that Inspect moves it into the sample's attachments.
SYSTEM = (
    "You are the support agent of an online shop. Look orders up with the lookup_order tool "
    "before you answer, and never promise a refund."
)
QUESTION = "Where is order A1?"
RESULT = "order A1: shipped on Monday by parcel post, tracking number ZX-0042-7781, expected " * 2
ANSWER = "Order A1 shipped on Monday."
ARGUMENTS = {"order_id": "A1"}

_TASK = '''
import sys
from inspect_ai import Task, eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.solver import generate, system_message, use_tools
from inspect_ai.tool import tool

base_url, log_dir, system, question, result = sys.argv[1:6]


@tool
def lookup_order():
    async def execute(order_id: str) -> str:
        """Look up an order.

        Args:
            order_id: The order's id.
        """
        return result

    return execute


task = Task(
    dataset=[Sample(input=question, target="shipped", id="order-a1")],
    solver=[system_message(system), use_tools(lookup_order()), generate()],
)
for log_format in ("eval", "json"):
    [log] = inspect_eval(
        task,
        model="openai/test-model",
        model_base_url=base_url,
        # Chat Completions (Inspect's default is the Responses API): the script reads the
        # conversation as Chat messages.
        model_args={"responses_api": False},
        log_dir=f"{log_dir}/{log_format}",
        log_format=log_format,
        display="none",
        log_level="error",
    )
    if log.status != "success":
        sys.exit(f"inspect: {log.status}: {log.error}")
'''


def _script(body: dict[str, Any]) -> Reply:
    """A tool call first; once the tool's result is in the conversation, the answer."""
    messages = body.get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        return Reply(content=ANSWER)
    return Reply(tool_calls=[{"id": "call_lookup", "name": "lookup_order", "arguments": ARGUMENTS}])


def run_inspect(server: ChatServer, log_dir: Path) -> dict[str, Path]:
    """Run a one-sample Inspect task (a tool, then ``generate()``) against ``server``; the logs
    it wrote, by format (``eval``, ``json``)."""
    server.set_script(_script)
    env = {
        **os.environ,
        "OPENAI_API_KEY": "test-key-not-secret",
        "INSPECT_LOG_DIR": str(log_dir),
        # Inspect keeps traces and buffers in the user's data and cache folders: not the tester's.
        "XDG_DATA_HOME": str(log_dir / "data"),
        "XDG_CACHE_HOME": str(log_dir / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-c", _TASK, server.base_url, str(log_dir), SYSTEM, QUESTION, RESULT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    logs = {}
    for log_format in ("eval", "json"):
        [path] = (log_dir / log_format).glob(f"*.{log_format}")
        logs[log_format] = path
    return logs


# --------------------------------------------------------------------------------------------
# Logs written by hand, in the shape Inspect's log types give them
# --------------------------------------------------------------------------------------------


def message(role: str, content: Any, **fields: Any) -> dict[str, Any]:
    return {"id": f"m-{role}-{len(str(content))}", "role": role, "content": content, **fields}


def tool_call(call_id: str, function: str, arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "function": function, "arguments": arguments, "type": "function"}


def output(content: Any = "", tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    reply = message("assistant", content, source="generate")
    if tool_calls:
        reply["tool_calls"] = tool_calls
    return {
        "model": "gpt-4o-mini",
        "choices": [{"message": reply, "stop_reason": "tool_calls" if tool_calls else "stop"}],
        "completion": content if isinstance(content, str) else "",
    }


TOOL_INFO = {
    "name": "lookup_order",
    "description": "Look up an order.",
    "parameters": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
}


def model_event(
    uuid: str, input: list[dict[str, Any]], out: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "event": "model",
        "model": "openai/gpt-4o-mini",
        "input": input,
        "tools": [TOOL_INFO],
        "tool_choice": "auto",
        "config": {},
        "output": out,
        **fields,
    }


def tool_loop_sample(sample_id: Any = "s1", epoch: int = 1) -> dict[str, Any]:
    """A sample of two model calls (a tool call, then the answer) with inline inputs."""
    system = message("system", "Be brief.")
    user = message("user", "Where is order B2?")
    call = tool_call("call_b2", "lookup_order", {"order_id": "B2"})
    asked = message("assistant", "", tool_calls=[call])
    told = message("tool", "B2: lost", tool_call_id="call_b2", function="lookup_order")
    answer = output("B2 is lost.")
    return {
        "id": sample_id,
        "epoch": epoch,
        "uuid": f"u-{sample_id}-{epoch}",
        "input": "Where is order B2?",
        "messages": [system, user, asked, told, answer["choices"][0]["message"]],
        "output": answer,
        "events": [
            {"event": "sample_init", "uuid": f"e0-{sample_id}-{epoch}"},
            model_event(f"e1-{sample_id}-{epoch}", [system, user], output("", [call])),
            {"event": "tool", "uuid": f"e2-{sample_id}-{epoch}", "id": "call_b2", "events": []},
            model_event(f"e3-{sample_id}-{epoch}", [system, user, asked, told], answer),
        ],
        "attachments": {},
    }


def eval_log(samples: list[Any], sample_ids: list[Any] | None = None) -> dict[str, Any]:
    """An ``EvalLog`` as the ``.json`` format writes it."""
    return {
        "version": 2,
        "status": "success",
        "eval": {
            "eval_id": "EVAL1",
            "run_id": "RUN1",
            "task": "support",
            "model": "openai/gpt-4o-mini",
            "dataset": {"samples": len(samples), "sample_ids": sample_ids or []},
        },
        "plan": {"name": "plan", "steps": []},
        "samples": samples,
    }


def eval_archive(
    path: Path,
    samples: list[Any],
    sample_ids: list[Any] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """The same log as an ``.eval`` zip archive (header, one member per sample)."""
    log = eval_log(samples, sample_ids)
    header = {key: value for key, value in log.items() if key != "samples"}
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr("_journal/start.json", json.dumps({"version": 2, "eval": log["eval"]}))
        for sample in samples:
            name = f"samples/{sample['id']}_epoch_{sample['epoch']}.json"
            archive.writestr(name, json.dumps(sample))
        archive.writestr("header.json", json.dumps(header))
    return path
