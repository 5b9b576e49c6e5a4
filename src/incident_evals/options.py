"""The ``--incident-*`` options: one group, each with an ini twin, validated while parsing.

Values resolve CLI flag first, then environment (where SPEC §3 names a variable), then ini.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from incident_evals.evidence import DEFAULT_FIRST_SAMPLES, DEFAULT_MAX_SAMPLES

if TYPE_CHECKING:
    from incident_evals.client import Endpoint
    from incident_evals.secrets import Scrubber

DEFAULT_CASES = "incident_cases"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 3
DEFAULT_CONCURRENCY = 8
DEFAULT_LOCAL_STARTUP_TIMEOUT_S = 180.0


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds greater than 0, got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds greater than 0, got {text!r}"
        )
    return value


def whole_number(minimum: int) -> Callable[[str], int]:
    """A parser for whole numbers of at least ``minimum``, for flags and their ini twins."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value

    return parse


non_negative_int = whole_number(0)
positive_int = whole_number(1)


#: ``--incident-repeats auto``: sample until each comparison with the baseline is decided.
AUTO = "auto"


def repeats(text: str) -> int | str:
    """``auto``, or a whole number of samples per item."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= 1 or auto, got {text!r}"
        ) from None


def variant_selection(text: str) -> int | None:
    """``none`` -> 0, ``all`` -> ``None`` (every declared variant), ``N`` -> N per case."""
    lowered = text.strip().lower()
    if lowered == "all":
        return None
    if lowered == "none":
        return 0
    try:
        count = int(lowered)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(
            f"expected none, all or a whole number >= 0 (generated variants per case), got {text!r}"
        )
    return count


def fail_on(text: str) -> str:
    if text not in ("failures", "regressions"):
        raise argparse.ArgumentTypeError(f"expected failures or regressions, got {text!r}")
    return text


def alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a significance level between 0 and 1 (e.g. 0.05), got {text!r}"
        )
    return value


def url(text: str) -> str:
    """An endpoint URL. User-info (``user:pass@``) is accepted and kept for the connection (sent
    as HTTP Basic auth), but never shown: messages name the URL without it."""
    if not text.startswith(("http://", "https://")):
        from incident_evals.secrets import split_userinfo

        shown, userinfo = split_userinfo(text)
        hidden = " (user-info not shown)" if userinfo is not None else ""
        raise argparse.ArgumentTypeError(
            f"expected an http:// or https:// URL, got {shown!r}{hidden}"
        )
    return text.rstrip("/")


def api(text: str) -> str:
    """``chat`` or ``responses``: the API the replay speaks to the endpoint."""
    from incident_evals.vocabulary import APIS

    lowered = text.strip().lower()
    if lowered not in APIS:
        raise argparse.ArgumentTypeError(f"expected {' or '.join(APIS)}, got {text!r}")
    return lowered


def env_var_name(text: str) -> str:
    if not text or not text.replace("_", "a").isalnum() or text[0].isdigit():
        raise argparse.ArgumentTypeError(f"expected an environment variable name, got {text!r}")
    return text


@dataclass(frozen=True)
class Option:
    name: str  # the ini twin: ``incident_<name>``; the flag: ``--incident-<name>``
    help: str
    parse: Callable[[str], Any] | None = None
    flag: bool = True
    is_switch: bool = False
    env: tuple[str, ...] = ()
    default: Any = None

    @property
    def ini(self) -> str:
        return f"incident_{self.name}"

    @property
    def option(self) -> str:
        return f"--incident-{self.name.replace('_', '-')}"

    @property
    def dest(self) -> str:
        return f"incident_{self.name}"


OPTIONS = (
    Option(
        "evals",
        "collect and run incident cases (without it the plugin does nothing)",
        is_switch=True,
    ),
    Option("cases", f"where case files live (default {DEFAULT_CASES})", default=DEFAULT_CASES),
    Option(
        "base_url",
        "the OpenAI-compatible endpoint under test (env INCIDENT_EVALS_BASE_URL, OPENAI_BASE_URL)",
        parse=url,
        env=("INCIDENT_EVALS_BASE_URL", "OPENAI_BASE_URL"),
    ),
    Option(
        "model", "the model under test (env INCIDENT_EVALS_MODEL)", env=("INCIDENT_EVALS_MODEL",)
    ),
    Option(
        "api",
        "the API the replay, the judge and the generator speak: chat (Chat Completions, the "
        "default) or responses (the Responses API); a case's model.api wins (env "
        "INCIDENT_EVALS_API)",
        parse=api,
        env=("INCIDENT_EVALS_API",),
        default="chat",
    ),
    Option(
        "timeout",
        f"per-request timeout in seconds (default {DEFAULT_TIMEOUT_S:g})",
        parse=positive_float,
        default=DEFAULT_TIMEOUT_S,
    ),
    Option(
        "retries",
        "retries per request on 408, 409, 429, 5xx, timeouts and connection errors "
        f"(default {DEFAULT_RETRIES})",
        parse=non_negative_int,
        default=DEFAULT_RETRIES,
    ),
    Option(
        "concurrency",
        f"model requests in flight at once (default {DEFAULT_CONCURRENCY})",
        parse=positive_int,
        default=DEFAULT_CONCURRENCY,
    ),
    Option(
        "repeats",
        "samples per item, overriding each case's runs.repeats; auto (with "
        "--incident-baseline-model): a few per side, topped up until the comparison is decided",
        parse=repeats,
    ),
    Option(
        "max_samples",
        "under --incident-repeats auto, the most samples an item takes per side (default 30)",
        parse=whole_number(DEFAULT_FIRST_SAMPLES),
        default=DEFAULT_MAX_SAMPLES,
    ),
    Option(
        "variants",
        "which generated variants run: none, all (default) or N, the first N of each case",
        parse=variant_selection,
    ),
    Option(
        "seed",
        "the seed of generated variants (default 0); the same seed gives the same variants",
        parse=non_negative_int,
        default=0,
    ),
    Option("record", "write every exchange with the endpoint to this folder"),
    Option(
        "replay",
        "answer only from the recordings in this folder, offline (a miss is an error)",
    ),
    Option(
        "judge_base_url",
        "the endpoint of the LLM judge for `judge` constraints (default: the endpoint under test; "
        "env INCIDENT_EVALS_JUDGE_BASE_URL)",
        parse=url,
        env=("INCIDENT_EVALS_JUDGE_BASE_URL",),
    ),
    Option(
        "judge_model",
        "the judge model for `judge` constraints that name none (env INCIDENT_EVALS_JUDGE_MODEL)",
        env=("INCIDENT_EVALS_JUDGE_MODEL",),
    ),
    Option(
        "generator_base_url",
        "the endpoint of the model that writes paraphrase and translation variants (default: "
        "the endpoint under test; env INCIDENT_EVALS_GENERATOR_BASE_URL)",
        parse=url,
        env=("INCIDENT_EVALS_GENERATOR_BASE_URL",),
    ),
    Option(
        "generator_model",
        "the model that writes paraphrase and translation variants; without it paraphrases "
        "use offline rules (env INCIDENT_EVALS_GENERATOR_MODEL)",
        env=("INCIDENT_EVALS_GENERATOR_MODEL",),
    ),
    Option("report", "write the results JSON (SPEC §7) to this path"),
    Option(
        "report_sensitive",
        "keep sensitive document content in the terminal, JUnit and reports (redacted by default)",
        is_switch=True,
    ),
    Option("baseline", "a results JSON to compare this run with: regressions, fixes, new items"),
    Option(
        "baseline_model",
        "run this model too, side by side with the same requests and seed, as the baseline",
    ),
    Option(
        "fail_on",
        "what fails items: failures (default), or regressions against the baseline only",
        parse=fail_on,
        default="failures",
    ),
    Option(
        "alpha",
        "false discovery rate of regressions across the run, with repeats (default 0.05)",
        parse=alpha,
        default=0.05,
    ),
    Option(
        "allow_inconclusive",
        "do not block on critical items whose comparison with the baseline is inconclusive",
        is_switch=True,
    ),
    Option(
        "api_key_env",
        "the environment variable holding the API key (default OPENAI_API_KEY); never a key itself",
        parse=env_var_name,
        flag=False,
        default="OPENAI_API_KEY",
    ),
    Option(
        "local_startup_timeout",
        "seconds to wait for the embedded local model to answer "
        f"(default {DEFAULT_LOCAL_STARTUP_TIMEOUT_S:g})",
        parse=positive_float,
        flag=False,
        default=DEFAULT_LOCAL_STARTUP_TIMEOUT_S,
    ),
    Option(
        "local_slots",
        "requests the embedded local model answers at once (default: one per CPU, at most 8)",
        parse=positive_int,
        flag=False,
    ),
)
BY_NAME = {option.name: option for option in OPTIONS}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("incident-evals", "incident evals (pytest-incident-evals)")
    for option in OPTIONS:
        if option.flag:
            if option.is_switch:
                group.addoption(
                    option.option,
                    action="store_true",
                    default=None,
                    dest=option.dest,
                    help=option.help,
                )
            else:
                group.addoption(
                    option.option,
                    dest=option.dest,
                    type=option.parse,
                    default=None,
                    help=option.help,
                )
        ini_type: Literal["bool", "string"] = "bool" if option.is_switch else "string"
        parser.addini(
            option.ini,
            help=option.help,
            type=ini_type,
            default=None,
        )


def resolve(config: pytest.Config, name: str) -> tuple[Any, str]:
    """One option's value and where it came from: flag, then environment, then ini, then default.

    The source is what the terminal header names: the flag, the variable or the ini key.
    """
    option = BY_NAME[name]
    if option.flag:
        given = config.getoption(option.dest)
        if given is not None:
            return given, option.option
    for variable in option.env:
        if os.environ.get(variable):
            return _parse(
                option, os.environ[variable], f"environment variable {variable}"
            ), variable
    ini = config.getini(option.ini)
    if ini not in (None, "", []):
        if option.is_switch:
            return bool(ini), option.ini
        return _parse(option, str(ini), f"ini option {option.ini}"), option.ini
    return option.default, "default"


def value(config: pytest.Config, name: str) -> Any:
    return resolve(config, name)[0]


def _parse(option: Option, raw: str, where: str) -> Any:
    if option.parse is None:
        return raw
    try:
        return option.parse(raw)
    except argparse.ArgumentTypeError as exc:
        # An ini-only option has no flag to name.
        twin = f" (twin of {option.option})" if option.flag else ""
        raise pytest.UsageError(f"{where}{twin}: {exc}") from None


def enabled(config: pytest.Config) -> bool:
    return bool(value(config, "evals"))


def validate_all(config: pytest.Config) -> None:
    """Parse every value now, so a bad ini or environment value stops the run before collection."""
    for option in OPTIONS:
        value(config, option.name)


def invocation_path(config: pytest.Config, path: str) -> Path:
    """A path option, relative to where pytest was started."""
    return Path(config.invocation_params.dir, path).resolve()


def cases_root(config: pytest.Config) -> Path:
    return invocation_path(config, value(config, "cases"))


def resolve_endpoint(config: pytest.Config, *, offline: bool = False) -> Endpoint | None:
    """The endpoint under test; ``None`` means the embedded local model.

    ``offline`` (answering from recordings): only a configured model matters, and none is needed.
    """
    from incident_evals.client import Endpoint

    base_url, source = resolve(config, "base_url")
    model = value(config, "model")
    if (base_url is None or offline) and model is None:
        return None
    if model is None:
        from incident_evals.secrets import strip_userinfo

        raise pytest.UsageError(
            f"{strip_userinfo(base_url)} (from {source}) is configured but no model: pass "
            "--incident-model NAME or set INCIDENT_EVALS_MODEL or the ini option incident_model"
        )
    if base_url is None:
        source = "the openai SDK default"
    return Endpoint(
        base_url=base_url, model=model, source=source, api_key_env=value(config, "api_key_env")
    )


@dataclass(frozen=True)
class JudgeSettings:
    """Where ``judge`` constraints go; ``endpoint`` is ``None`` when no judge is configured."""

    #: Its base URL and the default judge model (``""`` when only constraints name one).
    endpoint: Endpoint | None
    #: Why there is no judge endpoint, for the item error of a case that needs one.
    missing: str = ""

    def model_for(self, constraint_model: str | None) -> str | None:
        if constraint_model:
            return constraint_model
        if self.endpoint is not None and self.endpoint.model:
            return self.endpoint.model
        return None


def resolve_judge(config: pytest.Config, target: Endpoint | None) -> JudgeSettings:
    """The judge endpoint: its own flag, else the configured endpoint under test.

    The embedded local model is never a judge: a 135M model's verdicts would be noise that
    looks like a result.
    """
    from incident_evals.client import Endpoint

    base_url, source = resolve(config, "judge_base_url")
    model = value(config, "judge_model") or ""
    credentials = None
    if base_url is None:
        if target is None:
            return JudgeSettings(
                None,
                "no judge endpoint is configured: pass --incident-judge-base-url URL and "
                "--incident-judge-model NAME (or their ini twins incident_judge_base_url, "
                "incident_judge_model)",
            )
        base_url, source = target.base_url, "the endpoint under test"
        # Inherited whole: the user-info of the endpoint under test goes with its URL.
        credentials = target.credentials
    endpoint = Endpoint(
        base_url=base_url,
        model=model,
        source=source,
        api_key_env=value(config, "api_key_env"),
        credentials=credentials,
    )
    missing = (
        ""
        if model
        else (
            "no judge model is configured: pass --incident-judge-model NAME (ini "
            "incident_judge_model), or name one in the constraint: {rubric: ..., model: NAME}"
        )
    )
    return JudgeSettings(endpoint, missing)


def resolve_generator(
    config: pytest.Config, target: Endpoint | None, *, offline: bool = False
) -> Endpoint | None:
    """The generator model's endpoint, or ``None`` when no generator model is configured.

    ``offline`` (replaying recordings): only the cache answers, so no URL is needed.
    """
    from incident_evals.client import Endpoint

    model = value(config, "generator_model")
    if not model:
        return None
    base_url, source = resolve(config, "generator_base_url")
    credentials = None
    if base_url is None and offline:
        source = "offline: its cached answers only"
    elif base_url is None:
        if target is None:
            raise pytest.UsageError(
                "--incident-generator-model needs an endpoint: pass --incident-generator-base-url "
                "URL (ini incident_generator_base_url), or configure the endpoint under test"
            )
        base_url, source = target.base_url, "the endpoint under test"
        credentials = target.credentials
    return Endpoint(
        base_url=base_url,
        model=model,
        source=source,
        api_key_env=value(config, "api_key_env"),
        credentials=credentials,
    )


def run_scrubber(config: pytest.Config) -> Scrubber:
    """The scrubber of a pytest run: its API key variable, the user-info of every URL it could
    use (flag, environment or ini), and whether sensitive documents are redacted."""
    from incident_evals.secrets import Scrubber

    urls: list[str | None] = []
    for name in ("base_url", "judge_base_url", "generator_base_url"):
        option = BY_NAME[name]
        urls.append(config.getoption(option.dest, None))
        ini = config.getini(option.ini)
        urls.append(str(ini) if ini else None)
    return Scrubber.from_environment(
        (str(value(config, "api_key_env")),),
        urls,
        documents=not value(config, "report_sensitive"),
    )
