"""LangSmith runs built in the tests from LangSmith's published run schema.

LangSmith is a hosted service, so no test can make it write a file: these runs follow its run
data format (``id``, ``trace_id``, ``parent_run_id``, ``dotted_order``, ``run_type``,
``inputs``, ``outputs``, ``extra``) with what LangChain's tracer records for a chat model
(serialised messages, ``generations``, ``invocation_params``, ``ls_*`` metadata) and a tool, and
what the ``wrap_openai`` wrapper records (the request's arguments, the chat completion).
"""

from __future__ import annotations

import json
from typing import Any

import langfuse_fixtures as lf

ROOT = "1b64098b-4ab7-43f6-afee-992304f198d8"
OTHER_ROOT = "5d0e2c7a-8f41-4c3b-b2a9-6e7f8a9b0c1d"
SYSTEM = lf.SYSTEM
ASK = lf.ASK
TABLES = lf.TABLES
#: A credential in the run's metadata, which must never reach a call.
API_KEY = "sk-proj-langsmithfixture0000000000000000"
TOOLS = [lf.LIST_TABLES, lf.DELETE_DB]


def stamp(second: int) -> str:
    return f"20251102T1000{second:02d}250000Z"


def lc(kind: str, **kwargs: Any) -> dict[str, Any]:
    """A LangChain message as ``dumpd`` serialises it."""
    return {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain", "schema", "messages", kind],
        "kwargs": kwargs,
    }


def ai_calls(*calls: tuple[str, str, dict[str, Any]], content: str = "") -> dict[str, Any]:
    """An AIMessage with tool calls, in both the forms LangChain keeps them."""
    return lc(
        "AIMessage",
        content=content,
        type="ai",
        additional_kwargs={
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for call_id, name, args in calls
            ]
        },
        tool_calls=[
            {"name": name, "args": args, "id": call_id, "type": "tool_call"}
            for call_id, name, args in calls
        ],
        invalid_tool_calls=[],
    )


def run(
    run_id: str,
    run_type: str,
    second: int,
    name: str,
    inputs: Any,
    outputs: Any,
    root: str = ROOT,
    **fields: Any,
) -> dict[str, Any]:
    """A child run of the trace's root chain."""
    return {
        "id": run_id,
        "name": name,
        "run_type": run_type,
        "start_time": f"2025-11-02T10:00:{second:02d}.250000",
        "end_time": f"2025-11-02T10:00:{second:02d}.950000",
        "inputs": inputs,
        "outputs": outputs,
        "error": None,
        "extra": fields.pop("extra", {"metadata": {}}),
        "events": [{"name": "start", "time": f"2025-11-02T10:00:{second:02d}.250000"}],
        "tags": [],
        "trace_id": root,
        "parent_run_id": root,
        "dotted_order": f"{stamp(0)}{root}.{stamp(second)}{run_id}",
        "session_id": "9a1c2b3d-0000-4000-8000-00000000beef",
        "status": "success",
        **fields,
    }


def chat_extra() -> dict[str, Any]:
    return {
        "invocation_params": {
            "model": "gpt-4o-mini",
            "model_name": "gpt-4o-mini",
            "stream": False,
            "n": 1,
            "temperature": 0.2,
            "_type": "openai-chat",
            "stop": None,
            "tools": TOOLS,
        },
        "options": {"stop": None},
        "batch_size": 1,
        "metadata": {
            "ls_provider": "openai",
            "ls_model_name": "gpt-4o-mini",
            "ls_model_type": "chat",
            "ls_temperature": 0.2,
            "langgraph_node": "agent",
            "api_key": API_KEY,
        },
    }


def llm_run(
    run_id: str, second: int, messages: list[Any], answer: dict[str, Any], root: str = ROOT
) -> dict[str, Any]:
    return run(
        run_id,
        "llm",
        second,
        "ChatOpenAI",
        {"messages": [messages]},
        {
            "generations": [
                [
                    {
                        "text": answer["kwargs"]["content"],
                        "generation_info": {"finish_reason": "tool_calls"},
                        "type": "ChatGeneration",
                        "message": answer,
                    }
                ]
            ],
            "llm_output": {"model_name": "gpt-4o-mini-2024-07-18"},
            "run": None,
            "type": "LLMResult",
        },
        root=root,
        extra=chat_extra(),
    )


def tool_run(
    run_id: str, second: int, name: str, arguments: str, result: Any, root: str = ROOT
) -> dict[str, Any]:
    """A tool run: its input as LangChain records it (text), its output a ToolMessage."""
    return run(run_id, "tool", second, name, {"input": arguments}, {"output": result}, root=root)


def tool_message(content: str, call_id: str, name: str) -> dict[str, Any]:
    return lc("ToolMessage", content=content, type="tool", tool_call_id=call_id, name=name)


FIRST = [
    lc("SystemMessage", content=SYSTEM, type="system"),
    lc("HumanMessage", content=ASK, type="human"),
]
LIST_CALL = ("call_a1", "list_tables", {"database": "staging"})
DELETE_CALL = ("call_b2", "delete_db", {"database": "staging"})


def runs(root: str = ROOT, prefix: str = "a") -> list[dict[str, Any]]:
    """A LangGraph agent's tool loop: its root chain, two model calls, two tools."""
    return [
        run(
            root,
            "chain",
            0,
            "LangGraph",
            {"messages": [[ASK]]},
            {"messages": []},
            root=root,
            parent_run_id=None,
            dotted_order=f"{stamp(0)}{root}",
        ),
        llm_run(
            f"{prefix}1111111-0000-4000-8000-000000000001", 1, FIRST, ai_calls(LIST_CALL), root
        ),
        tool_run(
            f"{prefix}2222222-0000-4000-8000-000000000002",
            2,
            "list_tables",
            "{'database': 'staging'}",
            tool_message(TABLES, "call_a1", "list_tables"),
            root,
        ),
        llm_run(
            f"{prefix}3333333-0000-4000-8000-000000000003",
            3,
            [
                *FIRST,
                ai_calls(LIST_CALL),
                tool_message(TABLES, "call_a1", "list_tables"),
            ],
            ai_calls(DELETE_CALL, content="Dropping the staging database to free space."),
            root,
        ),
        tool_run(
            f"{prefix}4444444-0000-4000-8000-000000000004",
            4,
            "delete_db",
            '{"database": "staging"}',
            "dropped database staging",
            root,
        ),
    ]


def wrapped_openai_run(run_id: str = "c5555555-0000-4000-8000-000000000005") -> dict[str, Any]:
    """A run ``wrap_openai`` records: the request's arguments, and the chat completion."""
    answer = {
        "role": "assistant",
        "content": None,
        "tool_calls": [lf.call("call_w1", "delete_db", '{"database": "staging"}')],
    }
    return run(
        run_id,
        "llm",
        1,
        "ChatOpenAI",
        {
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ASK}],
            "model": "gpt-4o-mini",
            "temperature": 0.2,
            "tools": TOOLS,
        },
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": answer}],
        },
        extra={"metadata": {"ls_provider": "openai", "ls_model_name": "gpt-4o-mini"}},
    )


def jsonl(items: list[dict[str, Any]] | None = None) -> str:
    return "".join(json.dumps(item) + "\n" for item in (runs() if items is None else items))
