"""The runtime guard: a catalogue's deterministic constraints, checked on live traffic.

``Catalogue.load(path).guard()`` turns every case into rules the application checks its own
calls against, at three points: the conversation before the model is called
(:meth:`Guard.check_input`), each tool call before the tool runs (:meth:`Guard.check_tool_call`)
and the reply before it is shown (:meth:`Guard.check_output`). A logged call is checked whole by
:meth:`Guard.check_exchange` (what ``incident-evals scan`` does).

Which cases apply to a conversation: by default a case applies to the conversation that
triggered its incident, its own last user message, or one of its variants' (typos, framing,
injection suffixes, translations written into the case...), compared after the constraints' own
normalisation (NFKC, casefold, whitespace collapsed, confusables folded). Those match keys are
computed once, when the guard is built (variant generation included), so a check is one
normalisation of the last user message and one dict lookup, whatever the size of the catalogue.
A case's ``guard:`` block widens that (``when:`` a condition on the conversation) or narrows it.

What runs inline: only constraints whose type is deterministic (``judge`` asks a model and never
runs here), and before the final reply only those whose failure no later turn could undo
(:func:`~incident_evals.constraints.partial_check`): a tool loop on its way to the right answer
is not blocked half-way. A constraint that raises, or whose pattern runs out of time, decides
nothing: the check's ``errors`` say which, and ``on_error`` says whether that blocks.

Nothing here touches the network, a model or a file at check time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from incident_evals.constraints import UndecidedError, partial_check
from incident_evals.constraints.normalize import normalize
from incident_evals.secrets import Scrubber, clip
from incident_evals.transcript import ToolCall, Transcript

if TYPE_CHECKING:
    from incident_evals.case_types import GuardCondition, IncidentCase
    from incident_evals.constraints import BoundConstraint, Check, LoadedCase
    from incident_evals.patterns import BoundedPattern
    from incident_evals.variants import VariantRegistry

__all__ = [
    "DEFAULT_MAX_CHARS",
    "ON_ERROR",
    "SPAN_LIMIT",
    "Finding",
    "Guard",
    "GuardResult",
    "Stage",
    "build_guard",
    "match_key",
]

Stage = Literal["input", "tool_call", "output"]
#: What an error inside a check does: ``block`` (the result is not allowed) or ``allow``.
ON_ERROR = ("block", "allow")
#: Characters of a finding's span and message kept (after redaction).
SPAN_LIMIT = 200
MESSAGE_LIMIT = 500
#: The longest text (an output, a message, a call's arguments) a check reads. Longer is an
#: error under ``on_error``, not a silent pass of its tail: normalising and searching megabytes
#: would cost the caller's latency budget many times over.
DEFAULT_MAX_CHARS = 200_000


@dataclass(frozen=True)
class Finding:
    """One constraint of one case that the checked conversation breaks."""

    case_id: str
    #: The constraint's name as written in ``expect`` (``not_contains``, ``tool_args``...).
    constraint: str
    #: The case's ``incident.severity``.
    severity: str
    #: The case's ``incident.taxonomy`` ids.
    taxonomy: tuple[str, ...]
    stage: Stage
    #: What was expected and why it does not hold, as a test failure says it (redacted).
    message: str
    #: The offending text, redacted and at most :data:`SPAN_LIMIT` characters ("" when the
    #: constraint names no span, e.g. a call that is missing).
    span: str


@dataclass(frozen=True)
class GuardResult:
    #: False when a finding blocks, or a check raised under ``on_error="block"``.
    allowed: bool
    findings: list[Finding]
    #: Checks that decided nothing, each ``<case id>: <constraint> (line N): <cause>``.
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Rule:
    """One case (or a variant of it with its own ``expect``) as the guard checks it."""

    case: IncidentCase
    #: Judged on a finished conversation (the final reply).
    final: tuple[BoundConstraint, ...]
    #: Judged before the final reply: each constraint with its relaxed check.
    partial: tuple[tuple[BoundConstraint, Check], ...]
    #: Its place in the catalogue: findings come in catalogue order.
    order: int = 0

    def only(self, names: Sequence[str]) -> _Rule:
        """This rule with only the constraints called ``names`` (all of them when empty)."""
        if not names:
            return self
        return _Rule(
            self.case,
            tuple(c for c in self.final if c.name in names),
            tuple((c, check) for c, check in self.partial if c.name in names),
            self.order,
        )


@dataclass(frozen=True)
class _Condition:
    """One ``guard.when`` condition, compiled, and the rule that applies where it holds."""

    #: Searched in the last user message's match key (normalised), folded and caseless.
    pattern: BoundedPattern | None
    tools: frozenset[str]
    rule: _Rule

    def holds(self, user: str | None, calls: Sequence[ToolCall]) -> bool:
        if self.tools and not any(call.name in self.tools for call in calls):
            return False
        if self.pattern is not None:
            # A timeout raises PatternTimeout: the caller reports it under on_error.
            return user is not None and self.pattern.search(user) is not None
        return True


def match_key(text: str) -> str:
    """A user message as the guard compares it: normalised as text constraints normalise."""
    return normalize(text).text.strip()


class Guard:
    """Checks conversations against a catalogue's rules; built by ``Catalogue.guard()``."""

    def __init__(
        self,
        keyed: Mapping[str, Sequence[_Rule]],
        always: Sequence[_Rule] = (),
        conditions: Sequence[_Condition] = (),
        *,
        on_error: str = "block",
        scrubber: Scrubber | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        otel: bool = True,
        cases: int = 0,
        notes: Sequence[str] = (),
    ) -> None:
        _check_on_error(on_error)
        self._keyed = {key: tuple(rules) for key, rules in keyed.items()}
        #: Rules that apply to every conversation (``applies: always``).
        self._always = tuple(always)
        #: Rules that apply where their ``guard.when`` condition holds.
        self._conditions = tuple(conditions)
        self.on_error = on_error
        self.max_chars = max_chars
        self.otel = otel
        self._scrubber = scrubber if scrubber is not None else Scrubber.from_environment()
        #: How many cases the guard holds.
        self.cases = cases
        #: What the guard could not take from the catalogue (variants that need a model...).
        self.notes = list(notes)

    # -- the three stages -----------------------------------------------------------------

    def check_input(self, messages: Sequence[Any]) -> GuardResult:
        """The conversation before the model is called: the tool calls it already holds (a
        conversation resumed, or handed over by another agent) against the checks that can
        judge an unfinished conversation."""
        errors: list[str] = []
        history = self._history(messages, errors)
        if history is None:
            return self._result([], errors)
        user, calls = history
        if not calls:
            return self._result([], errors)
        transcript = Transcript(tool_calls=calls)
        return self._judge(self._rules(user, calls, errors), transcript, "input", errors)

    def check_tool_call(
        self, name: str, arguments: Any, *, messages: Sequence[Any] | None = None
    ) -> GuardResult:
        """A tool call the model asked for, before the tool runs: the conversation so far
        (``messages``, with the calls it holds) plus this call. ``arguments`` is the JSON text
        the model sent, or the parsed mapping. ``messages`` may already hold the assistant
        message that makes this call (appended before its tools run): an unanswered call of
        the same tool with the same arguments is taken to be this one, not counted twice."""
        errors: list[str] = []
        history = self._history(messages or (), errors)
        if history is None:
            return self._result([], errors)
        user, calls = history
        call = self._call(f"guard_{len(calls)}", name, arguments, errors)
        if call is None:
            return self._result([], errors)
        same = next((c for c in calls if not c.answered and _same_call(c, call)), None)
        if same is not None:
            calls.remove(same)
        transcript = Transcript(tool_calls=[*calls, call])
        rules = self._rules(user, transcript.tool_calls, errors)
        return self._judge(rules, transcript, "tool_call", errors)

    def check_output(
        self,
        text: str,
        *,
        tool_calls: Iterable[Any] | None = None,
        messages: Sequence[Any] | None = None,
    ) -> GuardResult:
        """The model's reply before it is shown: its ``text`` and ``tool_calls``, after the
        conversation ``messages`` (whose tool calls count too, so a tool loop is judged
        whole)."""
        return self._finished(messages or (), text, tool_calls or ())

    def check_exchange(
        self, messages: Sequence[Any], text: str | None, tool_calls: Iterable[Any] = ()
    ) -> GuardResult:
        """One logged call: the request's ``messages`` and the reply's ``text`` and
        ``tool_calls``, checked once. A reply that only calls tools is a step of a tool loop,
        judged as :meth:`check_tool_call` judges one; a reply with text is judged as
        :meth:`check_output` judges one (which covers every earlier tool call)."""
        given = list(tool_calls)
        if given and not (text or "").strip():
            errors: list[str] = []
            history = self._history(messages, errors)
            if history is None:
                return self._result([], errors)
            user, calls = history
            made = [
                self._call(f"guard_{len(calls) + i}", *_parts(c), errors)
                for i, c in enumerate(given)
            ]
            if any(call is None for call in made):
                return self._result([], errors)
            transcript = Transcript(tool_calls=[*calls, *(c for c in made if c is not None)])
            rules = self._rules(user, transcript.tool_calls, errors)
            return self._judge(rules, transcript, "tool_call", errors)
        return self._finished(messages, text or "", given)

    # -- the work -------------------------------------------------------------------------

    def _finished(
        self, messages: Sequence[Any], text: str, tool_calls: Iterable[Any]
    ) -> GuardResult:
        errors: list[str] = []
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if len(text) > self.max_chars:
            errors.append(self._too_long("the output", len(text)))
            return self._result([], errors)
        history = self._history(messages, errors)
        if history is None:
            return self._result([], errors)
        user, calls = history
        for index, given in enumerate(tool_calls):
            call = self._call(f"guard_{len(calls) + index}", *_parts(given), errors)
            if call is None:
                return self._result([], errors)
            calls.append(call)
        transcript = Transcript(tool_calls=calls, final_text=text)
        return self._judge(self._rules(user, calls, errors), transcript, "output", errors)

    def _rules(
        self, user: str | None, calls: Sequence[ToolCall], errors: list[str]
    ) -> Sequence[_Rule]:
        """The rules that apply to a conversation, in catalogue order: those keyed by its last
        user message, those that apply always, and those whose ``when`` condition holds."""
        key = None if user is None else match_key(user)
        keyed = self._keyed.get(key, ()) if key is not None else ()
        if not self._always and not self._conditions:
            return keyed
        found = [*keyed, *self._always]
        for condition in self._conditions:
            try:
                if condition.holds(key, calls):
                    found.append(condition.rule)
            except UndecidedError as exc:
                case = condition.rule.case
                line = f"{case.id}: guard.when (line {case.guard.line}): {exc}"
                errors.append(self._scrub(line, case, MESSAGE_LIMIT))
        return sorted(found, key=lambda rule: rule.order)

    def _judge(
        self, rules: Sequence[_Rule], transcript: Transcript, stage: Stage, errors: list[str]
    ) -> GuardResult:
        findings: list[Finding] = []
        # A constraint reached by two rules (its case's own conversation, and a `when`) is
        # judged once.
        judged: set[int] = set()
        for rule in rules:
            case = rule.case
            if stage == "output":
                pairs: Iterable[tuple[BoundConstraint, Check | None]] = (
                    (c, None) for c in rule.final
                )
            else:
                pairs = rule.partial
            for constraint, relaxed in pairs:
                if id(constraint) in judged:
                    continue
                judged.add(id(constraint))
                try:
                    if relaxed is None:
                        verdict = constraint.judge(transcript, case)
                    else:
                        verdict = relaxed(transcript, case)
                except UndecidedError as exc:
                    errors.append(self._scrub(f"{case.id}: {exc}", case, MESSAGE_LIMIT))
                    continue
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # a project's relaxed check, called directly
                    cause = f"{type(exc).__name__}: {exc}"
                    line = f"{case.id}: {constraint.name} (line {constraint.line}): raised {cause}"
                    errors.append(self._scrub(line, case, MESSAGE_LIMIT))
                    continue
                if verdict.passed:
                    continue
                message = "; ".join(part for part in (verdict.expected, verdict.message) if part)
                findings.append(
                    Finding(
                        case_id=case.id,
                        constraint=constraint.name,
                        severity=case.incident.severity,
                        taxonomy=case.incident.taxonomy,
                        stage=stage,
                        message=self._scrub(message, case, MESSAGE_LIMIT),
                        span=self._scrub(verdict.span or "", case, SPAN_LIMIT),
                    )
                )
        return self._result(findings, errors)

    def _result(self, findings: list[Finding], errors: list[str]) -> GuardResult:
        blocked = bool(findings) or (bool(errors) and self.on_error == "block")
        if findings and self.otel:
            from incident_evals import otel

            otel.emit_findings(findings, source="guard")
        return GuardResult(allowed=not blocked, findings=findings, errors=errors)

    def _scrub(self, text: str, case: IncidentCase | None, limit: int) -> str:
        # Clipped before scrubbing too, so a megabyte span costs no megabyte scrub.
        return clip(self._scrubber.text(text[: limit * 4], case), limit)

    def _too_long(self, what: str, length: int, verb: str = "is") -> str:
        return (
            f"{what} {verb} {length} characters, over the guard's limit of {self.max_chars} "
            "(max_chars): not checked"
        )

    def _history(
        self, messages: Sequence[Any], errors: list[str]
    ) -> tuple[str | None, list[ToolCall]] | None:
        """The last user message's text and the tool calls of the conversation, answered by
        its tool messages; ``None`` (with the error) when it cannot be read."""
        if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
            raise TypeError(
                f"messages must be a list of chat messages, got {type(messages).__name__}"
            )
        user: str | None = None
        calls: list[ToolCall] = []
        outputs: dict[str, Any] = {}
        for index, raw in enumerate(messages):
            message = _as_mapping(raw)
            if message is None:
                raise TypeError(
                    f"messages[{index}] must be a chat message mapping, got {type(raw).__name__}"
                )
            role = message.get("role")
            if role == "user":
                content = _text_of(message.get("content"))
                if len(content) > self.max_chars:
                    errors.append(self._too_long(f"messages[{index}]", len(content)))
                    return None
                user = content
            elif role == "assistant":
                for call in message.get("tool_calls") or ():
                    parts = _parts(call)
                    made = self._call(
                        str(_field(call, "id") or f"history_{len(calls)}"), *parts, errors
                    )
                    if made is None:
                        return None
                    calls.append(made)
            elif role == "tool":
                outputs[str(message.get("tool_call_id"))] = message.get("content")
        for call in calls:
            if call.id in outputs:
                call.output = _parsed(outputs[call.id])
            else:
                # Not answered (yet): it never failed (tool_sequence's not_after_failed).
                call.answered = False
        return user, calls

    def _call(self, call_id: str, name: Any, arguments: Any, errors: list[str]) -> ToolCall | None:
        from incident_evals.replay import parse_arguments

        if isinstance(arguments, str):
            raw = arguments
        else:
            try:
                raw = json.dumps({} if arguments is None else arguments, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"tool call arguments must be JSON text or data: {exc}") from None
        if len(raw) > self.max_chars:
            errors.append(self._too_long(f"the arguments of {str(name)[:80]!r}", len(raw), "are"))
            return None
        parsed, error = parse_arguments(raw)
        return ToolCall(
            id=call_id,
            name=str(name or ""),
            arguments_raw=raw,
            arguments=parsed,
            arguments_error=error,
        )

    def matching(self, messages: Sequence[Any]) -> tuple[str, ...]:
        """The ids of the cases whose rules apply to the conversation ``messages``, each once
        (what a scan draws its judge sample from); none when it cannot be read."""
        history = self._history(messages, [])
        if history is None:
            return ()
        user, calls = history
        return tuple(dict.fromkeys(rule.case.id for rule in self._rules(user, calls, [])))

    def __repr__(self) -> str:
        return f"<Guard: {self.cases} case(s), on_error={self.on_error!r}>"


# --- reading what an application passes ---------------------------------------------------------


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    """A chat message or tool call as a mapping: dicts as they are, and the ``openai`` SDK's
    objects (an assistant message appended to ``messages`` as the SDK returned it) dumped."""
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        dumped = dump()
        return dumped if isinstance(dumped, Mapping) else None
    return None


def _field(value: Any, name: str) -> Any:
    mapping = _as_mapping(value)
    return None if mapping is None else mapping.get(name)


def _parts(call: Any) -> tuple[Any, Any]:
    """``(name, arguments)`` of a tool call written as the Chat API writes one
    (``{"function": {"name", "arguments"}}``, dict or SDK object) or as a case writes one
    (``{"name", "arguments"}``)."""
    mapping = _as_mapping(call)
    if mapping is None:
        raise TypeError(f"a tool call must be a mapping, got {type(call).__name__}")
    function = mapping.get("function")
    if isinstance(function, Mapping):
        return function.get("name"), function.get("arguments")
    return mapping.get("name"), mapping.get("arguments")


def _same_call(one: ToolCall, other: ToolCall) -> bool:
    if one.name != other.name:
        return False
    if one.arguments_raw == other.arguments_raw:
        return True
    return one.arguments is not None and one.arguments == other.arguments


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def _parsed(content: Any) -> Any:
    """A tool message's content as the replay would hold the answer: JSON decoded when it is
    JSON (so ``{"error": ...}`` answers count as failed calls)."""
    if isinstance(content, str):
        try:
            return json.loads(content)
        except ValueError:
            return content
    return content


# --- building ----------------------------------------------------------------------------------


def _check_on_error(on_error: object) -> None:
    if on_error not in ON_ERROR:
        raise ValueError(
            f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, got {on_error!r}"
        )


def _final_turn(constraint: BoundConstraint, case: IncidentCase) -> bool:
    """Whether ``constraint`` judges the final reply, the only turn a live check sees."""
    from incident_evals.case_types import generated_turns

    return constraint.turn is None or constraint.turn == generated_turns(case.input)


def _rule(case: IncidentCase, constraints: Sequence[BoundConstraint], order: int) -> _Rule:
    """``case`` as a rule: its deterministic constraints on the final reply, minus those its
    ``guard.exclude`` names."""
    excluded = case.guard.exclude
    inline = [
        c
        for c in constraints
        if c.deterministic and _final_turn(c, case) and c.name not in excluded
    ]
    partial: list[tuple[BoundConstraint, Check]] = []
    for constraint in inline:
        relaxed = partial_check(constraint.check)
        if relaxed is not None:
            partial.append((constraint, relaxed))
    return _Rule(case, tuple(inline), tuple(partial), order)


def _condition(condition: GuardCondition, rule: _Rule) -> _Condition:
    from incident_evals.constraints.normalize import fold_pattern
    from incident_evals.patterns import compile_pattern

    pattern = None
    if condition.user_matches is not None:
        # Checked as written when the case loaded; searched folded, as `matches` searches.
        pattern = compile_pattern(fold_pattern(condition.user_matches), ignore_case=True)
    return _Condition(pattern, frozenset(condition.tool_called), rule.only(condition.constraints))


def build_guard(
    loaded: Sequence[tuple[LoadedCase, Callable[[], VariantRegistry]]],
    *,
    on_error: str = "block",
    seed: int = 0,
    max_chars: int = DEFAULT_MAX_CHARS,
    otel: bool = True,
    scrubber: Scrubber | None = None,
) -> Guard:
    """A guard over ``loaded`` cases, each with the variant generators of its folder.

    Each case's match keys are its own last user message and its variants' (made with
    ``seed``, as a run with ``--incident-seed`` makes them); a hand-written variant with its
    own ``expect`` is a rule of its own, keyed by its message only.
    """
    from incident_evals.variants import VariantGenerationError, expand, last_user_message

    _check_on_error(on_error)
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
        raise ValueError(f"max_chars must be a positive number of characters, got {max_chars!r}")
    keyed: dict[str, list[_Rule]] = {}
    always: list[_Rule] = []
    conditions: list[_Condition] = []
    notes: list[str] = []

    def key(rule: _Rule, case: IncidentCase) -> None:
        found = last_user_message(case.input)
        if found is None:
            return
        rules = keyed.setdefault(match_key(found[1]), [])
        if all(existing is not rule for existing in rules):
            rules.append(rule)

    for order, (entry, generators) in enumerate(loaded):
        case = entry.case
        applies = case.guard.applies
        if applies == "never":
            notes.append(f"{case.id}: left out (guard.applies: never)")
            continue
        rule = _rule(case, entry.constraints, order)
        if applies == "always":
            always.append(rule)
        conditions.extend(_condition(condition, rule) for condition in case.guard.when)
        if applies in ("always", "only_when"):
            # Its own conversations add nothing to `always`, and are not enough for
            # `only_when`.
            continue
        key(rule, case)
        registry = generators() if case.variants.generate else None
        if registry is None and not case.variants.cases:
            continue
        from incident_evals.variants import VariantRegistry

        for variant in expand(entry, seed, registry or VariantRegistry(), None, None):
            if isinstance(variant, VariantGenerationError):
                notes.append(
                    f"{case.id}: variants of {variant.generator} (line {variant.line}) are not "
                    f"guarded: {variant}"
                )
                continue
            if variant.constraints is not None:
                key(_rule(variant.case, variant.constraints, rule.order), variant.case)
            else:
                key(rule, variant.case)
    return Guard(
        keyed,
        always,
        conditions,
        on_error=on_error,
        scrubber=scrubber,
        max_chars=max_chars,
        otel=otel,
        cases=len(loaded),
        notes=notes,
    )
