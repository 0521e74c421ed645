"""Turning schema violations into problems a user can act on.

Each :class:`ConfigProblem` names the JSON path of the bad value and says what would be valid
(the allowed values, the expected type, an example, the bound, the known keys). Messages never
quote a string value from the configuration: any string might be an API key pasted in the wrong
place, and a key must never reach an error or a log.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from uprez.loopback import is_loopback

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TYPE_NAMES = {
    "object": "a table (object)",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@dataclass(frozen=True, order=True)
class ConfigProblem:
    """One violation: ``path`` is a JSON path such as ``$.provider.name``.

    ``source`` says where the value came from (a file name, an environment variable, a flag),
    when known.
    """

    path: str
    message: str
    source: str | None = None

    def __str__(self) -> str:
        return self.message if self.path == "$" else f"{self.path}: {self.message}"


def json_path(parts: Iterable[object]) -> str:
    """The JSON path of a location: ``json_path(["plugins", "foo"]) == "$.plugins.foo"``."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            text += f".{part}"
        else:
            text += "[" + repr(str(part)) + "]"
    return text


def describe_type(instance: object) -> str:
    """How a value's type reads in a message, without showing the value."""
    if isinstance(instance, bool):
        return "a boolean"
    if isinstance(instance, int):
        return "an integer"
    if isinstance(instance, float):
        return "a number"
    if isinstance(instance, str):
        return "a string"
    if instance is None:
        return "null"
    if isinstance(instance, Mapping):
        return "a table (object)"
    if isinstance(instance, list | tuple):
        return "a list"
    return f"a {type(instance).__name__}"


def _shown(instance: object) -> str:
    """A value for a message: numbers are shown, anything else only by its type."""
    if isinstance(instance, int | float) and not isinstance(instance, bool):
        return repr(instance)
    return describe_type(instance)


def _expected(types: object) -> str:
    names = [types] if isinstance(types, str) else list(types) if isinstance(types, list) else []
    return " or ".join(_TYPE_NAMES.get(str(name), str(name)) for name in names)


def _example(schema: Mapping[str, Any]) -> str:
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return "; for example " + ", ".join(_literal(example) for example in examples)
    return ""


def _literal(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}": {_literal(v)}' for k, v in value.items()) + "}"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _schema_of(error: ValidationError) -> Mapping[str, Any]:
    return error.schema if isinstance(error.schema, Mapping) else {}


def _unknown_keys(error: ValidationError) -> Iterator[tuple[list[object], str]]:
    """One problem per unknown key, with the key in the path and a suggestion when close."""
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    schema = _schema_of(error)
    known = sorted(str(key) for key in schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    where = list(error.absolute_path)
    noun = "section" if not where else "key"
    for key in instance:
        if key in known or any(re.search(pattern, str(key)) for pattern in patterns):
            continue
        message = f"unknown {noun} '{key}'"
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        if close:
            message += f" (did you mean '{close[0]}'?)"
        message += f"; known {noun}s: {', '.join(known)}" if known else "; no keys are allowed here"
        yield [*where, key], message


def _branch_errors(
    error: ValidationError, validator: Draft202012Validator
) -> list[ValidationError]:
    """For oneOf/anyOf: the errors of the one branch whose type fits the value, if only one does."""
    branches = error.validator_value if isinstance(error.validator_value, list) else []
    fitting = [
        index
        for index, branch in enumerate(branches)
        if "type" not in branch
        or any(validator.is_type(error.instance, t) for t in _as_list(branch["type"]))
    ]
    if len(fitting) != 1:
        return []
    return [
        sub for sub in error.context or [] if sub.schema_path and sub.schema_path[0] == fitting[0]
    ]


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] if isinstance(value, list) else []


def _message(error: ValidationError) -> str:
    """What is wrong and what would be valid, for one jsonschema error."""
    kind, schema = error.validator, _schema_of(error)
    bound: Any = error.validator_value
    got = _shown(error.instance)
    if kind == "type":
        return f"expected {_expected(bound)}, got {describe_type(error.instance)}"
    if kind == "enum":
        return "must be one of " + ", ".join(_literal(value) for value in bound)
    if kind == "const":
        return f"must be {_literal(bound)}"
    if kind == "pattern":
        return f"does not have the expected form (pattern {bound}){_example(schema)}"
    if kind == "minimum":
        return f"must be at least {bound} (got {got})"
    if kind == "maximum":
        return f"must be at most {bound} (got {got})"
    if kind == "exclusiveMinimum":
        return f"must be greater than {bound} (got {got})"
    if kind == "exclusiveMaximum":
        return f"must be less than {bound} (got {got})"
    if kind == "minLength":
        return "must not be empty" if bound == 1 else f"must have at least {bound} characters"
    if kind == "maxLength":
        return f"must have at most {bound} characters"
    if kind in ("minItems", "maxItems", "minProperties", "maxProperties"):
        return f"fails {kind} = {bound}"
    if kind in ("oneOf", "anyOf"):
        forms = [_expected(branch.get("type", "any")) for branch in bound]
        return f"must be {' or '.join(forms)}{_example(schema)}"
    return f"fails the schema rule '{kind}'"


def schema_problems(validator: Draft202012Validator, instance: object) -> list[ConfigProblem]:
    """Every violation of the schema, each once, with its JSON path."""
    found: list[ConfigProblem] = []
    pending = list(validator.iter_errors(instance))
    while pending:
        error = pending.pop()
        if error.validator == "additionalProperties" and error.validator_value is False:
            found.extend(ConfigProblem(json_path(p), m) for p, m in _unknown_keys(error))
        elif error.validator == "required":
            missing = [k for k in error.validator_value if k not in error.instance]
            found.extend(
                ConfigProblem(json_path([*error.absolute_path, key]), "is required")
                for key in missing
            )
        elif error.validator in ("oneOf", "anyOf") and (branch := _branch_errors(error, validator)):
            pending.extend(branch)
        else:
            found.append(ConfigProblem(json_path(error.absolute_path), _message(error)))
    return found


def _non_finite(value: object, where: list[object]) -> Iterator[ConfigProblem]:
    if isinstance(value, float) and not math.isfinite(value):
        yield ConfigProblem(json_path(where), "must be a finite number (not NaN or infinity)")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite(item, [*where, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, [*where, index])


def rule_problems(data: Mapping[str, Any]) -> list[ConfigProblem]:
    """Checks that a schema cannot express: finite numbers, no plain http to remote hosts."""
    found = list(_non_finite(data, []))
    provider = data.get("provider")
    if isinstance(provider, Mapping):
        url = provider.get("base_url")
        if isinstance(url, str) and url.lower().startswith("http://"):
            host = urlsplit(url).hostname or ""
            if not is_loopback(host) and provider.get("allow_insecure_http") is not True:
                found.append(
                    ConfigProblem(
                        "$.provider.base_url",
                        "plain http:// is only allowed to loopback hosts (127.0.0.1, ::1, "
                        "localhost); use https:// or set provider.allow_insecure_http = true",
                    )
                )
    return found


def step_problems(data: Mapping[str, Any], known: Collection[str]) -> list[ConfigProblem]:
    """A rule's step that no plugin offers (``known``: the plugin manager's steps), at its JSON
    path such as ``$.rules[0].steps[1]``, with the known steps. The name itself is not quoted:
    any string in a config might be a key pasted in the wrong place."""
    rules = data.get("rules")
    if not isinstance(rules, list):
        return []
    names = sorted(known)
    found = []
    for number, rule in enumerate(rules):
        steps = rule.get("steps") if isinstance(rule, Mapping) else None
        if not isinstance(steps, list):
            continue
        for index, step in enumerate(steps):
            if not isinstance(step, str) or not step or step in known:
                continue  # not a name at all: the schema says so
            message = "no plugin offers this step"
            close = difflib.get_close_matches(step, names, n=1, cutoff=0.6)
            if close:
                message += f" (did you mean '{close[0]}'?)"
            message += f"; known steps: {', '.join(names)}" if names else "; no step is installed"
            found.append(ConfigProblem(json_path(["rules", number, "steps", index]), message))
    return found


def finish(
    problems: Iterable[ConfigProblem], origins: Sequence[tuple[str, str]]
) -> list[ConfigProblem]:
    """Problems deduplicated, sorted by path, each tagged with where its value came from.

    ``origins`` pairs JSON paths with sources in layer order; the longest path that contains a
    problem names its source, and of equal paths the later layer wins.
    """
    tagged = {}
    for problem in problems:
        source, depth = None, -1
        for path, origin in origins:
            inside = problem.path == path or problem.path.startswith((path + ".", path + "["))
            if inside and len(path) >= depth:
                source, depth = origin, len(path)
        tagged[(problem.path, problem.message)] = ConfigProblem(
            problem.path, problem.message, source
        )
    return sorted(tagged.values())
