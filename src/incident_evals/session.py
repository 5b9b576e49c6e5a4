"""The endpoint side of one pytest session: endpoint, client, embedded model, recordings, and
the dispatcher that runs every sample's replay concurrently."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from incident_evals import options
from incident_evals.client import (
    ChatClient,
    Endpoint,
    EndpointError,
    JudgeError,
    TargetClient,
    is_connection_failure,
)
from incident_evals.dispatch import Dispatcher
from incident_evals.secrets import Scrubber

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from incident_evals.case import IncidentCase
    from incident_evals.client import ResponseCache
    from incident_evals.constraints.judge import JudgeCheck
    from incident_evals.local_model import LocalModelServer
    from incident_evals.recording import RecordingStore
    from incident_evals.replay import Completer
    from incident_evals.request_process import ProcessChatClient, RequestProcess
    from incident_evals.transcript import Judgement, Transcript

LOCAL_MODEL_SOURCE = "embedded local model: llama.cpp server, SmolLM2-135M-Instruct"
#: The model named in requests answered from recordings when none is configured; the recording
#: lookup ignores it, and the transcript keeps the model the recorded response names.
RECORDED_MODEL = "recorded"
#: The model named in requests to a target when none is configured.
TARGET_MODEL = "target"
#: Some variety between versions of a paraphrase; the cache makes each one stable anyway.
GENERATOR_TEMPERATURE = 0.7
GENERATOR_MAX_TOKENS = 600


@dataclass(frozen=True)
class SharedLocalModel:
    """The embedded model's server the xdist controller started, as its workers receive it."""

    port: int
    pid: int
    slots: int
    log_path: Path | None
    #: Workers sharing it: each sends it ``slots // workers`` requests at once (at least one).
    workers: int = 1
    #: The cause the workers' items fail with, when it did not start.
    failure: str | None = None

    def to_workerinput(self) -> dict[str, Any]:
        # execnet carries plain values only.
        return {
            "port": self.port,
            "pid": self.pid,
            "slots": self.slots,
            "log_path": str(self.log_path) if self.log_path else None,
            "failure": self.failure,
        }

    @classmethod
    def from_workerinput(cls, data: dict[str, Any], workers: int) -> SharedLocalModel:
        log_path = data.get("log_path")
        return cls(
            port=int(data["port"]),
            pid=int(data["pid"]),
            slots=int(data["slots"]),
            log_path=Path(log_path) if log_path else None,
            workers=max(1, workers),
            failure=data.get("failure"),
        )


#: The key of :class:`SharedLocalModel` in an xdist worker's ``workerinput``.
WORKERINPUT_KEY = "incident_evals_local_model"


@dataclass(frozen=True)
class Recordings:
    directory: Path
    #: ``record`` writes every exchange; ``replay`` answers only from them, offline.
    mode: str


class EvalSession:
    """Owns the client, the embedded model's server process and the dispatcher.

    The embedded model's server starts when the first sample that needs it is submitted (in
    pytest's thread, right after collection), so a run that sends nothing starts nothing; the
    first request waits for it to answer. Under xdist the controller starts it and the workers
    share it (``shared_local``). It answers ``slots`` requests at once, so unless
    ``concurrency`` is given the dispatcher sends it that many (split between the workers that
    share it). A start-up failure, or the server's death, is remembered and becomes
    every later request's error (nothing more is sent to it), and a notice for the terminal
    (``take_notices``), rather than a wait or a connection error per item.
    """

    def __init__(
        self,
        endpoint: Endpoint | None,
        *,
        timeout_s: float,
        retries: int,
        local_startup_timeout_s: float,
        concurrency: int | None = None,
        recordings: Recordings | None = None,
        judge: options.JudgeSettings | None = None,
        judge_cache_dir: Callable[[], Path | None] | None = None,
        generator: Endpoint | None = None,
        generator_cache_dir: Callable[[], Path | None] | None = None,
        target: Callable[[dict[str, Any]], Any] | None = None,
        scrubber: Scrubber | None = None,
        api: str = "chat",
        local_slots: int | None = None,
        shared_local: SharedLocalModel | None = None,
        request_process: RequestProcess | None = None,
    ) -> None:
        #: The API the run speaks (``--incident-api``); a case's ``model.api`` wins for its
        #: replays. The judge and the generator speak it too.
        self.api = api
        #: Every text the run writes goes through it (:mod:`incident_evals.secrets`).
        self.scrubber = scrubber if scrubber is not None else Scrubber.from_environment()
        self._configured = endpoint
        self._timeout_s = timeout_s
        self._retries = retries
        self._local_startup_timeout_s = local_startup_timeout_s
        self._shared_local = shared_local
        self._recordings = recordings
        self._stores: dict[tuple[str, str], RecordingStore] = {}
        self._local: LocalModelServer | None = None
        self._local_tried = False
        self._local_ready = False
        #: Keep the embedded model server's log after the run (it went wrong).
        self.keep_local_log = False
        self._notices: list[list[str]] = []
        #: The endpoint's clients, one per API, each made when first needed.
        self._clients: dict[str, ChatClient | ProcessChatClient] = {}
        #: The helper process started ahead for the first client (request_process), if any.
        self._spare_process = request_process
        self._failure: EndpointError | None = None
        self._lock = threading.Lock()
        self._judge = judge or options.JudgeSettings(None, "no judge endpoint is configured")
        self._judge_cache_dir = judge_cache_dir
        self._judge_cache: ResponseCache | None = None
        self._target_client: TargetClient | None = None
        self._judge_client: ChatClient | None = None
        self._judge_store: RecordingStore | None = None
        self.generator = generator
        #: The application under test, from ``pytest_incident_evals_target``, if any.
        self.target = target
        self._generator_cache_dir = generator_cache_dir
        self._generator_cache: ResponseCache | None = None
        self._generator_client: ChatClient | None = None
        #: Requests the embedded model answers at once, when the run uses it.
        self.local_slots = 0
        if self.uses_local_model:
            from incident_evals.local_model import machine_slots

            self.local_slots = (
                shared_local.slots
                if shared_local is not None
                else local_slots
                if local_slots is not None
                else machine_slots()
            )
        # Recorded answers have no latency to overlap: read them in pytest's own thread.
        if self.offline:
            concurrency = 0
        elif concurrency is None and self.uses_local_model:
            # More would wait in the server's own queue while their timeouts run.
            workers = shared_local.workers if shared_local is not None else 1
            concurrency = max(1, self.local_slots // workers)
        elif concurrency is None:
            concurrency = options.DEFAULT_CONCURRENCY
        self.dispatcher: Dispatcher[Transcript] = Dispatcher(concurrency)

    @property
    def offline(self) -> bool:
        """Answering from recordings only: no endpoint, no embedded model."""
        return self._recordings is not None and self._recordings.mode == "replay"

    @property
    def recordings(self) -> Recordings | None:
        return self._recordings

    @property
    def uses_local_model(self) -> bool:
        return self._configured is None and not self.offline and self.target is None

    @property
    def local_server(self) -> LocalModelServer | None:
        """The embedded model's server, once started."""
        return self._local

    def start(self) -> None:
        """Get ready to send while pytest collects (the embedded model starts on demand)."""
        if self.offline or self._spare_process is not None:
            # The helper started ahead imports the SDK on another CPU meanwhile.
            return
        # The SDK takes ~0.5 s to import: on the loop's thread while pytest collects, so it is
        # there, or under way, when the first request goes out.
        self.dispatcher.loop.call(_import_sdk)

    def start_local_model(self) -> None:
        """Start the embedded model's server if this session uses it and it is not started.

        Call from pytest's own thread: on Linux the server ends with the thread that started it
        (see ``local_model``). A build that would crash here, or a launch that fails, becomes
        the session's failure and a notice, instead of requests sent into it.
        """
        # Asked at every submit: a run against an endpoint never loads the embedded model's code.
        if not self.uses_local_model or self._local_tried:
            return
        from incident_evals.local_model import LocalModelError, LocalModelServer

        with self._lock:
            if not self.uses_local_model or self._local_tried:
                return
            self._local_tried = True
            shared = self._shared_local
            if shared is not None and shared.failure is not None:
                self._fail(shared.failure, [])
                return
            if shared is not None:
                server = LocalModelServer.attach(
                    shared.port,
                    shared.pid,
                    shared.slots,
                    shared.log_path,
                    startup_timeout_s=self._local_startup_timeout_s,
                )
            else:
                server = LocalModelServer(
                    startup_timeout_s=self._local_startup_timeout_s, slots=self.local_slots
                )
                try:
                    server.start()
                except LocalModelError as exc:
                    self._fail(f"the embedded local model did not start: {exc.reason}", [])
                    return
            self._local = server
        server.on_death(self._local_died)

    def shared_local_model(self, workers: int) -> SharedLocalModel | None:
        """The started embedded model as the xdist workers receive it (``None`` when this run
        does not use it): the server, or why it did not start."""
        if not self.uses_local_model:
            return None
        with self._lock:
            server, failure = self._local, self._failure
        if server is None or server.pid is None:
            cause = (
                failure.cause
                if failure is not None
                else "the embedded local model was not started by the xdist controller"
            )
            return SharedLocalModel(0, 0, self.local_slots, None, workers, failure=cause)
        return SharedLocalModel(server.port, server.pid, server.slots, server.log_path, workers)

    def _fail(self, cause: str, log_lines: list[str], log_path: Path | None = None) -> None:
        """Every later request fails with ``cause``; the terminal says so once. Under the lock."""
        where = f"; its log: {log_path}" if log_path is not None else ""
        self._failure = EndpointError(cause + where, 0)
        notice = [f"incident-evals: {cause}; the items that need it are errors"]
        if log_lines:
            notice[0] += f". Last lines of its log ({log_path}):"
            notice.extend(f"    {line}" for line in log_lines)
        self._notices.append(notice)
        self.keep_local_log = True

    def _local_died(self) -> None:
        """The watcher's callback: the server ended without being stopped."""
        server = self._local
        assert server is not None
        with self._lock:
            # Before it was ready, the wait for it reports the exit (client()).
            if not self._local_ready or self._failure is not None:
                return
            self._fail(
                f"the embedded model server died ({server.exit_description()})",
                _log_lines(server),
                server.log_path,
            )
            clients = list(self._clients.values())
        for client in clients:
            # Retries against a dead server end now; the completer names the death instead.
            client.cancel()

    def take_notices(self) -> list[list[str]]:
        """What the terminal must say once (a server that died or did not start), each a list
        of lines; each is handed out once."""
        with self._lock:
            notices, self._notices = self._notices, []
        return notices

    def local_failure(self) -> EndpointError | None:
        """The embedded model server's death or start failure, if it has one."""
        server = self._local
        if server is not None and server.died:
            # Its watcher may not have run the callback yet: the failure is the same.
            self._local_died()
        with self._lock:
            return self._failure if self.uses_local_model else None

    def progress(self) -> tuple[int, int, int]:
        """Samples ``(answered, in flight, queued)`` by the dispatcher so far."""
        return self.dispatcher.counts()

    def described(self) -> tuple[str | None, str | None]:
        """``(model, base URL)`` of the endpoint under test, for reports; offline, the model
        configured (if any) and no URL."""
        if self.target is not None:
            return (self._configured.model if self._configured else TARGET_MODEL), None
        if self.offline:
            return (self._configured.model if self._configured else None), None
        if self._configured is None and self._local is None:
            return None, None
        return self.endpoint.model, self.endpoint.shown_url

    @property
    def endpoint(self) -> Endpoint:
        if self._configured is not None:
            return self._configured
        if self._local is None:
            raise RuntimeError("the embedded local model has not been started")
        return Endpoint(
            base_url=self._local.base_url, model=self._local.model, source=LOCAL_MODEL_SOURCE
        )

    def client(self, api: str | None = None) -> ChatClient | ProcessChatClient | TargetClient:
        """The client of the endpoint under test speaking ``api`` (the run's when ``None``), or
        the target. A target is called with the request in the API's form either way."""
        api = api or self.api
        # Started by submit() in a run; here for a direct replay() (pytest's thread too).
        self.start_local_model()
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self.target is not None:
                if self._target_client is None:
                    model = self._configured.model if self._configured else TARGET_MODEL
                    self._target_client = TargetClient(self.target, model)
                return self._target_client
            if api not in self._clients:
                if self.uses_local_model:
                    self._wait_for_local_model()
                self._clients[api] = self._endpoint_client(api)
            return self._clients[api]

    def _endpoint_client(self, api: str) -> ChatClient | ProcessChatClient:
        """Under the lock: a client of the endpoint under test, sending from the helper process
        started ahead, or from a new one where one pays (:func:`~incident_evals.
        request_process.helps_here`)."""
        from incident_evals.request_process import ProcessChatClient, helps_here

        settings: dict[str, Any] = {
            "timeout_s": self._timeout_s,
            "retries": self._retries,
            "concurrency": self.dispatcher.concurrency,
            "api": api,
        }
        if self._spare_process is None and not helps_here():
            return ChatClient(self.endpoint, **settings)
        process, self._spare_process = self._spare_process, None
        return ProcessChatClient(
            self.endpoint, loop=self.dispatcher.loop, process=process, **settings
        )

    def api_for(self, case: IncidentCase) -> str:
        """The API ``case`` replays over: its ``model.api``, else the run's."""
        api = case.model.get("api")
        return api if isinstance(api, str) else self.api

    def _wait_for_local_model(self) -> None:
        """Under the lock: wait until the started embedded model answers, or fail the session."""
        from incident_evals.local_model import LocalModelError

        server = self._local
        assert server is not None
        try:
            server.wait_ready()
        except LocalModelError as exc:
            self._fail(
                f"the embedded local model did not start: {exc.reason}",
                exc.log_tail.splitlines(),
                exc.log_path,
            )
            assert self._failure is not None
            raise self._failure from None
        self._local_ready = True

    def _store_for_run(self, model: str | None = None, api: str = "chat") -> RecordingStore | None:
        """The recordings of the model under test, or of a side-by-side baseline ``model``, over
        ``api`` (keyed apart: a Chat recording never answers a Responses replay)."""
        if self._recordings is None:
            return None
        # A baseline model's exchanges live apart: the recording key leaves the model out.
        subfolder = f"baseline-{_folder_name(model)}" if model else ""
        with self._lock:
            if (subfolder, api) not in self._stores:
                from incident_evals.recording import RecordingStore

                self._stores[subfolder, api] = RecordingStore(
                    self._recordings.directory, subfolder, self.scrubber.credentials, api=api
                )
            return self._stores[subfolder, api]

    def replay(self, case: IncidentCase, sample: int = 0, model: str | None = None) -> Transcript:
        """One sample of one case, from the endpoint, through or from recordings.

        ``model`` replaces the model under test (the side-by-side baseline model).
        """
        from incident_evals.replay import replay

        api, completer, requested = self._completer(case, sample, model)
        return _with_api(replay(case, completer, requested), api)

    async def replay_async(
        self, case: IncidentCase, sample: int = 0, model: str | None = None
    ) -> Transcript:
        """:meth:`replay` on the event loop, for a session whose requests all go to an
        endpoint (:attr:`replays_async`)."""
        from incident_evals.replay import replay_async

        api, completer, requested = self._completer(case, sample, model)
        return _with_api(await replay_async(case, completer, requested), api)  # type: ignore[arg-type]

    @property
    def replays_async(self) -> bool:
        """Whether samples run as coroutines on the event loop: every request goes to an
        endpoint through :class:`ChatClient` (recorded or not). An application target and the
        embedded model's client block, and recorded answers have nothing to wait for."""
        return (
            self.dispatcher.concurrency > 0
            and not self.offline
            and self.target is None
            and not self.uses_local_model
        )

    def _completer(
        self, case: IncidentCase, sample: int, model: str | None
    ) -> tuple[str, Completer, str]:
        """``(api, completer, model requested)`` for one sample of ``case``."""
        api = self.api_for(case)
        store = self._store_for_run(model, api)
        completer: Completer
        if self.offline:
            from incident_evals.recording import RecordingCompleter

            assert store is not None
            configured = model or (self._configured.model if self._configured else None)
            completer = RecordingCompleter(store, case.id, sample, None, model=configured)
            return api, _over(api, completer), configured or RECORDED_MODEL
        client = self.client(api)
        completer = client
        if self._local is not None and not isinstance(client, TargetClient):
            completer = _LocalModelCompleter(self, client)
        if store is not None:
            from incident_evals.recording import RecordingCompleter

            # Recordings keep the request as the case builds it: the embedded model's reply
            # cap is added below them, on the way to the server.
            completer = RecordingCompleter(store, case.id, sample, completer)
        return api, _over(api, completer), model or client.endpoint.model

    def submit(
        self,
        case: IncidentCase,
        sample: int,
        judges: Sequence[JudgeCheck] = (),
        model: str | None = None,
    ) -> Future[Transcript]:
        """Queue one sample; the first one that needs the embedded model starts it."""
        if not self.offline:
            self.start_local_model()
        # A tool's python handler is project code that may block: its samples keep a thread.
        if self.replays_async and not any(tool.python for tool in case.input.tools):

            async def run_async() -> Transcript:
                transcript = await self.replay_async(case, sample, model)
                for check in judges:
                    # The judge's cache and recordings are files: read and written off the
                    # loop, its requests still go through it.
                    judgement = await self.dispatcher.blocking(
                        self.judge, check, transcript, case, sample
                    )
                    transcript.judgements.append(judgement)
                return transcript

            return self.dispatcher.submit_async(run_async)

        def run() -> Transcript:
            transcript = self.replay(case, sample, model)
            transcript.judgements.extend(
                self.judge(check, transcript, case, sample) for check in judges
            )
            return transcript

        return self.dispatcher.submit(run)

    # --- the generator model ------------------------------------------------------------

    def complete_with_generator(self, messages: list[dict[str, Any]]) -> str:
        """The generator model's reply to ``messages`` (paraphrase and translation variants).

        Cached by request in pytest's cache, so a catalogue's variants are written once. Offline
        (replaying recordings), only the cache answers: a miss is an error saying how to freeze.
        """
        from incident_evals.client import ResponseCache
        from incident_evals.replay import read_answer

        assert self.generator is not None
        request = {
            "model": self.generator.model,
            "messages": messages,
            "temperature": GENERATOR_TEMPERATURE,
            "max_tokens": GENERATOR_MAX_TOKENS,
        }
        with self._lock:
            if self._generator_cache is None:
                directory = self._generator_cache_dir() if self._generator_cache_dir else None
                self._generator_cache = ResponseCache(directory, self.scrubber.credentials)
            cache = self._generator_cache
        key = self._cache_key(request)
        response = cache.get(key)
        if response is None:
            if self.offline:
                raise EndpointError(
                    "the generator model's answer is not cached and this run is offline: freeze "
                    "the variants into the case with incident-evals variants --freeze",
                    0,
                )
            with self._lock:
                if self._generator_client is None:
                    self._generator_client = ChatClient(
                        self.generator,
                        timeout_s=self._timeout_s,
                        retries=self._retries,
                        api=self.api,
                    )
                client = self._generator_client
            response, _ = _over(self.api, client).complete(request)
            read_answer(response, "the generator model")  # a malformed answer is not cached
            cache.put(key, response)
        content = read_answer(response, "the generator model").text
        if not content:
            raise EndpointError("the generator model's reply has no text", 1)
        return content

    # --- the judge -------------------------------------------------------------------------

    @property
    def judge_settings(self) -> options.JudgeSettings:
        return self._judge

    def judge_problem(self, judges: Sequence[JudgeCheck]) -> str | None:
        """Why these judge constraints cannot be judged in this run, if they cannot."""
        if self.offline:
            return None
        for check in judges:
            if self._judge.endpoint is None or self._judge.model_for(check.model) is None:
                return self._judge.missing
        return None

    def judge(
        self, check: JudgeCheck, transcript: Transcript, case: IncidentCase, sample: int
    ) -> Judgement:
        """The judge's verdict on one sample: from the cache, recordings or the judge endpoint.

        Asked ``check.samples`` times, the majority decides (a tie fails) and the verdict keeps
        how many samples agree with it, and the reason and model of the first that does.
        """
        from incident_evals.constraints.judge import (
            JUDGE_PROMPT_VERSION,
            JudgeReplyError,
            build_judge_request,
            parse_judge_reply,
        )
        from incident_evals.transcript import Judgement

        configured = self._judge.model_for(check.model)
        votes: list[tuple[bool, str, str | None, bool]] = []
        requested = configured or RECORDED_MODEL
        for draw in range(check.samples):
            request = build_judge_request(check, transcript, case, requested, draw)
            response, cached = self._ask_judge(request, case.id, sample, configured)
            try:
                holds, reason = parse_judge_reply(response)
            except JudgeReplyError as exc:
                raise JudgeError(str(exc), 1) from None
            if not cached and not self.offline:
                self._cache().put(self._cache_key(request), response)
            model = response.get("model") if isinstance(response.get("model"), str) else None
            votes.append((holds, reason, model, cached))
        passing = sum(vote[0] for vote in votes)
        holds = 2 * passing > len(votes)
        agreeing = [vote for vote in votes if vote[0] == holds]
        _, reason, model, _ = agreeing[0]
        return Judgement(
            rubric=check.rubric,
            constraint_model=check.model,
            requested_model=requested,
            model=model,
            holds=holds,
            reason=reason,
            prompt_version=JUDGE_PROMPT_VERSION,
            cached=all(vote[3] for vote in votes),
            samples=len(votes),
            agreeing=len(agreeing),
        )

    def extract_decision(
        self, question: str, transcript: Transcript, case: IncidentCase, sample: int
    ) -> str:
        """The judge's short answer to ``question`` about one sample's output."""
        from incident_evals.constraints.judge import (
            JudgeReplyError,
            build_extraction_request,
            parse_extraction_reply,
        )

        configured = self._judge.model_for(None)
        request = build_extraction_request(question, transcript, case, configured or RECORDED_MODEL)
        response, cached = self._ask_judge(request, case.id, sample, configured)
        try:
            decision = parse_extraction_reply(response)
        except JudgeReplyError as exc:
            raise JudgeError(str(exc), 1) from None
        if not cached and not self.offline:
            self._cache().put(self._cache_key(request), response)
        return decision

    def _ask_judge(
        self, request: dict[str, Any], case_id: str, sample: int, model: str | None
    ) -> tuple[dict[str, Any], bool]:
        """The judge's reply to ``request`` and whether it came from the cache."""
        store = self._judge_recordings()
        try:
            if self.offline:
                from incident_evals.recording import RecordingCompleter

                assert store is not None
                completer = RecordingCompleter(store, case_id, sample, None, model=model)
                return completer.complete(request)[0], False
            response = self._cache().get(self._cache_key(request))
            if response is not None:
                if store is not None:
                    # A cached verdict still goes into the recordings: replay must not need it.
                    store.save(case_id, sample, request, response, 0.0)
                return response, True
            response, latency = _over(self.api, self._judge_chat_client()).complete(request)
            if store is not None:
                store.save(case_id, sample, request, response, latency)
            return response, False
        except JudgeError:
            raise
        except EndpointError as exc:
            raise JudgeError(str(exc), 0) from None

    def _cache_key(self, request: dict[str, Any]) -> dict[str, Any]:
        """What the judge's and the generator's caches key ``request`` by: a reply over one API
        never answers the other (Chat keys are unchanged, so existing caches still answer)."""
        return request if self.api == "chat" else {**request, "incident_evals_api": self.api}

    def _cache(self) -> ResponseCache:
        with self._lock:
            if self._judge_cache is None:
                from incident_evals.client import ResponseCache

                directory = self._judge_cache_dir() if self._judge_cache_dir else None
                self._judge_cache = ResponseCache(directory, self.scrubber.credentials)
            return self._judge_cache

    def _judge_recordings(self) -> RecordingStore | None:
        if self._recordings is None:
            return None
        with self._lock:
            if self._judge_store is None:
                from incident_evals.recording import RecordingStore

                self._judge_store = RecordingStore(
                    self._recordings.directory, "judge", self.scrubber.credentials, api=self.api
                )
            return self._judge_store

    def _judge_chat_client(self) -> ChatClient:
        endpoint = self._judge.endpoint
        if endpoint is None:
            raise JudgeError(self._judge.missing, 0)
        with self._lock:
            if self._judge_client is None:
                self._judge_client = ChatClient(
                    endpoint, timeout_s=self._timeout_s, retries=self._retries, api=self.api
                )
            return self._judge_client

    def close(self) -> None:
        self.dispatcher.close()
        with self._lock:
            for client in (*self._clients.values(), self._judge_client, self._generator_client):
                if client is not None:
                    client.close()
            self._clients.clear()
            if self._spare_process is not None:
                self._spare_process.discard()
                self._spare_process = None
            self._judge_client = self._generator_client = None
            if self._local is not None:
                # A run that went wrong keeps the log: the messages point at it.
                if self.keep_local_log:
                    self._local.stop()
                else:
                    self._local.close()

    def kept_local_log(self) -> Path | None:
        """The embedded model server's log, when the run keeps it."""
        server = self._local
        if server is None or not self.keep_local_log:
            return None
        return server.log_path


#: Log lines quoted when the embedded model server dies or does not start.
LOG_LINES_SHOWN = 12


def _with_api(transcript: Transcript, api: str) -> Transcript:
    transcript.api = api
    for turn in transcript.turns:
        turn.api = api
    return transcript


def _over(api: str, completer: Completer) -> Completer:
    """``completer`` as the replay, the judge and the generator use it over ``api``: Chat
    requests in and Chat answers out, whatever goes over the wire."""
    if api != "responses":
        return completer
    from incident_evals.responses_api import ResponsesCompleter

    return ResponsesCompleter(completer)


def _log_lines(server: LocalModelServer) -> list[str]:
    return server.log_tail(LOG_LINES_SHOWN).rstrip().splitlines()


class _LocalModelCompleter:
    """The embedded model's client: nothing is sent to a server that died, and a request that
    failed because it died fails with that cause, not with the connection error it caused.

    A request without ``max_tokens`` is sent with :data:`~incident_evals.local_model.
    DEFAULT_MAX_TOKENS`, so that one runaway reply cannot hold a slot until its context is full.
    """

    #: How long a connection failure waits for the server's exit to be seen.
    EXIT_GRACE_S = 1.0

    def __init__(self, session: EvalSession, client: ChatClient | ProcessChatClient) -> None:
        self._session = session
        self._client = client

    def complete(self, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
        from incident_evals.local_model import DEFAULT_MAX_TOKENS

        self._raise_if_failed()
        limits = ("max_tokens", "max_completion_tokens")
        if "messages" in request and all(request.get(key) is None for key in limits):
            request = {**request, "max_tokens": DEFAULT_MAX_TOKENS}
        try:
            return self._client.complete(request)
        except EndpointError as exc:
            server = self._session.local_server
            if server is not None and is_connection_failure(exc):
                server.wait_exit(self.EXIT_GRACE_S)
            self._raise_if_failed()
            raise

    def _raise_if_failed(self) -> None:
        failure = self._session.local_failure()
        if failure is not None:
            raise failure


def _folder_name(model: str | None) -> str:
    """A model name as one safe folder name (``gpt-4o/2024`` -> ``gpt-4o_2024``)."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in model or "")


def _import_sdk() -> None:
    import openai  # noqa: F401
    import tenacity  # noqa: F401


def session_from_config(
    config: pytest.Config, request_process: RequestProcess | None = None
) -> EvalSession:
    """The session's endpoint side; stops the run now if there is no endpoint and no local model.

    ``request_process`` is the helper process started ahead for its requests, if any."""
    record, replay_from = options.value(config, "record"), options.value(config, "replay")
    if record and replay_from:
        raise pytest.UsageError(
            "--incident-record and --incident-replay exclude each other: record a run once, "
            "then replay it"
        )
    recordings = None
    if record:
        recordings = Recordings(options.invocation_path(config, record), "record")
    elif replay_from:
        directory = options.invocation_path(config, replay_from)
        if not directory.is_dir():
            raise pytest.UsageError(
                f"--incident-replay: {directory} is not a directory of recordings; "
                "make one with --incident-record DIR"
            )
        recordings = Recordings(directory, "replay")
    offline = recordings is not None and recordings.mode == "replay"
    endpoint = options.resolve_endpoint(config, offline=offline)
    target = None if offline else config.hook.pytest_incident_evals_target(config=config)
    if target is not None and not callable(target):
        raise pytest.UsageError(
            f"pytest_incident_evals_target returned {type(target).__name__}, not a callable "
            "taking a Chat Completions request and returning its response"
        )
    if endpoint is None and target is None and not offline and not config.option.collectonly:
        from incident_evals.local_model import LocalModelUnavailable, find_local_model

        try:
            find_local_model()
        except LocalModelUnavailable as exc:
            raise pytest.UsageError(str(exc)) from None
    concurrency, source = options.resolve(config, "concurrency")
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    shared = workerinput.get(WORKERINPUT_KEY)
    return EvalSession(
        endpoint,
        timeout_s=options.value(config, "timeout"),
        retries=options.value(config, "retries"),
        local_startup_timeout_s=options.value(config, "local_startup_timeout"),
        # Not given: the default, or against the embedded model its slots.
        concurrency=None if source == "default" else concurrency,
        local_slots=options.value(config, "local_slots"),
        shared_local=(
            SharedLocalModel.from_workerinput(shared, int(workerinput.get("workercount", 1)))
            if isinstance(shared, dict)
            else None
        ),
        recordings=recordings,
        judge=options.resolve_judge(config, endpoint),
        judge_cache_dir=lambda: _cache_dir(config, "incident-evals-judge"),
        generator=options.resolve_generator(config, endpoint, offline=offline),
        target=target,
        generator_cache_dir=lambda: _cache_dir(config, "incident-evals-generator"),
        scrubber=options.run_scrubber(config),
        api=options.value(config, "api"),
        request_process=request_process if target is None else None,
    )


def _cache_dir(config: pytest.Config, name: str) -> Path | None:
    # Absent under `-p no:cacheprovider`: replies are then cached for this run only.
    cache = getattr(config, "cache", None)
    return cache.mkdir(name) if cache is not None else None
