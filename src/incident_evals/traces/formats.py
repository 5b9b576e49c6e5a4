"""The trace formats ``incident-evals calls`` and ``new --from-trace`` read, and how a file's
format is found: from its content (never its name), by asking each format in turn.

A format is a module with ``NAME`` (what ``--format`` takes), ``detect(document) -> bool`` and
``read(document, file) -> list[ModelCall]``. :data:`FORMATS` lists them, one line each, imported
only when a file is read. The file is read once, size-bounded, and parsed here as its content
says (JSON, JSONL or JSON values one after another, a server-sent-event stream, YAML, or a zip
archive's members), so that every format sees the same :class:`Document` and a hostile file is
refused in one place. A cassette that holds calls to several APIs is read by all their formats,
each interaction by its own, in the cassette's order.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import yaml

from incident_evals.json_types import a_json_type
from incident_evals.traces import ModelCall, TraceError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "FORMATS",
    "MAX_BYTES",
    "MAX_RECORD_BYTES",
    "Document",
    "Exchanges",
    "Format",
    "Interaction",
    "Logged",
    "SseEvent",
    "cassette_calls",
    "cassette_exchanges",
    "format_names",
    "interactions",
    "is_stream",
    "iter_calls",
    "load_format",
    "parse_document",
    "read_calls",
    "records",
    "sse_events",
]

#: The formats, tried in this order when none is given: one module per line.
FORMATS: tuple[str, ...] = (
    "incident_evals.traces.openai_chat",
    "incident_evals.traces.openai_responses",
    "incident_evals.traces.otlp",
    "incident_evals.traces.openinference",
    "incident_evals.traces.langfuse",
    "incident_evals.traces.langsmith",
    "incident_evals.traces.inspect_log",
    "incident_evals.traces.promptfoo",
)

#: Larger files are refused before they are read.
MAX_BYTES = 256 * 1024 * 1024
#: A line of a streamed log larger than this is not read (it is reported, and the scan goes on).
MAX_RECORD_BYTES = 16 * 1024 * 1024
#: A zip archive with more members is refused (its members' total size is bounded by MAX_BYTES).
MAX_ZIP_MEMBERS = 100_000

Kind = Literal["json", "jsonl", "sse", "yaml", "zip"]


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event: its ``event:`` name, if any, and its ``data:`` text."""

    #: Where it is: ``file:LINE``, or for a stream inside a file ``where, stream line LINE``.
    where: str
    event: str | None
    data: str


@dataclass(frozen=True)
class Document:
    """A trace file, parsed once.

    ``value`` is the JSON or YAML value (``json``, ``yaml``), the list of records (``jsonl``,
    their line numbers in ``lines``), the list of :class:`SseEvent` (``sse``) or a zip archive's
    members, ``{name: bytes}`` in archive order (``zip``).
    """

    kind: Kind
    value: Any
    lines: tuple[int, ...] = ()


class Format(Protocol):
    NAME: str

    def detect(self, document: Document) -> bool: ...

    def read(self, document: Document, file: str) -> list[ModelCall]: ...


def parsed_value(document: Any) -> Any:
    """What an importer that reads parsed JSON works on: a :class:`Document`'s JSON value (a JSONL
    file's list of records), or the value itself; nothing of an SSE stream or a YAML file."""
    if not isinstance(document, Document):
        return document
    return document.value if document.kind in ("json", "jsonl") else None


def load_format(module: str) -> Format:
    return cast("Format", importlib.import_module(module))


def format_names() -> list[str]:
    return [load_format(module).NAME for module in FORMATS]


def read_calls(path: Path, format: str | None = None) -> list[ModelCall]:
    """The model calls of a trace file, numbered from 0, in the format given or found."""
    file = str(path)
    _candidates(format)
    return _document_calls(read_document(path, file), file, format)


@dataclass(frozen=True)
class Logged:
    """A model call of a log, and where it is: ``file:LINE`` for a record of a streamed log,
    ``file: call N`` for a call assembled from a file read whole."""

    where: str
    call: ModelCall


def iter_calls(
    path: Path, format: str | None = None, max_record_bytes: int = MAX_RECORD_BYTES
) -> Iterator[Logged | TraceError]:
    """The model calls of a log file, one at a time, for a scan over logs of any size.

    A log whose records are whole calls each (JSONL of Chat Completions or Responses exchanges,
    or of stored completions: the format's ``streams(record)`` says) is read one line at a time,
    each line at most ``max_record_bytes``; a line that cannot be read is yielded as its
    :class:`TraceError` and the reading goes on. Any other file is read whole, as
    :func:`read_calls` reads it (its calls are assembled across records: the spans of a trace,
    the observations of a run), and a problem in it is one :class:`TraceError` for the file.
    An unknown ``format`` raises :class:`TraceError` at once.
    """
    _candidates(format)
    return _iter_calls(path, format, max_record_bytes)


def _iter_calls(
    path: Path, format: str | None, max_record_bytes: int
) -> Iterator[Logged | TraceError]:
    file = str(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(4)
            stream.seek(0)
            lines = _bounded_lines(stream, max_record_bytes)
            first = None if head.startswith(b"PK\x03\x04") else _first_record(lines, file)
            chosen = None if first is None else _streamed_format(first, file, format)
            if first is not None and chosen is not None:
                yield from _streamed(chosen, first, lines, file, max_record_bytes)
                return
    except FileNotFoundError:
        yield TraceError(f"{file}: no such file")
        return
    except IsADirectoryError:
        yield TraceError(f"{file}: is a folder, not a file")
        return
    except OSError as exc:
        yield TraceError(f"{file}: cannot be read: {exc.strerror or exc}")
        return
    except TraceError as exc:
        yield exc
        return
    try:
        calls = read_calls(path, format)
    except TraceError as exc:
        yield exc
        return
    for call in calls:
        yield Logged(f"{file}: call {call.index}", call)


def _bounded_lines(stream: io.BufferedIOBase, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """``(number, bytes)`` of each line, ``None`` for a line longer than ``limit``, which is
    skipped without being held in memory."""
    number = 0
    while line := stream.readline(limit + 1):
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(1 << 20)
            yield number, None
        else:
            yield number, line


def _first_record(lines: Iterator[tuple[int, bytes | None]], file: str) -> tuple[int, Any] | None:
    """The first line's JSON object, when the file starts as JSONL; ``None`` otherwise (a JSON
    document over several lines, YAML, a stream, an oversized or unreadable first line)."""
    for number, raw in lines:
        if raw is None:
            return None
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8", errors="replace").strip()
        if not text:
            continue
        if not text.startswith("{"):
            return None
        try:
            value = json_value(text, f"{file}:{number}")
        except TraceError:
            return None
        return (number, value) if isinstance(value, dict) else None
    return None


def _streamed_format(first: tuple[int, Any], file: str, format: str | None) -> Format | None:
    """The format of a log that can be read a record at a time, judged by its first record."""
    number, value = first
    document = Document("jsonl", [value], (number,))
    try:
        found = _detected(document, file, format)[0]
    except TraceError:
        return None
    streams = getattr(found, "streams", None)
    return found if streams is not None and streams(value) else None


def _streamed(
    format: Format,
    first: tuple[int, Any],
    lines: Iterator[tuple[int, bytes | None]],
    file: str,
    limit: int,
) -> Iterator[Logged | TraceError]:
    index = 0

    def record(number: int, value: Any) -> Iterator[Logged | TraceError]:
        nonlocal index
        where = f"{file}:{number}"
        if not cast("Any", format).streams(value):
            yield TraceError(f"{where}: not a {format.NAME} exchange like the records before it")
            return
        try:
            calls = format.read(Document("jsonl", [value], (number,)), file)
        except TraceError as exc:
            yield exc
            return
        for call in calls:
            yield Logged(where, dataclasses.replace(call, index=index))
            index += 1

    yield from record(*first)
    for number, raw in lines:
        where = f"{file}:{number}"
        if raw is None:
            yield TraceError(f"{where}: a record larger than {_size(limit)}: not read")
            continue
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            yield TraceError(f"{where}: not UTF-8 (byte 0x{raw[exc.start]:02x} cannot be decoded)")
            continue
        if not text:
            continue
        try:
            value = json_value(text, where)
        except TraceError as exc:
            yield exc
            continue
        yield from record(number, value)


def _candidates(format: str | None) -> list[Format]:
    """The formats a file may be read as: the one named, or all of them, in order."""
    formats = [load_format(module) for module in FORMATS]
    if format is None:
        return formats
    chosen = [known for known in formats if format == known.NAME]
    if not chosen:
        known_names = ", ".join(known.NAME for known in formats)
        raise TraceError(f"unknown trace format {format!r} (known: {known_names})")
    return chosen


def _detected(document: Document, file: str, format: str | None) -> list[Format]:
    """The formats that read ``document``: the one named (whatever detection would say), or
    those that recognise it."""
    formats = _candidates(format)
    if format is not None:
        return formats
    found = [known for known in formats if known.detect(document)]
    if not found:
        tried = ", ".join(format_names())
        raise TraceError(f"{file}: not a trace format this tool reads (tried: {tried})")
    return found


def _document_calls(document: Document, file: str, format: str | None) -> list[ModelCall]:
    formats = _detected(document, file, format)
    readers = [found for known in formats if isinstance(found := _exchanges(known), Exchanges)]
    if format is None and is_cassette(document) and len(readers) > 1:
        # An agent that used several APIs records them all in one cassette, in call order.
        calls = cassette_calls(document, file, readers)
    else:
        calls = formats[0].read(document, file)
    return [dataclasses.replace(call, index=n) for n, call in enumerate(_linked(calls))]


def _exchanges(format: Format) -> Any:
    return getattr(format, "EXCHANGES", None)


def _linked(calls: list[ModelCall]) -> list[ModelCall]:
    """Each tool call's result, when a later call of the file was sent it (by its id)."""
    results: dict[str, str] = {}
    linked: list[ModelCall] = []
    for call in reversed(calls):
        if any(record.result is None and record.id in results for record in call.tool_calls):
            records_ = tuple(
                dataclasses.replace(record, result=results[record.id])
                if record.result is None and record.id in results
                else record
                for record in call.tool_calls
            )
            call = dataclasses.replace(call, tool_calls=records_)
        linked.append(call)
        for message in call.messages:
            if message.get("role") == "tool" and isinstance(message.get("content"), str):
                results.setdefault(str(message.get("tool_call_id")), message["content"])
    return linked[::-1]


# --------------------------------------------------------------------------------------------
# Reading and parsing the file
# --------------------------------------------------------------------------------------------


def read_text(path: Path, file: str) -> str:
    """A captured file as text: at most :data:`MAX_BYTES`, UTF-8 (a BOM dropped), every problem
    one :class:`TraceError` line naming ``file``."""
    return _decoded(_read_bytes(path, file), file)


def read_document(path: Path, file: str) -> Document:
    """A trace file parsed as its content says: a zip archive (by its magic number) or text."""
    raw = _read_bytes(path, file)
    if raw.startswith(b"PK\x03\x04"):
        return Document("zip", unzip(raw, file))
    return parse_document(_decoded(raw, file), file)


def _read_bytes(path: Path, file: str) -> bytes:
    try:
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_BYTES:
                raise TraceError(f"{file}: too large ({size} bytes; at most {_mib(MAX_BYTES)})")
            # A file that grows while read (or a pipe, whose size is 0) is bounded all the same.
            raw = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise TraceError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise TraceError(f"{file}: is a folder, not a file") from None
    except OSError as exc:
        raise TraceError(f"{file}: cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise TraceError(f"{file}: too large (at most {_mib(MAX_BYTES)})")
    return raw


def _decoded(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TraceError(
            f"{file}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} cannot be decoded)"
        ) from None


def _size(size: int) -> str:
    return _mib(size) if size >= 1024 * 1024 else f"{size} bytes"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MiB"


def unzip(raw: bytes, file: str) -> dict[str, bytes]:
    """A zip archive's members, bounded: at most :data:`MAX_ZIP_MEMBERS` of them and
    :data:`MAX_BYTES` in all once decompressed, by the sizes their headers say and by what is
    read (no member is read past its stated size, so a zip bomb stops there)."""
    members: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                raise TraceError(
                    f"{file}: a zip archive of {len(infos)} members (at most {MAX_ZIP_MEMBERS})"
                )
            declared = sum(info.file_size for info in infos)
            if declared > MAX_BYTES:
                raise TraceError(f"{file}: the zip archive expands beyond {_mib(MAX_BYTES)}")
            left = MAX_BYTES
            for info in infos:
                if info.is_dir():
                    continue
                data = _member(archive, raw, info, left, file)
                left -= len(data)
                if left < 0:
                    raise TraceError(f"{file}: the zip archive expands beyond {_mib(MAX_BYTES)}")
                members[info.filename] = data
    except TraceError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError) as exc:
        said = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise TraceError(f"{file}: a corrupt zip archive ({said})") from None
    return members


#: Zstandard, which zipfile reads only from Python 3.14 (Inspect AI writes it).
_ZIP_ZSTANDARD = 93


def _member(
    archive: zipfile.ZipFile, raw: bytes, info: zipfile.ZipInfo, left: int, file: str
) -> bytes:
    if info.compress_type == _ZIP_ZSTANDARD and not _zipfile_reads_zstd():
        data = _zstd_member(raw, info, left, file)
    else:
        with archive.open(info) as member:
            data = member.read(left + 1)
    if len(data) > left:
        raise TraceError(f"{file}: the zip archive expands beyond {_mib(MAX_BYTES)}")
    return data


def _zipfile_reads_zstd() -> bool:
    return getattr(zipfile, "ZIP_ZSTANDARD", None) == _ZIP_ZSTANDARD


def _zstd_member(raw: bytes, info: zipfile.ZipInfo, left: int, file: str) -> bytes:
    try:
        import zstandard
    except ImportError:
        raise TraceError(
            f"{file}: {info.filename} is zstd-compressed, which needs Python 3.14 or the "
            "zstandard package (Inspect AI installs it)"
        ) from None
    # The member's bytes follow its local header: 30 bytes, then its name and extra field.
    at = info.header_offset
    header = raw[at : at + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise TraceError(f"{file}: a corrupt zip archive ({info.filename} has no local header)")
    at += 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
    compressed = raw[at : at + info.compress_size]
    # Read no further than the size the headers say (or what the bound leaves, if less).
    limit = min(left, info.file_size)
    chunks: list[bytes] = []
    size = 0
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(compressed, read_across_frames=True)
        while size <= limit:
            chunk = reader.read(min(limit + 1 - size, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except zstandard.ZstdError as exc:
        raise TraceError(f"{file}: a corrupt zip archive ({info.filename}: {exc})") from None
    data = b"".join(chunks)
    if len(data) > left:
        raise TraceError(f"{file}: the zip archive expands beyond {_mib(MAX_BYTES)}")
    if len(data) > info.file_size:
        raise TraceError(
            f"{file}: a corrupt zip archive ({info.filename} is larger than its header says)"
        )
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
        raise TraceError(f"{file}: a corrupt zip archive ({info.filename}: bad size or CRC)")
    return data


def parse_document(text: str, file: str) -> Document:
    """``text`` as JSON, JSONL, a server-sent-event stream or YAML, as its content says."""
    stripped = text.lstrip()
    if not stripped:
        raise TraceError(f"{file}: empty")
    if stripped[0] in "{[":
        return _json_document(text, file)
    if stripped.startswith(("data:", "event:", ":", "id:", "retry:")):
        return Document("sse", sse_events(text, file))
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise TraceError(f"{where}: not JSON, JSONL, SSE or YAML ({problem})") from None
    except RecursionError:
        raise TraceError(f"{file}: nested too deeply") from None
    if not isinstance(value, dict | list):
        raise TraceError(f"{file}: not JSON, JSONL, SSE or YAML (it is {a_json_type(value)})")
    return Document("yaml", value)


def _json_document(text: str, file: str) -> Document:
    try:
        return Document("json", json.loads(text))
    except RecursionError:
        raise TraceError(f"{file}: nested too deeply") from None
    except json.JSONDecodeError as exc:
        first_line = text.lstrip().split("\n", 1)[0]
        if exc.msg == "Extra data" and not _whole_json(first_line):
            return _concatenated(text, file)
        # JSONL when the first line is a whole JSON value and more follows.
        if exc.msg != "Extra data":
            raise TraceError(
                f"{file}:{exc.lineno}: not JSON ({exc.msg}, column {exc.colno})"
            ) from None
    values: list[Any] = []
    lines: list[int] = []
    # Only "\n" ends a record: JSON strings may hold U+2028 and friends raw.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        values.append(json_value(line, f"{file}:{number}"))
        lines.append(number)
    return Document("jsonl", values, tuple(lines))


_JSON_SPACE = re.compile(r"[ \t\r\n]*")


def _concatenated(text: str, file: str) -> Document:
    """JSON values one after another, each over several lines (what printing the openai SDK's
    ``model.to_json()`` for each chunk of a stream writes), as records numbered by the line
    they start on."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    lines: list[int] = []
    line, counted, position = 1, 0, 0
    while True:
        space = _JSON_SPACE.match(text, position)
        position = space.end() if space else position
        if position == len(text):
            return Document("jsonl", values, tuple(lines))
        line += text.count("\n", counted, position)
        counted = position
        try:
            value, position = decoder.raw_decode(text, position)
        except RecursionError:
            raise TraceError(f"{file}:{line}: nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise TraceError(
                f"{file}:{exc.lineno}: not JSON ({exc.msg}, column {exc.colno})"
            ) from None
        values.append(value)
        lines.append(line)


def _whole_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def json_value(text: str, where: str) -> Any:
    """``text`` parsed as JSON, or the :class:`TraceError` naming ``where``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise TraceError(f"{where}: nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise TraceError(f"{where}: not JSON ({exc.msg}, column {exc.colno})") from None


def sse_events(text: str, where: str, nested: bool = False) -> list[SseEvent]:
    """The events of a server-sent-event stream (``event:`` and ``data:`` lines, a blank line
    ending each event). ``nested``: the stream is a text inside the file at ``where``."""

    def at(number: int) -> str:
        return f"{where}, stream line {number}" if nested else f"{where}:{number}"

    events: list[SseEvent] = []
    name: str | None = None
    data: list[str] = []
    start = 1
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if data:
                events.append(SseEvent(at(start), name, "\n".join(data)))
            name, data = None, []
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            if not data:
                start = number
            data.append(value)
        elif field == "event":
            name = value.strip()
        elif field not in ("", "id", "retry"):
            raise TraceError(f"{at(number)}: not a server-sent-event line: {line[:40]!r}")
    if data:
        events.append(SseEvent(at(start), name, "\n".join(data)))
    return events


# --------------------------------------------------------------------------------------------
# Shapes shared by several formats
# --------------------------------------------------------------------------------------------


def records(document: Document, file: str) -> Iterator[tuple[str, Any]]:
    """The records of a JSON value (one object, or an array of them) or of JSONL, each with
    where it is (``file``, ``file: record N`` or ``file:LINE``)."""
    if document.kind == "jsonl":
        for line, value in zip(document.lines, document.value, strict=True):
            yield f"{file}:{line}", value
    elif isinstance(document.value, list):
        for n, value in enumerate(document.value):
            yield f"{file}: record {n}", value
    else:
        yield file, document.value


def first_record(document: Document) -> Any:
    """The first record of a JSON, JSONL or YAML document (what detection looks at)."""
    value = document.value
    if document.kind == "zip":
        return None
    if document.kind == "jsonl" or isinstance(value, list):
        return value[0] if value else None
    return value


@dataclass(frozen=True)
class Interaction:
    """One request/response of a VCR (vcrpy, pytest-recording) cassette."""

    where: str
    uri: str
    status: int | None
    #: The request body's text.
    request: str
    #: The response body's text (JSON, or an SSE stream).
    response: str


def is_cassette(document: Document) -> bool:
    value = document.value
    return (
        document.kind in ("yaml", "json")
        and isinstance(value, dict)
        and isinstance(value.get("interactions"), list)
    )


def interactions(
    document: Document, file: str, wanted: Callable[[str], bool] = lambda uri: True
) -> list[Interaction]:
    """The interactions of a cassette whose URI is ``wanted``, their bodies decoded (gzip too);
    of the headers only ``Content-Encoding`` is read (the others hold the credentials)."""
    found: list[Interaction] = []
    for n, raw in enumerate(document.value.get("interactions") or ()):
        where = f"{file}: interaction {n}"
        if not isinstance(raw, dict):
            raise TraceError(f"{where}: {a_json_type(raw)}, not a mapping")
        request, response = raw.get("request"), raw.get("response")
        if not isinstance(request, dict) or not isinstance(response, dict):
            raise TraceError(f"{where}: no request and response mappings")
        uri = str(request.get("uri") or "")
        if not wanted(uri):
            # Other endpoints' bodies (file uploads, forms) are not this format's to read.
            continue
        status = response.get("status")
        code = status.get("code") if isinstance(status, dict) else status
        found.append(
            Interaction(
                where=where,
                uri=uri,
                status=code if isinstance(code, int) else None,
                request=_body_text(request.get("body"), request.get("headers"), where),
                response=_body_text(response.get("body"), response.get("headers"), where),
            )
        )
    return found


def cassette_exchanges(
    document: Document, file: str, wanted: Callable[[str], bool]
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """``(where, request, response text)`` of a cassette's interactions whose URI is
    ``wanted``; an interaction that failed (HTTP 400 and above) is no model call."""
    for interaction, request in _answered(document, file, wanted):
        yield interaction.where, request, interaction.response


def _answered(
    document: Document, file: str, wanted: Callable[[str], bool]
) -> Iterator[tuple[Interaction, dict[str, Any]]]:
    for interaction in interactions(document, file, wanted):
        if interaction.status is not None and interaction.status >= 400:
            continue
        request = json_value(interaction.request, f"{interaction.where}: request body")
        if not isinstance(request, dict):
            raise TraceError(f"{interaction.where}: the request body is not a JSON object")
        yield interaction, request


def cassette_calls(document: Document, file: str, readers: Sequence[Exchanges]) -> list[ModelCall]:
    """The model calls of a cassette in its order, each interaction read by the first of
    ``readers`` whose API its URI is (so each call's source names its own API)."""

    def reader(uri: str) -> Exchanges | None:
        return next((found for found in readers if found.wanted(uri)), None)

    calls = []
    for interaction, request in _answered(document, file, lambda uri: reader(uri) is not None):
        chosen = reader(interaction.uri)
        assert chosen is not None
        calls.append(chosen.pair(request, interaction.response, interaction.where, file))
    return calls


Joined = tuple[dict[str, Any], list[str]]


@dataclass(frozen=True)
class Exchanges:
    """How the bodies of a request/response API are read, in all the files that hold them: a
    record ``{"request", "response"}`` (JSON, a JSON array, JSONL), a record the API stores on
    its own (``standalone``), a streamed answer alone, and cassettes. A response is an object,
    the list of its stream's events, or its text (JSON, or the stream)."""

    #: ``(request or None, response, where, file, guesses) -> call``.
    build: Callable[[dict[str, Any] | None, dict[str, Any], str, str, list[str]], ModelCall]
    #: A stream's ``(where, event data)`` -> the response they make, and the guesses.
    join: Callable[[list[tuple[str, Any]], str], Joined]
    #: A record that is not a pair -> its call (``None``: it is not one the API stores).
    standalone: Callable[[dict[str, Any], str, str], ModelCall | None]
    #: Which cassette URIs are this API's.
    wanted: Callable[[str], bool]
    #: Whether a stream ends with ``data: [DONE]`` (so a stream without it was cut short).
    done_marker: bool

    def read(self, document: Document, file: str) -> list[ModelCall]:
        if document.kind == "sse":
            response, guesses = self._streamed(document.value, file)
            return [self.build(None, response, file, file, guesses)]
        if is_cassette(document):
            return cassette_calls(document, file, [self])
        calls = []
        for where, record in records(document, file):
            if not isinstance(record, dict):
                raise TraceError(f"{where}: {a_json_type(record)}, not a request/response object")
            call = self.standalone(record, where, file)
            if call is None:
                request = record.get("request")
                if not isinstance(request, dict):
                    raise TraceError(
                        f'{where}: no "request" object (expected {{"request", "response"}})'
                    )
                call = self.pair(request, record.get("response"), where, file)
            calls.append(call)
        return calls

    def pair(self, request: dict[str, Any], response: Any, where: str, file: str) -> ModelCall:
        guesses: list[str] = []
        if isinstance(response, str):
            if is_stream(response):
                events = sse_events(response, where, nested=True)
                response, guesses = self._streamed(events, where)
            else:
                response = json_value(response, f"{where}: response body")
        elif isinstance(response, list):
            items = [(f"{where}: response event {n}", item) for n, item in enumerate(response)]
            response, guesses = self.join(items, where)
        if not isinstance(response, dict):
            raise TraceError(f'{where}: "response" is {a_json_type(response)}, not an object')
        return self.build(request, response, where, file, guesses)

    def _streamed(self, events: list[SseEvent], where: str) -> Joined:
        items: list[tuple[str, Any]] = []
        done = False
        for event in events:
            if event.data.strip() == "[DONE]":
                done = True
                break
            items.append((event.where, json_value(event.data, event.where)))
        response, guesses = self.join(items, where)
        if self.done_marker and not done:
            guesses.append("the stream has no [DONE]: the answer may have been cut short")
        return response, guesses


def is_stream(text: str) -> bool:
    """Whether a body's text is a server-sent-event stream rather than JSON."""
    return text.lstrip().startswith(("data:", "event:", ":"))


def _body_text(body: Any, headers: Any, where: str) -> str:
    # vcrpy writes a request body as text (or bytes), a response body as {"string": ...}.
    if isinstance(body, dict):
        body = body.get("string")
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    if not isinstance(body, bytes):
        raise TraceError(f"{where}: the body is {a_json_type(body)}, not text")
    encoding = _header(headers, "content-encoding")
    if body[:2] == b"\x1f\x8b" or "gzip" in encoding:
        body = _gunzip(body, where)
    elif encoding.strip() not in ("", "identity"):
        raise TraceError(f"{where}: the body is {encoding.strip()}-encoded, which is not read")
    try:
        text: str = body.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceError(f"{where}: the body is not UTF-8 text") from None
    return text


def _header(headers: Any, name: str) -> str:
    if not isinstance(headers, dict):
        return ""
    for key, value in headers.items():
        if str(key).lower() == name:
            # Strings only: a YAML alias could make any other value huge when printed.
            values = value if isinstance(value, list) else [value]
            return " ".join(item for item in values if isinstance(item, str)).lower()
    return ""


def _gunzip(data: bytes, where: str) -> bytes:
    # Bounded: a small compressed body may expand without limit.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_BYTES + 1)
    except zlib.error:
        raise TraceError(f"{where}: the gzip body cannot be decompressed") from None
    if len(out) > MAX_BYTES or inflater.unconsumed_tail:
        raise TraceError(f"{where}: the gzip body expands beyond {_mib(MAX_BYTES)}")
    return out


def text_of(content: Any) -> tuple[str | None, list[str]]:
    """A message's content as text, and the kinds of its parts that are not text (dropped).

    Content is a string, or a list of parts with ``text`` (``text``, ``input_text``,
    ``output_text``) or other kinds (images, audio, files).
    """
    if content is None or isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return json.dumps(content, ensure_ascii=False), [a_json_type(content)]
    texts: list[str] = []
    dropped: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
        else:
            kind = part.get("type") if isinstance(part, dict) else None
            dropped.append(str(kind or a_json_type(part)))
    return "\n".join(texts), dropped


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def names(items: Sequence[str]) -> str:
    return ", ".join(dict.fromkeys(items))
