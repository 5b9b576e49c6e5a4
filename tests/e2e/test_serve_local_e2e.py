"""``incident-evals serve-local``: the embedded model for manual use, until Ctrl-C."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

import openai
import pytest

from embedded_model import require_local_model

READY = re.compile(
    r"embedded local model ready in [\d.]+ s: (http://127\.0\.0\.1:(\d+)/v1), model "
    r"smollm2-135m-instruct, 2 parallel slots$"
)


@pytest.fixture(autouse=True)
def _local_model() -> None:
    require_local_model()


def port_refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_serve_local_answers_until_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "incident_evals", "serve-local", "--slots", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = READY.match(first.rstrip("\n"))
        assert match, first + (process.stderr.read() if process.stderr else "")
        base_url, port = match.group(1), int(match.group(2))
        assert process.stdout.readline().strip() == (
            f"pytest --incident-evals --incident-base-url {base_url} "
            "--incident-model smollm2-135m-instruct"
        )

        client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=8,
        )
        client.close()
        assert reply.choices[0].message.content

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while not port_refuses(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert port_refuses(port), "the model server outlived serve-local"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
