"""The embedded local model manager, against the real ``llama_cpp.server`` and SmolLM2 weights."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

import fake_llama_server
from embedded_model import require_local_model
from incident_evals import local_model
from incident_evals.local_model import (
    BUILD_FLAGS,
    LocalModelError,
    LocalModelServer,
    amx_build_problem,
    cpu_advertises_amx,
    has_amx_code,
    llama_cpu_libraries,
)


@pytest.fixture
def server() -> Iterator[LocalModelServer]:
    require_local_model()
    srv = LocalModelServer(startup_timeout_s=120.0, n_ctx=2048)
    try:
        yield srv
    finally:
        srv.close()


def _port_refuses(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        return False


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_find_local_model_returns_an_existing_gguf() -> None:
    path = require_local_model()
    assert path.is_absolute()
    assert path.suffix == ".gguf"
    assert path.is_file()
    assert path.stat().st_size > 10_000_000


def test_start_chat_stop_cycle(server: LocalModelServer) -> None:
    server.start()
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    elapsed = server.wait_ready()
    assert elapsed > 0

    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model=LocalModelServer.MODEL_ALIAS,
        messages=[{"role": "user", "content": "Say hello in one short sentence."}],
        max_tokens=32,
        temperature=0,
    )
    content = reply.choices[0].message.content
    assert isinstance(content, str)
    assert content.strip()
    assert reply.model == LocalModelServer.MODEL_ALIAS
    assert reply.usage is not None
    assert reply.usage.completion_tokens > 0

    port, pid = server.port, server.pid
    assert pid is not None
    server.stop()
    assert not server.is_running()
    assert _port_refuses(port)
    assert _group_gone(pid)


def test_wait_ready_reports_the_server_log_when_the_model_is_bogus(tmp_path: Path) -> None:
    require_local_model()
    bogus = tmp_path / "no-such-model.gguf"
    srv = LocalModelServer(model_path=bogus, startup_timeout_s=60.0)
    try:
        srv.start()
        with pytest.raises(LocalModelError, match=r"ended \(exit status 1\) before") as info:
            srv.wait_ready()
        message = str(info.value)
        assert "last lines of the server log" in message
        assert str(bogus) in message
        assert not srv.is_running()
    finally:
        srv.close()


def test_wait_ready_times_out_with_the_log_and_stops_the_server() -> None:
    require_local_model()
    srv = LocalModelServer(startup_timeout_s=0.01)
    try:
        srv.start()
        pid = srv.pid
        assert pid is not None
        with pytest.raises(LocalModelError, match="not ready after"):
            srv.wait_ready()
        assert not srv.is_running()
        assert _group_gone(pid)
    finally:
        srv.close()


def test_stop_is_idempotent(server: LocalModelServer) -> None:
    server.stop()  # never started: nothing to do
    server.start()
    pid = server.pid
    assert pid is not None
    server.stop()  # while still loading
    server.stop()
    assert not server.is_running()
    assert _group_gone(pid)
    server.close()
    server.close()


def test_context_manager_is_ready_inside_and_stopped_after() -> None:
    require_local_model()
    with LocalModelServer() as srv:
        assert srv.is_running()
        port = srv.port
        log = srv.log_path
    assert not srv.is_running()
    assert _port_refuses(port)
    assert log is not None
    assert not log.exists()


# --- the build: AMX ----------------------------------------------------------------------------

#: Instructions as GNU as encodes them (``as`` then ``objdump -d``): every form of ldtilecfg.
LDTILECFG = {
    "ldtilecfg (%rax)": bytes.fromhex("c4e2784900"),
    "ldtilecfg 0x40(%rsp)": bytes.fromhex("c4e27849442440"),
    "ldtilecfg (%r8)": bytes.fromhex("c4c2784900"),
    "ldtilecfg (%rax,%r9,1)": bytes.fromhex("c4a278490408"),
    "ldtilecfg (%r8,%r9,1)": bytes.fromhex("c48278490408"),
}
#: AMX-looking or AVX2 code that is not ldtilecfg (an AMX kernel always has one ldtilecfg).
NOT_LDTILECFG = {
    "sttilecfg (%rax)": bytes.fromhex("c4e2794900"),
    "tilerelease": bytes.fromhex("c4e27849c0"),
    "vbroadcastss (%rax),%ymm0": bytes.fromhex("c4e27d1800"),
    "vfmadd231ps %ymm2,%ymm1,%ymm0": bytes.fromhex("c4e275b8c2"),
    "empty": b"",
}
#: An ELF-ish file around the instruction, as in a shared library.
PADDING = b"\x7fELF" + bytes(range(256)) * 64


def library(tmp_path: Path, code: bytes, *, at: int = 4096, size: int = 16384) -> Path:
    data = bytearray((PADDING * (size // len(PADDING) + 1))[:size])
    data[at : at + len(code)] = code
    path = tmp_path / "libggml-cpu.so"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("code", LDTILECFG.values(), ids=LDTILECFG.keys())
def test_amx_code_is_found(tmp_path: Path, code: bytes) -> None:
    assert has_amx_code(library(tmp_path, code))


@pytest.mark.parametrize("code", NOT_LDTILECFG.values(), ids=NOT_LDTILECFG.keys())
def test_other_code_is_not_amx(tmp_path: Path, code: bytes) -> None:
    assert not has_amx_code(library(tmp_path, code))


def test_amx_code_across_two_reads_is_found(tmp_path: Path) -> None:
    chunk = local_model._SCAN_CHUNK
    path = library(tmp_path, LDTILECFG["ldtilecfg (%rax)"], at=chunk - 2, size=chunk + 64)
    assert has_amx_code(path)


def test_a_missing_library_is_not_amx(tmp_path: Path) -> None:
    assert not has_amx_code(tmp_path / "missing.so")


def test_the_scan_agrees_with_objdump(tmp_path: Path) -> None:
    """A real object with AMX code (assembled here), and the installed build."""
    assembler, objdump = shutil.which("as"), shutil.which("objdump")
    if assembler is None or objdump is None or os.uname().machine != "x86_64":
        pytest.skip("needs GNU as and objdump on x86-64")
    source = tmp_path / "amx.s"
    source.write_text("nop\nldtilecfg 64(%rsp)\ntileloadd (%rax,%rbx,1), %tmm0\ntilerelease\n")
    subprocess.run([assembler, str(source), "-o", str(tmp_path / "amx.o")], check=True)
    for path in [tmp_path / "amx.o", *llama_cpu_libraries()]:
        listing = subprocess.run(
            [objdump, "-d", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert has_amx_code(path) == ("ldtilecfg" in listing), path


def cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\n")
    return path


@pytest.mark.parametrize(
    ("flags", "advertised"),
    [
        ("fpu sse2 avx2 avx512f amx_bf16 avx512_fp16 amx_tile amx_int8", True),
        ("fpu sse2 amx_tile", True),
        ("fpu sse2 avx2 fma f16c avx512f", False),
        ("", False),
    ],
)
def test_cpu_flags(tmp_path: Path, flags: str, advertised: bool) -> None:
    assert cpu_advertises_amx(cpuinfo(tmp_path, flags)) is advertised


def test_a_missing_cpuinfo_is_no_amx(tmp_path: Path) -> None:
    assert not cpu_advertises_amx(tmp_path / "none")


def test_an_amx_build_on_an_amx_cpu_is_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(local_model.ALLOW_AMX_VARIABLE, raising=False)
    lib = library(tmp_path, LDTILECFG["ldtilecfg (%rax)"])
    problem = amx_build_problem(cpuinfo(tmp_path, "avx2 amx_tile"), [lib])

    assert problem is not None
    assert problem.startswith(
        f"the installed llama.cpp ({lib}) was compiled with AMX instructions and this CPU "
        "advertises AMX"
    )
    assert f'rebuild it without AMX: CMAKE_ARGS="{BUILD_FLAGS}" pip install ' in problem
    assert re.search(
        r'CMAKE_ARGS="-DGGML_NATIVE=OFF [^"]*" pip install --force-reinstall --no-cache-dir '
        r"--no-deps 'llama-cpp-python(==[\w.]+)?'",
        problem,
    ), problem
    assert "\n" not in problem


@pytest.mark.parametrize(
    ("flags", "code", "allow"),
    [
        pytest.param("avx2", LDTILECFG["ldtilecfg (%rax)"], None, id="cpu-without-amx"),
        pytest.param("amx_tile", NOT_LDTILECFG["tilerelease"], None, id="build-without-amx"),
        pytest.param("amx_tile", LDTILECFG["ldtilecfg (%rax)"], "1", id="allowed-by-the-user"),
    ],
)
def test_other_combinations_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: str,
    code: bytes,
    allow: str | None,
) -> None:
    if allow is None:
        monkeypatch.delenv(local_model.ALLOW_AMX_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(local_model.ALLOW_AMX_VARIABLE, allow)
    assert amx_build_problem(cpuinfo(tmp_path, flags), [library(tmp_path, code)]) is None


def test_the_installed_build_has_no_amx_code(tmp_path: Path) -> None:
    """The build the README installs; on an AMX CPU it would be refused otherwise."""
    require_local_model()
    libraries = llama_cpu_libraries()
    assert libraries, "llama_cpp has no CPU backend library"
    assert amx_build_problem(cpuinfo(tmp_path, "amx_tile"), libraries) is None


class RefusedServer(LocalModelServer):
    def build_problem(self) -> str | None:
        return "this build would crash here"


def test_start_refuses_a_build_that_would_crash() -> None:
    server = RefusedServer()
    with pytest.raises(LocalModelError) as info:
        server.start()
    assert str(info.value) == "this build would crash here"
    assert server.pid is None
    assert server.log_path is None


# --- watching the process ----------------------------------------------------------------------


class FakeServer(LocalModelServer):
    """The process is tests/fake_llama_server.py, behaving as told."""

    def __init__(self, behaviour: str, cwd: Path) -> None:
        super().__init__(startup_timeout_s=30)
        self.behaviour = behaviour
        self.cwd = cwd

    def build_problem(self) -> str | None:
        return None

    def command(self) -> list[str]:
        script = str(fake_llama_server.SCRIPT)
        return [sys.executable, script, str(self.port), self.behaviour]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the fake leaves its files in its working directory
    return tmp_path


def ask(server: LocalModelServer) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=30)
    try:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    finally:
        client.close()


@pytest.mark.parametrize(
    ("how", "described"),
    [
        ("SIGSEGV", "signal SIGSEGV"),
        ("SIGILL", "signal SIGILL"),
        ("SIGKILL", "signal SIGKILL"),
        ("exit-3", "exit status 3"),
    ],
)
def test_a_death_is_seen_once_with_its_cause(in_tmp: Path, how: str, described: str) -> None:
    server = FakeServer(f"die-on-request:1:{how}", in_tmp)
    deaths: list[str] = []
    seen = threading.Event()

    def died() -> None:
        deaths.append(server.exit_description())
        seen.set()

    server.start()
    try:
        server.on_death(died)
        server.wait_ready()
        with pytest.raises(openai.APIConnectionError):
            ask(server)
        assert seen.wait(30)
        assert server.died
        assert not server.is_running()
        assert deaths == [described]
        assert fake_llama_server.LAST_WORDS in server.log_tail()
        # A callback given after the death runs at once.
        server.on_death(died)
        assert deaths == [described, described]
    finally:
        server.close()


def test_a_stopped_server_did_not_die(in_tmp: Path) -> None:
    server = FakeServer("ok", in_tmp)
    deaths: list[str] = []
    server.start()
    server.on_death(lambda: deaths.append("died"))
    server.wait_ready()
    ask(server)
    server.stop()
    assert server.wait_exit(30)
    assert not server.died
    assert deaths == []
    assert server.exit_description() == f"signal {signal.SIGTERM.name}"
    server.close()


def test_a_death_while_loading_ends_the_wait_with_its_signal(in_tmp: Path) -> None:
    server = FakeServer("die-at-start:SIGSEGV", in_tmp)
    server.start()
    try:
        with pytest.raises(LocalModelError) as info:
            server.wait_ready()
        assert info.value.reason == (
            "the local model server ended (signal SIGSEGV) before it was ready"
        )
        assert fake_llama_server.LAST_WORDS in info.value.log_tail
        assert info.value.log_path == server.log_path
    finally:
        server.close()


# --- slots ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpus", "memory_mib", "slots"),
    [
        (2, 22_000, 2),  # this project's VM: one per CPU
        (1, 22_000, 1),
        (64, 200_000, local_model.MAX_SLOTS),  # a big machine: capped
        (16, 2_048, 2),  # little memory: half of it, 512 MiB a slot
        (4, 100, 1),  # almost none: still one
    ],
)
def test_slots_follow_the_machine(cpus: int, memory_mib: int, slots: int) -> None:
    assert local_model.machine_slots(cpus, memory_mib * 1024 * 1024) == slots


def test_available_memory_is_read_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683856 kB\nMemAvailable:   23000000 kB\n")
    assert local_model.available_memory(meminfo) == 23000000 * 1024
    assert local_model.available_memory(tmp_path / "missing") is None
    meminfo.write_text("MemTotal:       24683856 kB\n")
    assert local_model.available_memory(meminfo) is None


def test_the_command_asks_for_the_slots_one_thread_each(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    server = LocalModelServer(slots=3, model_path=model)
    server._port = 5  # as start() sets it
    argv = server.command()
    assert argv[argv.index("--slots") + 1] == "3"
    assert argv[argv.index("--n_threads") + 1] == "1"
    assert argv[argv.index("--n_ctx") + 1] == str(local_model.DEFAULT_N_CTX)


# --- a server another process owns (xdist workers) ------------------------------------------------


def test_an_attached_server_is_waited_for_watched_and_left_running(in_tmp: Path) -> None:
    owner = FakeServer("ok", in_tmp)
    owner.start()
    try:
        assert owner.pid is not None
        attached = LocalModelServer.attach(
            owner.port, owner.pid, 2, owner.log_path, startup_timeout_s=30
        )
        attached.wait_ready()
        assert attached.attached
        assert attached.base_url == owner.base_url
        ask(attached)
        attached.close()  # the owner's to stop: nothing happens
        assert owner.is_running()
        assert owner.log_path is not None
        assert owner.log_path.exists()
    finally:
        owner.close()


def test_an_attached_servers_death_is_seen(in_tmp: Path) -> None:
    owner = FakeServer("die-on-request:1:SIGSEGV", in_tmp)
    owner.start()
    try:
        assert owner.pid is not None
        attached = LocalModelServer.attach(owner.port, owner.pid, 1, owner.log_path)
        seen = threading.Event()
        attached.on_death(seen.set)
        attached.wait_ready()
        with pytest.raises(openai.APIConnectionError):
            ask(attached)
        assert seen.wait(30)
        assert attached.died
        assert attached.exit_description() == f"process {owner.pid} ended"
        assert fake_llama_server.LAST_WORDS in attached.log_tail()
    finally:
        owner.close()


def test_an_attached_server_that_is_gone_ends_the_wait(in_tmp: Path) -> None:
    owner = FakeServer("never-ready", in_tmp)
    owner.start()
    assert owner.pid is not None
    attached = LocalModelServer.attach(owner.port, owner.pid, 1, owner.log_path)
    owner.stop()
    with pytest.raises(LocalModelError) as info:
        attached.wait_ready(30)
    assert info.value.reason == (
        f"the local model server ended (process {owner.pid} ended) before it was ready"
    )
    owner.close()
