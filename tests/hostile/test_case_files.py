"""Hostile case files: each is one line naming file, line and field, in bounded time and memory.

Every input is written beside a good case into ``incident_cases/``, then:

* ``incident-evals validate`` runs in a subprocess with a time limit and an address-space limit
  (``RLIMIT_AS``): it must print exactly the one line, count the good case, and exit 1, never
  a traceback or a ``MemoryError``;
* ``pytest --incident-evals`` runs in a subprocess (``runpytest_subprocess(timeout=...)``) under
  the same kind of limit, set by a conftest: the collection error is the same line, and the good
  case still passes against the scripted chat server.

Inputs that carry a ``$ref`` point it at a local HTTP server that counts the requests it gets:
it must get none.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import incident_evals
from case_files import case_data, set_modified, write_case

#: Seconds a run may take; every input here is refused in well under one.
TIMEOUT_S = 60
#: Address space for ``validate`` (it peaks near 70 MB of it) and for pytest (near 300 MB).
VALIDATE_MEMORY = 512 * 2**20
PYTEST_MEMORY = 768 * 2**20
SRC = Path(incident_evals.__file__).resolve().parents[1]
BAD = "incident_cases/bad.yaml"

HEAD = """\
id: INC-BAD
incident: {category: security, severity: critical}
input:
  messages: [{role: user, content: Please refund my last purchase}]
"""
EXPECT = "expect: [{not_contains: 60 days}]\n"
TOOL_HEAD = HEAD + "  tools: [{name: send_email}]\n"


class RefServer:
    """An HTTP server on 127.0.0.1 that counts requests and answers each with a JSON Schema."""

    def __init__(self) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                body = b'{"type": "string", "title": "fetched from the network"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RefServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class Hostile:
    #: The bad case file (``{ref}`` is replaced by the counting server's URL), text or bytes.
    content: str | bytes | Callable[[], bytes]
    #: The exact line, relative to the project folder (``{ref}`` replaced as above).
    line: str
    #: Other files of the catalogue: path -> content, or None for a FIFO.
    extra: dict[str, bytes | None] = field(default_factory=dict)
    #: Flags added to the pytest run.
    flags: tuple[str, ...] = ()


def _alias_bomb() -> str:
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, 10):
        previous = ", ".join([f"*lol{level - 1}"] * 10)
        lines.append(f"lol{level}: &lol{level} [{previous}]")
    return "\n".join(lines) + "\n"


def _deep_alias() -> str:
    return "a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 10 + "*a" + "]" * 10 + "\n"


def _many_nodes() -> bytes:
    # About 7 MB of one-letter list items: under the file size limit, 1.8 million nodes.
    return b"items:\n" + b"- a\n" * 1_800_000


def _fifty_megabytes() -> bytes:
    return b"items: [" + b"a," * (25 * 2**20 - 5) + b"a]"


CASES: dict[str, Hostile] = {
    "id-dot-dot": Hostile(
        HEAD.replace("INC-BAD", "'..'") + EXPECT,
        f"{BAD}:1: id: '..' is not a valid id: use letters, digits, '.', '_' and '-', and not "
        "'.' or '..' alone (ids name files and folders)",
    ),
    "id-of-5000-characters-with-record": Hostile(
        HEAD.replace("INC-BAD", "I" * 5000) + EXPECT,
        f"{BAD}:1: id: is 5,000 characters long, more than the limit of 128",
        flags=("--incident-record=recordings",),
    ),
    "presence-penalty-nan": Hostile(
        HEAD + "model: {presence_penalty: .nan}\n" + EXPECT,
        f"{BAD}:5: model.presence_penalty: .nan is not a finite number (JSON and the endpoint "
        "have no NaN or infinity)",
    ),
    "temperature-infinite": Hostile(
        HEAD + "model: {temperature: -.inf}\n" + EXPECT,
        f"{BAD}:5: model.temperature: -.inf is not a finite number (JSON and the endpoint have "
        "no NaN or infinity)",
    ),
    "document-template-format-spec": Hostile(
        HEAD + "  document_template: '{content}{title:>99999999999999}'\n" + EXPECT,
        f"{BAD}:5: input.document_template: placeholder {{title:>99999999999999}} has a "
        "conversion or format; write {title} alone ({id}, {title} and {content} take none)",
    ),
    "document-template-conversion": Hostile(
        HEAD + "  document_template: '{title!r}: {content}'\n" + EXPECT,
        f"{BAD}:5: input.document_template: placeholder {{title!r}} has a conversion or format; "
        "write {title} alone ({id}, {title} and {content} take none)",
    ),
    "document-template-content-twice": Hostile(
        HEAD + "  document_template: '{content}{content}'\n" + EXPECT,
        f"{BAD}:5: input.document_template: 2 placeholders, 2 of them {{content}}; a template "
        "takes {content} once and at most 8 placeholders in all",
    ),
    "repeats-a-billion": Hostile(
        HEAD + EXPECT + "runs: {repeats: 1000000000}\n",
        f"{BAD}:6: runs.repeats: 1000000000 is greater than the maximum of 1000",
    ),
    "max-turns-a-billion": Hostile(
        TOOL_HEAD + EXPECT + "runs: {max_turns: 1000000000}\n",
        f"{BAD}:7: runs.max_turns: 1000000000 is greater than the maximum of 64",
    ),
    "samples-of-variants-times-repeats": Hostile(
        HEAD + EXPECT + "runs: {repeats: 1000}\nvariants: {generate: [{typos: {count: 50}}]}\n",
        f"{BAD}:6: runs.repeats: 1,000 repeats of 51 items (the case and its 50 variants) are "
        "51,000 samples, more than the limit of 10,000 for a case",
    ),
    "too-many-tools": Hostile(
        HEAD + "  tools: [" + ", ".join(f"{{name: tool{n}}}" for n in range(129)) + "]\n" + EXPECT,
        f"{BAD}:5: input.tools: has 129 entries, more than the limit of 128",
    ),
    "recursive-alias": Hostile(
        "id: INC-BAD\nloop: &m [*m]\n",
        f"{BAD}:2: loop[0]: alias *m is inside the node it repeats (a recursive alias)",
    ),
    "600-nested-lists": Hostile(
        "id: INC-BAD\nnested: " + "[" * 600 + "]" * 600 + "\n",
        f"{BAD}:2: nested: nested more than 64 levels deep (aliases expanded)",
    ),
    "alias-expanding-the-depth": Hostile(
        _deep_alias(),
        f"{BAD}:2: b: nested more than 64 levels deep (aliases expanded)",
    ),
    "billion-laughs": Hostile(
        _alias_bomb(),
        f"{BAD}:6: alias *lol4 takes the file over 100,000 YAML nodes (an alias counts as the "
        "nodes it repeats: an alias bomb?)",
    ),
    "seven-megabytes-of-nodes": Hostile(
        _many_nodes,
        f"{BAD}:99999: more than 100,000 YAML nodes in this file; split it into several",
    ),
    "fifty-megabyte-file": Hostile(
        _fifty_megabytes,
        f"{BAD}:1: the file is 52,428,800 bytes, more than the limit of 8,388,608 (8 MiB) for "
        "a case file; it was not read",
    ),
    "python-object-tag": Hostile(
        "id: !!python/object/apply:os.system [echo pwned]\n",
        f"{BAD}:1: id: unsupported YAML tag tag:yaml.org,2002:python/object/apply:os.system",
    ),
    "not-utf8": Hostile(
        HEAD.encode() + b"title: caf\xe9\n" + EXPECT.encode(),
        f"{BAD}:5: not UTF-8 (byte 0xe9 cannot be decoded)",
    ),
    "nul-character": Hostile(
        HEAD + "title: a\x00b\n" + EXPECT,
        f"{BAD}:5: invalid YAML: the character U+0000 is not allowed",
    ),
    "number-of-5000-digits": Hostile(
        HEAD + "model: {seed: " + "9" * 5000 + "}\n" + EXPECT,
        f"{BAD}:5: model.seed: a number of 5,000 characters; write at most 100",
    ),
    "base-60-number": Hostile(
        HEAD + "model: {seed: 1" + ":59" * 60 + "}\n" + EXPECT,
        f"{BAD}:5: model.seed: a number of 181 characters; write at most 100",
    ),
    "content-file-leaving-the-catalogue": Hostile(
        HEAD.replace("input:\n", "input:\n  system: {content_file: ../../../etc/passwd}\n")
        + EXPECT,
        f"{BAD}:4: input.system.content_file: '../../../etc/passwd' leaves the case catalogue "
        "root {root}",
    ),
    "content-file-fifo": Hostile(
        HEAD.replace("input:\n", "input:\n  system: {content_file: docs/pipe}\n") + EXPECT,
        f"{BAD}:4: input.system.content_file: 'docs/pipe' is not a regular file",
        extra={"incident_cases/docs/pipe": None},
    ),
    "sensitive-content-file-of-4-mb": Hostile(
        HEAD
        + "  documents: [{id: payroll, content_file: docs/payroll.txt, sensitive: true}]\n"
        + "expect: [{no_leak: {}}]\n",
        f"{BAD}:5: input.documents[0].content_file: 'docs/payroll.txt' is 4,194,304 bytes, "
        "more than the limit of 262,144 characters for a sensitive document",
        extra={"incident_cases/docs/payroll.txt": b"salary 1234 " * (4 * 2**20 // 12) + b"1234"},
    ),
    "sensitive-document-inline-300k": Hostile(
        HEAD
        + "  documents:\n    - id: payroll\n      sensitive: true\n      content: "
        + "x" * 300_000
        + "\nexpect: [{no_leak: {}}]\n",
        f"{BAD}:8: input.documents[0].content: is 300,000 characters long, more than the limit "
        "of 262,144 for a sensitive document (no_leak indexes every span of it)",
    ),
    "no-leak-min-span-100000": Hostile(
        HEAD
        + "  documents: [{id: payroll, content: Salary of the CEO is 1234567, sensitive: true}]\n"
        + "expect: [{no_leak: {min_span: 100000}}]\n",
        f"{BAD}:6: expect[0].no_leak.min_span: 100000 is greater than the maximum of 256",
    ),
    "remote-ref-in-json-schema": Hostile(
        HEAD + "expect:\n  - json_schema:\n      type: object\n"
        "      properties: {total: {$ref: '{ref}/total.json'}}\n",
        f'{BAD}:8: expect[0].json_schema: $ref "{{ref}}/total.json" is not local; only "#/..." '
        "references inside the schema are allowed",
    ),
    "remote-ref-in-tool-args-schema": Hostile(
        TOOL_HEAD + "expect:\n  - tool_args:\n      tool: send_email\n"
        "      schema: {$ref: '{ref}/send_email.json'}\n",
        f'{BAD}:9: expect[0].tool_args.schema: $ref "{{ref}}/send_email.json" is not local; '
        'only "#/..." references inside the schema are allowed',
    ),
    "file-url-ref": Hostile(
        HEAD + "expect:\n  - json_schema: {$ref: 'file:///etc/passwd'}\n",
        f'{BAD}:6: expect[0].json_schema: $ref "file:///etc/passwd" is not local; only "#/..." '
        "references inside the schema are allowed",
    ),
    "remote-dynamic-ref": Hostile(
        HEAD + "expect:\n  - json_schema:\n      $dynamicRef: '{ref}/meta.json'\n",
        f'{BAD}:7: expect[0].json_schema: $dynamicRef "{{ref}}/meta.json" is not local; only '
        '"#/..." references inside the schema are allowed',
    ),
    "ref-to-nothing": Hostile(
        HEAD + "expect:\n  - json_schema: {$ref: '#/$defs/missing'}\n",
        f'{BAD}:6: expect[0].json_schema: $ref "#/$defs/missing" points at nothing inside the '
        "schema",
    ),
    "misplaced-key": Hostile(
        TOOL_HEAD + "expect:\n  - tool_args: {tool: send_email}\n    schema: {type: object}\n",
        f'{BAD}:8: expect[0]: "schema" found here, expected under tool_args',
    ),
    "megabyte-enum-value": Hostile(
        HEAD.replace("severity: critical", "severity: " + "critical" * 131072) + EXPECT,
        f"{BAD}:2: incident.severity: {repr('critical' * 131072)[:80]}… is not one of "
        "['minor', 'major', 'critical']",
    ),
}


@pytest.fixture
def ref_server() -> Iterator[RefServer]:
    with RefServer() as server:
        yield server


def _write(project: Path, hostile: Hostile, ref: str) -> None:
    write_case(project, "incident_cases/good.yaml", case_data("INC-GOOD"))
    content = hostile.content() if callable(hostile.content) else hostile.content
    bad = project / BAD
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content.replace("{ref}", ref), encoding="utf-8")
    for relative, data in hostile.extra.items():
        target = project / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            os.mkfifo(target)
        else:
            target.write_bytes(data)


def _expected(hostile: Hostile, project: Path, ref: str) -> str:
    return hostile.line.replace("{ref}", ref).replace(
        "{root}", str((project / "incident_cases").resolve())
    )


def _environment() -> dict[str, str]:
    # The subprocess imports this checkout's package, whatever is installed.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (VALIDATE_MEMORY, VALIDATE_MEMORY))


def literal(pattern: str) -> str:
    """``pattern`` with fnmatch's ``[`` taken literally."""
    return pattern.replace("[", "[[]")


@pytest.mark.parametrize("name", CASES)
def test_validate_prints_one_line_in_bounded_time_and_memory(
    name: str, tmp_path: Path, ref_server: RefServer
) -> None:
    hostile = CASES[name]
    _write(tmp_path, hostile, ref_server.url)

    result = subprocess.run(
        [sys.executable, "-m", "incident_evals", "validate", "incident_cases"],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        preexec_fn=_limit_memory,
        check=False,
    )

    assert result.stdout.splitlines() == [_expected(hostile, tmp_path, ref_server.url)]
    assert result.stderr == "1 case(s) in 2 file(s), 1 error(s)\n"
    assert result.returncode == 1
    assert ref_server.hits == 0


PYTEST_LIMIT_CONFTEST = f"""\
import resource

# The run's address space, set before collection: a case file must not need more.
resource.setrlimit(resource.RLIMIT_AS, ({PYTEST_MEMORY}, {PYTEST_MEMORY}))
"""


@pytest.mark.parametrize("name", CASES)
def test_pytest_collection_error_is_the_same_line_and_the_good_case_passes(
    name: str,
    pytester: pytest.Pytester,
    endpoint_args: list[str],
    ref_server: RefServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostile = CASES[name]
    _write(pytester.path, hostile, ref_server.url)
    pytester.makeconftest(PYTEST_LIMIT_CONFTEST)
    monkeypatch.setenv("PYTHONPATH", _environment()["PYTHONPATH"])

    result = pytester.runpytest_subprocess(*endpoint_args, *hostile.flags, timeout=TIMEOUT_S)

    result.stdout.fnmatch_lines(
        [
            f"*ERROR at setup of {Path(BAD).name} (failed to load)*",
            literal(_expected(hostile, pytester.path, ref_server.url)),
        ]
    )
    for text in ("*Traceback*", "*MemoryError*", "*INTERNALERROR*", "*pwned*"):
        result.stdout.no_fnmatch_line(text)
    result.assert_outcomes(passed=1, errors=1)
    assert ref_server.hits == 0


# --- beyond errors: what is fetched, which id is the duplicate, empty files -----------------------


def test_a_remote_case_schema_modeline_is_never_fetched(
    pytester: pytest.Pytester, endpoint_args: list[str], ref_server: RefServer
) -> None:
    modeline = f"# yaml-language-server: $schema={ref_server.url}/case.schema.json\n"
    good = write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    good.write_text(modeline + good.read_text(encoding="utf-8"), encoding="utf-8")
    write_case(pytester.path, "incident_cases/other.yaml", case_data("INC-OTHER"))

    result = pytester.runpytest_subprocess(*endpoint_args, timeout=TIMEOUT_S)

    result.assert_outcomes(passed=2)
    assert ref_server.hits == 0


def test_a_remote_ref_is_refused_under_replay_too(
    pytester: pytest.Pytester, endpoint_args: list[str], ref_server: RefServer
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    recorded = pytester.runpytest_subprocess(
        *endpoint_args, "--incident-record=recordings", timeout=TIMEOUT_S
    )
    recorded.assert_outcomes(passed=1)
    hostile = CASES["remote-ref-in-json-schema"]
    _write(pytester.path, hostile, ref_server.url)
    offline = [arg for arg in endpoint_args if not arg.startswith("--incident-base-url")]

    result = pytester.runpytest_subprocess(
        *offline, "--incident-replay=recordings", timeout=TIMEOUT_S
    )

    result.stdout.fnmatch_lines([literal(_expected(hostile, pytester.path, ref_server.url))])
    result.assert_outcomes(passed=1, errors=1)
    assert ref_server.hits == 0


def test_validators_built_for_case_schemas_never_fetch(ref_server: RefServer) -> None:
    # Behind the load-time check: a reference that reached a validator still is not fetched.
    import fastjsonschema
    from jsonschema import Draft202012Validator
    from referencing.exceptions import Unresolvable

    from incident_evals.schema_refs import NO_FETCH_HANDLERS, no_fetch_registry

    schema = {"$ref": f"{ref_server.url}/s.json"}
    validator = Draft202012Validator(schema, registry=no_fetch_registry())
    with pytest.raises(Unresolvable):
        validator.is_valid("x")
    with pytest.raises(fastjsonschema.JsonSchemaDefinitionException, match="is not fetched"):
        fastjsonschema.compile(schema, handlers=NO_FETCH_HANDLERS)
    assert ref_server.hits == 0


def test_the_file_modified_later_is_named_as_the_duplicate(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    # b.yaml is older: a.yaml, collected first, is the one that repeated the id.
    set_modified(write_case(pytester.path, "incident_cases/a.yaml", case_data("INC-SAME")), 20)
    set_modified(write_case(pytester.path, "incident_cases/b.yaml", case_data("INC-SAME")), 10)

    result = pytester.runpytest_subprocess(*endpoint_args, timeout=TIMEOUT_S)

    result.stdout.fnmatch_lines(
        [
            "incident_cases/a.yaml:1: id: duplicate case id 'INC-SAME' "
            "(first defined at incident_cases/b.yaml:1)"
        ]
    )
    result.assert_outcomes(passed=1, errors=1)


def test_files_modified_at_the_same_moment_are_both_named(
    pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    for name in ("a", "b"):
        path = write_case(pytester.path, f"incident_cases/{name}.yaml", case_data("INC-SAME"))
        set_modified(path, 10)
    write_case(pytester.path, "incident_cases/c.yaml", case_data("INC-GOOD"))

    result = pytester.runpytest_subprocess(*endpoint_args, timeout=TIMEOUT_S)

    result.stdout.fnmatch_lines(
        [
            "incident_cases/a.yaml:1: id: duplicate case id 'INC-SAME' (also defined at "
            "incident_cases/b.yaml:1, modified at the same time)",
            "*",
            "incident_cases/b.yaml:1: id: duplicate case id 'INC-SAME' (also defined at "
            "incident_cases/a.yaml:1, modified at the same time)",
        ]
    )
    result.assert_outcomes(passed=1, errors=2)


EMPTY_FILES = {
    "empty": "",
    "comments-only": "# yaml-language-server: $schema=case.schema.json\n# TODO: write the case\n",
    "document-markers-only": "---\n---\n",
}


@pytest.mark.parametrize("content", EMPTY_FILES.values(), ids=EMPTY_FILES.keys())
def test_a_file_without_a_case_gets_one_warning_line(
    content: str, pytester: pytest.Pytester, endpoint_args: list[str]
) -> None:
    write_case(pytester.path, "incident_cases/good.yaml", case_data("INC-GOOD"))
    (pytester.path / "incident_cases/empty.yaml").write_text(content, encoding="utf-8")

    validate = subprocess.run(
        [sys.executable, "-m", "incident_evals", "validate", "incident_cases"],
        cwd=pytester.path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    result = pytester.runpytest_subprocess(*endpoint_args, timeout=TIMEOUT_S)

    assert validate.stdout.splitlines() == [
        "incident_cases/empty.yaml: warning: no case in this file",
        "1 case(s) in 2 file(s), 0 error(s)",
    ]
    assert validate.returncode == 0
    result.stdout.fnmatch_lines(
        [
            "*= warnings summary =*",
            "incident_cases/empty.yaml:1",
            "*empty.yaml:1: EmptyCaseFileWarning: no case in this file (it is empty, or only "
            "comments)",
        ]
    )
    result.assert_outcomes(passed=1, warnings=1)
    assert result.ret == pytest.ExitCode.OK
