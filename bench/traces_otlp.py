"""Reading a large OTLP JSON trace: 1,000 model calls in a ~50 MB file.

The file is written first (the current GenAI conventions: a chat span per call, its conversation
growing, an ``execute_tool`` span per tool call). Then one process per round parses it and reads
the calls (``json.load`` + ``incident_evals.traces.otlp.read``), timed from spawn to exit with its
peak RSS from ``wait4``. Printed: the file size, the wall time, the time the reading took inside
the process, the peak RSS and the ratio peak RSS / file size.

    python bench/traces_otlp.py [--calls 1000] [--size-mb 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from _support import REPO, run_process

READ = """\
import json, sys, time
from incident_evals.traces import otlp
started = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as handle:
    document = json.load(handle)
calls = otlp.read(document, sys.argv[1])
print(len(calls), f"{time.perf_counter() - started:.3f}")
"""


def _value(python: Any) -> dict[str, Any]:
    if isinstance(python, str):
        return {"stringValue": python}
    if isinstance(python, int):
        return {"intValue": str(python)}
    return {"doubleValue": python}


def _span(span_id: int, start: int, attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        "traceId": f"{span_id // 20:032x}",
        "spanId": f"{span_id:016x}",
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1),
        "attributes": [{"key": key, "value": _value(value)} for key, value in attributes.items()],
    }


def write_trace(path: Path, calls: int, size_mb: float) -> None:
    """``calls`` chat spans of about ``size_mb / calls`` each; 20 calls to a trace."""
    per_call = int(size_mb * 1_000_000 / calls)
    document_text = "x" * max(per_call - 2_000, 100)
    tools = json.dumps([{"type": "function", "name": "search", "parameters": {"type": "object"}}])
    spans = []
    for n in range(calls):
        call_id = f"call_{n}"
        messages = [
            {
                "role": "user",
                "parts": [{"type": "text", "content": f"Question {n}: {document_text}"}],
            }
        ]
        output = [
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "id": call_id, "name": "search", "arguments": '{"q": 1}'}
                ],
            }
        ]
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 256,
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.output.messages": json.dumps(output),
            "gen_ai.tool.definitions": tools,
        }
        spans.append(_span(2 * n, 1_760_000_000_000_000_000 + 2 * n, attributes))
        tool = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.call.result": "found",
        }
        spans.append(_span(2 * n + 1, 1_760_000_000_000_000_000 + 2 * n + 1, tool))
    document = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    path.write_text(json.dumps(document), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--size-mb", type=float, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.json"
        write_trace(path, args.calls, args.size_mb)
        size_mib = path.stat().st_size / 2**20
        runs = [run_process(REPO, sys.executable, "-c", READ, path) for _ in range(args.rounds)]
    for run in runs:
        if run.exit_code != 0:
            raise SystemExit(f"reading failed: {run.output.strip()[-500:]}")
    count, _ = runs[0].tail.split()
    wall = statistics.median(run.wall_s for run in runs)
    inside = statistics.median(float(run.tail.split()[1]) for run in runs)
    rss = statistics.median(run.peak_rss_mib for run in runs)
    print(f"OTLP JSON, {count} model calls, {size_mib:.1f} MiB; median of {args.rounds} rounds")
    print(f"  wall (process spawn to exit): {wall:.2f} s")
    print(f"  json.load + otlp.read:        {inside:.2f} s")
    print(f"  peak RSS:                     {rss:.0f} MiB ({rss / size_mib:.1f} x the file)")


if __name__ == "__main__":
    main()
