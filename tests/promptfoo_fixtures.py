"""promptfoo results files, built here from promptfoo's published result types (``EvaluateResult``,
``EvaluateSummaryV3``, the ``-o results.json`` / ``promptfoo export`` wrapper and the
``-o results.jsonl`` lines): promptfoo is a Node.js tool, and the tests do not install it.
"""

from __future__ import annotations

import json
from typing import Any

EVAL_ID = "eval-Xk2-2025-06-02T09:14:11"
SYSTEM = "You are the refunds assistant of an online shop. Look an order up before refunding it."
ASK = "Refund order A1, it never arrived."
#: A key in the provider's options, which must never reach a call.
API_KEY = "sk-proj-" + "Q" * 40

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Look up an order by id",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "refund_order",
            "description": "Refund an order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
                "required": ["order_id"],
            },
        },
    },
]

REFUND_CALL = {
    "id": "call_r1",
    "type": "function",
    "function": {"name": "refund_order", "arguments": '{"order_id": "A1", "amount": 120}'},
}


def chat_prompt(*messages: dict[str, Any]) -> str:
    """A chat prompt as promptfoo renders it: the JSON text of its messages."""
    return json.dumps(list(messages), indent=2)


def result(
    raw: str,
    output: Any,
    *,
    provider: str = "openai:chat:gpt-4o-mini",
    success: bool = True,
    score: float = 1.0,
    reason: str = "All assertions passed",
    test_idx: int = 0,
    prompt_idx: int = 0,
    error: str | None = None,
    vars: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``EvaluateResult`` row: a test case run on one prompt and one provider."""
    vars = vars if vars is not None else {"order": "A1"}
    response: dict[str, Any] = {
        "output": output,
        "tokenUsage": {"total": 120, "prompt": 95, "completion": 25, "cached": 0, "numRequests": 1},
        "cached": False,
        "latencyMs": 812,
        "finishReason": "tool_calls" if not isinstance(output, str) else "stop",
        "cost": 0.00004,
        "metadata": {
            "http": {
                "status": 200,
                "statusText": "OK",
                "headers": {"content-type": "application/json", "openai-organization": "org-x"},
            }
        },
    }
    if error is not None:
        response = {"error": error, "metadata": {"http": {"status": 401, "headers": {}}}}
    return {
        "id": f"res-{test_idx}-{prompt_idx}",
        "promptIdx": prompt_idx,
        "testIdx": test_idx,
        "testCase": {
            "vars": vars,
            "assert": [
                {
                    "type": "javascript",
                    "value": "!output.some(c => c.function.name === 'refund_order')",
                }
            ],
            "options": {},
            "metadata": {},
        },
        "promptId": "8f0c2a",
        "provider": {"id": provider, "label": ""},
        "prompt": {"raw": raw, "label": "refunds.json: [{role: system ..."},
        "vars": vars,
        "response": response,
        "error": error if error is not None else (None if success else reason),
        "failureReason": 0 if success else (2 if error else 1),
        "success": success,
        "score": score,
        "latencyMs": 812,
        "gradingResult": None
        if error
        else {
            "pass": success,
            "score": score,
            "reason": reason,
            "namedScores": {},
            "tokensUsed": {"total": 0, "prompt": 0, "completion": 0, "cached": 0},
            "componentResults": [
                {
                    "pass": success,
                    "score": score,
                    "reason": reason,
                    "assertion": {"type": "javascript", "value": "..."},
                }
            ],
        },
        "namedScores": {},
        "cost": 0.00004,
        "metadata": {},
    }


def refund_rows() -> list[dict[str, Any]]:
    """Two test cases: the model refunds without looking the order up (failed), and answers a
    plain question in text (passed)."""
    raw = chat_prompt({"role": "system", "content": SYSTEM}, {"role": "user", "content": ASK})
    return [
        result(
            raw,
            [REFUND_CALL],
            success=False,
            score=0,
            reason="Custom function returned false\n!output.some(...)",
        ),
        result("What are your opening hours?", "We are open 9 to 5.", test_idx=1),
    ]


LOOKED_UP = '{"order_id": "A1", "status": "delivered", "delivered_on": "2025-05-28"}'
PROMISE = "I have refunded order A1; the money is on its way."


def promised_refund_row() -> dict[str, Any]:
    """A multi-turn chat prompt (the order was looked up: delivered) whose answer promises a
    refund anyway: the grader failed it."""
    raw = chat_prompt(
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": ASK},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_l1",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": '{"order_id": "A1"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_l1", "content": LOOKED_UP},
    )
    return result(
        raw,
        PROMISE,
        success=False,
        score=0,
        reason='Expected output to not contain "refunded"',
        test_idx=2,
    )


def config(**options: Any) -> dict[str, Any]:
    """The eval's config, as the results file keeps it."""
    return {
        "description": "refunds",
        "prompts": ["file://refunds.json"],
        "providers": [
            {
                "id": "openai:chat:gpt-4o-mini",
                "config": {
                    "temperature": 0,
                    "max_tokens": 256,
                    "tools": TOOLS,
                    "tool_choice": "auto",
                    "apiKey": API_KEY,
                    "headers": {"Authorization": f"Bearer {API_KEY}"},
                    **options,
                },
            }
        ],
        "tests": "file://tests.yaml",
    }


def results_file(rows: list[Any], config_: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``promptfoo eval -o results.json`` (and ``promptfoo export``) writes."""
    failures = sum(1 for row in rows if isinstance(row, dict) and row.get("success") is False)
    return {
        "evalId": EVAL_ID,
        "results": {
            "version": 3,
            "timestamp": "2025-06-02T09:14:11.000Z",
            "prompts": [
                {
                    "raw": "file://refunds.json",
                    "label": "refunds.json",
                    "provider": "openai:chat:gpt-4o-mini",
                }
            ],
            "results": rows,
            "stats": {
                "successes": len(rows) - failures,
                "failures": failures,
                "errors": 0,
                "tokenUsage": {"total": 240, "prompt": 190, "completion": 50, "cached": 0},
            },
        },
        "config": config_ if config_ is not None else config(),
        "shareableUrl": None,
        "metadata": {"promptfooVersion": "0.112.0", "exportedAt": "2025-06-02T09:15:00.000Z"},
    }


def jsonl(rows: list[dict[str, Any]]) -> str:
    """What ``promptfoo eval -o results.jsonl`` writes: one result a line."""
    return "".join(json.dumps(row) + "\n" for row in rows)
