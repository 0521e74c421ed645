"""The configuration: layers, validation that reports every problem at once, and key hygiene."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from uprez.config import DEFAULTS, Config, ConfigProblem, load_config, schema, validate_file
from uprez.errors import ConfigError

SECRET = "sk-SECRET-123"

WriteConfig = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteConfig:
    """Write a config file: ``write("c.toml", text)`` or ``write("c.json", {...})``."""

    def factory(name: str, content: str | dict[str, Any]) -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else json.dumps(content)
        path.write_text(text, encoding="utf-8")
        return path

    return factory


def problems_of(error: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    """The problems of a ConfigError as {json path: message}."""
    result = {}
    for problem in error.value.problems:
        assert isinstance(problem, ConfigProblem)
        result[problem.path] = problem.message
    return result


def load_bad(*args: Any, **kwargs: Any) -> dict[str, str]:
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as caught:
        load_config(*args, **kwargs)
    assert caught.value.exit_code == 2
    return problems_of(caught)


# --- the schema -------------------------------------------------------------------------------


def _properties(node: dict[str, Any], where: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    for key, sub in node.get("properties", {}).items():
        yield f"{where}.{key}", sub
        yield from _properties(sub, f"{where}.{key}")
    for branch in node.get("oneOf", []):
        yield from _properties(branch, where)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(schema())


def test_every_property_has_a_description_and_a_default() -> None:
    for path, node in _properties(schema()):
        assert node.get("description"), path
        assert "default" in node, path


def test_objects_refuse_unknown_keys_except_model_inputs_and_plugin_options() -> None:
    open_objects = {"$.provider.inputs", "$.plugins"}
    for path, node in [("$", schema()), *_properties(schema())]:
        if node.get("type") == "object" and path not in open_objects:
            assert node.get("additionalProperties") is False, path


def test_each_section_default_matches_the_defaults_of_its_keys() -> None:
    for section, node in schema()["properties"].items():
        assert node["default"] == DEFAULTS[section], section


def test_patterned_values_carry_examples_that_match_their_pattern() -> None:
    for path, node in _properties(schema()):
        if "pattern" in node:
            assert node.get("examples"), path
            checker = Draft202012Validator(node)
            for example in node["examples"]:
                assert checker.is_valid(example), (path, example)


# --- layers -----------------------------------------------------------------------------------


def test_without_a_file_the_schema_defaults_apply() -> None:
    config = load_config(env={})
    assert config.data == DEFAULTS
    assert config.source is None
    assert config.get("provider.name") == "wavespeed"
    assert config.get("provider.model") == "runwayml/upscale-v1"
    assert config.get("polling.deadline") == 3600
    assert config.get("limits.price_per_second") == "0.02"
    assert config.get("journal.path") is None


def test_a_toml_file_overrides_the_defaults_key_by_key(write: WriteConfig) -> None:
    path = write("uprez.toml", '[provider]\nname = "local"\n[polling]\ndeadline = 90.5\n')
    config = load_config(path, env={})
    assert config.source == str(path)
    assert config.get("provider.name") == "local"
    assert config.get("provider.model") == "runwayml/upscale-v1"
    assert config.get("polling.deadline") == 90.5
    assert config.get("polling.factor") == 1.5


def test_a_json_file_is_read_too(write: WriteConfig) -> None:
    path = write("uprez.json", {"local": {"workers": 8}, "output": {"overwrite": True}})
    config = load_config(path, env={})
    assert config.get("local.workers") == 8
    assert config.get("output.overwrite") is True


def test_the_extension_is_matched_without_regard_to_case(write: WriteConfig) -> None:
    path = write("UPREZ.TOML", "[local]\nworkers = 3\n")
    assert load_config(path, env={}).get("local.workers") == 3


def test_environment_beats_the_file_and_flags_beat_both(write: WriteConfig) -> None:
    path = write("uprez.toml", "[polling]\ndeadline = 100\nfactor = 2\n")
    env = {"UPREZ_POLLING__DEADLINE": "200"}
    assert load_config(path, env={}).get("polling.deadline") == 100
    assert load_config(path, env=env).get("polling.deadline") == 200
    config = load_config(path, env=env, overrides={"polling.deadline": 300})
    assert config.get("polling.deadline") == 300
    assert config.get("polling.factor") == 2


def test_an_override_of_none_means_not_given() -> None:
    env = {"UPREZ_PROVIDER__NAME": "local"}
    config = load_config(env=env, overrides={"provider.name": None})
    assert config.get("provider.name") == "local"


def test_environment_values_are_parsed_as_json_when_they_parse() -> None:
    env = {
        "UPREZ_POLLING__DEADLINE": "60",
        "UPREZ_OUTPUT__OVERWRITE": "true",
        "UPREZ_PROVIDER__INPUTS": '{"target_resolution": "4k", "denoise": 0.5}',
        "UPREZ_OUTPUT__TEMPLATE": "{dir}/big/{stem}{ext}",
        "UPREZ_PROVIDER__MODEL": "acme/upscale",
    }
    config = load_config(env=env)
    assert config.get("polling.deadline") == 60
    assert config.get("output.overwrite") is True
    assert config.get("provider.inputs") == {"target_resolution": "4k", "denoise": 0.5}
    assert config.get("output.template") == "{dir}/big/{stem}{ext}"
    assert config.get("provider.model") == "acme/upscale"


def test_environment_text_stays_text_where_the_schema_wants_a_string() -> None:
    env = {"UPREZ_LIMITS__PRICE_PER_SECOND": "0.05", "UPREZ_PROVIDER__MODEL": "42"}
    config = load_config(env=env)
    assert config.get("limits.price_per_second") == "0.05"
    assert config.get("provider.model") == "42"


def test_environment_names_are_case_insensitive_and_may_reach_deeper() -> None:
    env = {"uprez_Provider__Name": "local", "UPREZ_PROVIDER__INPUTS__SEED": "7"}
    config = load_config(env=env)
    assert config.get("provider.name") == "local"
    assert config.get("provider.inputs") == {"seed": 7}


def test_unrelated_uprez_variables_are_not_settings() -> None:
    env = {"UPREZ_LOAD_PLUGINS": "a,b", "UPREZ_TRACE_PLUGINS": "1", "HOME": "/x"}
    assert load_config(env=env).data == DEFAULTS


def test_uprez_config_names_the_file_when_none_is_given(write: WriteConfig) -> None:
    path = write("from-env.toml", '[provider]\nname = "local"\n')
    config = load_config(env={"UPREZ_CONFIG": str(path)})
    assert config.source == str(path)
    assert config.get("provider.name") == "local"


def test_an_explicit_path_wins_over_uprez_config(write: WriteConfig) -> None:
    chosen = write("chosen.json", {"local": {"workers": 5}})
    config = load_config(chosen, env={"UPREZ_CONFIG": "/nowhere/else.toml"})
    assert config.get("local.workers") == 5


# --- file errors ------------------------------------------------------------------------------


def test_a_toml_syntax_error_names_the_file_and_the_line(write: WriteConfig) -> None:
    path = write("broken.toml", '[provider]\nname = "local"\nmodel = oops\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    text = str(caught.value)
    assert str(path) in text
    assert "line 3" in text
    assert "TOML" in text


def test_a_json_syntax_error_names_the_file_and_the_line(write: WriteConfig) -> None:
    path = write("broken.json", '{\n  "provider": {\n    "name": "local",\n  }\n}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(path) in str(caught.value)
    assert "line 4" in str(caught.value)


def test_an_unsupported_extension_says_which_ones_work(write: WriteConfig) -> None:
    path = write("uprez.yaml", "provider: {name: local}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    text = str(caught.value)
    assert str(path) in text
    assert ".toml" in text
    assert ".json" in text


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, env={})
    assert str(missing) in str(caught.value)
    assert "not found" in str(caught.value)


def test_a_directory_is_not_a_readable_config(tmp_path: Path) -> None:
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(folder, env={})


def test_a_json_file_must_hold_an_object(write: WriteConfig) -> None:
    path = write("list.json", "[1, 2]")
    with pytest.raises(ConfigError, match="expected a table"):
        load_config(path, env={})


# --- validation -------------------------------------------------------------------------------

MANY_MISTAKES = """
[provider]
name = "WaveSpeed"
connect_timeout = -3

[polling]
jitter = 0.9
deadlin = 30

[retry]
attempts = "five"

[limits]
price_per_second = "two cents"

[outptu]
overwrite = true
"""


def test_every_violation_is_reported_at_once_with_its_json_path(write: WriteConfig) -> None:
    path = write("many.toml", MANY_MISTAKES)
    problems = load_bad(path)
    assert set(problems) == {
        "$.provider.name",
        "$.provider.connect_timeout",
        "$.polling.jitter",
        "$.polling.deadlin",
        "$.retry.attempts",
        "$.limits.price_per_second",
        "$.outptu",
    }


def test_problems_are_sorted_by_path_and_listed_one_per_line(write: WriteConfig) -> None:
    path = write("many.toml", MANY_MISTAKES)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    paths = [problem.path for problem in caught.value.problems]  # type: ignore[attr-defined]
    assert paths == sorted(paths)
    lines = str(caught.value).splitlines()
    assert lines[0] == "7 problems in the configuration:"
    assert all(line.startswith(f"  {path}: $.") for line in lines[1:])
    assert len(lines) == 8


def test_a_problem_from_the_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={"UPREZ_POLLING__DEADLINE": "-1"})
    assert "environment variable UPREZ_POLLING__DEADLINE: $.polling.deadline" in str(caught.value)


def test_a_type_mistake_names_the_expected_type() -> None:
    problems = load_bad(overrides={"retry.attempts": "five", "output.sidecar": "yes"})
    assert problems["$.retry.attempts"] == "expected an integer, got a string"
    assert problems["$.output.sidecar"] == "expected true or false, got a string"


def test_a_pattern_mistake_shows_a_valid_example() -> None:
    problems = load_bad(overrides={"local.max_size": "4k", "provider.model": "a b"})
    assert '"3840x2160"' in problems["$.local.max_size"]
    assert '"runwayml/upscale-v1"' in problems["$.provider.model"]


def test_a_bound_mistake_names_the_bound() -> None:
    problems = load_bad(overrides={"polling.jitter": 0.7, "local.workers": 0, "retry.attempts": 99})
    assert problems["$.polling.jitter"] == "must be at most 0.5 (got 0.7)"
    assert problems["$.local.workers"] == "must be at least 1 (got 0)"
    assert problems["$.retry.attempts"] == "must be at most 20 (got 99)"
    problems = load_bad(overrides={"polling.deadline": 0})
    assert problems["$.polling.deadline"] == "must be greater than 0 (got 0)"


def test_an_unknown_key_is_named_in_the_path_with_a_suggestion_and_the_known_keys() -> None:
    problems = load_bad(overrides={"polling.dealine": 5})
    message = problems["$.polling.dealine"]
    assert "unknown key 'dealine'" in message
    assert "did you mean 'deadline'?" in message
    assert "first_interval" in message


def test_an_unknown_section_is_a_typo_with_a_suggestion() -> None:
    problems = load_bad(env={"UPREZ_PROVDER__NAME": "local"})
    message = problems["$.provder"]
    assert "unknown section 'provder'" in message
    assert "did you mean 'provider'?" in message
    problems = load_bad(overrides={"zzz.qqq": 1})
    assert "did you mean" not in problems["$.zzz"]
    assert "known sections: account, budgets, colour, journal, limits, local" in problems["$.zzz"]


def test_an_enum_mistake_lists_the_allowed_values() -> None:
    fragment = {"type": "object", "properties": {"level": {"enum": ["low", "high"]}}}
    problems = load_bad(overrides={"plugins.foo.level": "mid"}, fragments={"foo": fragment})
    assert problems["$.plugins.foo.level"] == 'must be one of "low", "high"'


def test_an_api_key_reference_is_checked_inside_the_reference() -> None:
    problems = load_bad(overrides={"provider.api_key": {"$env": "1-BAD"}})
    assert '"WAVESPEED_API_KEY"' in problems["$.provider.api_key['$env']"]
    problems = load_bad(overrides={"provider.api_key": {"$env": "A", "extra": 1}})
    assert "unknown key 'extra'" in problems["$.provider.api_key.extra"]
    problems = load_bad(overrides={"provider.api_key": 123})
    assert "a table (object) or a string" in problems["$.provider.api_key"]


def test_plain_http_is_refused_for_remote_hosts_unless_explicitly_allowed() -> None:
    problems = load_bad(overrides={"provider.base_url": "http://api.example.com"})
    assert "allow_insecure_http" in problems["$.provider.base_url"]
    allowed = {"provider.base_url": "http://api.example.com", "provider.allow_insecure_http": True}
    assert load_config(env={}, overrides=allowed).get("provider.allow_insecure_http") is True
    for loopback in ("http://127.0.0.1:8765", "http://localhost:1", "http://[::1]:80"):
        load_config(env={}, overrides={"provider.base_url": loopback})


def test_numbers_must_be_finite(write: WriteConfig) -> None:
    path = write("inf.toml", "[polling]\ndeadline = inf\nmax_interval = nan\n")
    problems = load_bad(path)
    assert "finite" in problems["$.polling.deadline"]
    assert "finite" in problems["$.polling.max_interval"]


def test_validate_file_returns_every_problem_or_nothing(write: WriteConfig) -> None:
    assert validate_file(write("good.toml", "[local]\nworkers = 4\n")) == []
    problems = validate_file(write("many.toml", MANY_MISTAKES))
    assert len(problems) == 7
    assert all(problem.source and problem.source.endswith("many.toml") for problem in problems)
    broken = validate_file(write("broken.toml", "[local\n"))
    assert len(broken) == 1
    assert "line 1" in broken[0].message


def test_validate_file_ignores_the_environment(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPREZ_POLLING__DEADLINE", "-5")
    assert validate_file(write("good.json", {})) == []


def test_a_rule_naming_a_step_no_plugin_offers_is_a_problem_at_its_path(
    write: WriteConfig,
) -> None:
    path = write("r.json", {"rules": [{"steps": ["upscale"]}, {"steps": ["upscale", "Sharpen"]}]})
    assert validate_file(path) == []  # without the plugins' steps, names cannot be checked
    [problem] = validate_file(path, steps={"upscale", "sharpen"})
    assert problem.path == "$.rules[1].steps[1]"
    assert problem.message == (
        "no plugin offers this step (did you mean 'sharpen'?); known steps: sharpen, upscale"
    )
    assert validate_file(path, steps={"upscale", "Sharpen"}) == []


# --- plugin fragments -------------------------------------------------------------------------

FRAGMENT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "level": {"enum": ["low", "high"], "default": "low", "description": "how hard"},
        "limit": {"type": "integer", "minimum": 1, "default": 3, "description": "how many"},
    },
}


def test_a_plugin_fragment_applies_its_defaults() -> None:
    config = load_config(env={}, fragments={"foo": FRAGMENT})
    assert config.get("plugins.foo") == {"level": "low", "limit": 3}


def test_a_plugin_fragment_merges_with_the_file(write: WriteConfig) -> None:
    path = write("p.toml", '[plugins.foo]\nlevel = "high"\n')
    config = load_config(path, env={}, fragments={"foo": FRAGMENT})
    assert config.get("plugins.foo") == {"level": "high", "limit": 3}


def test_a_plugin_fragment_is_validated_at_its_path(write: WriteConfig) -> None:
    path = write("p.toml", '[plugins.foo]\nlevel = "max"\nlimit = 0\nlimmit = 2\n')
    problems = load_bad(path, fragments={"foo": FRAGMENT})
    assert set(problems) == {"$.plugins.foo.level", "$.plugins.foo.limit", "$.plugins.foo.limmit"}
    assert "did you mean 'limit'?" in problems["$.plugins.foo.limmit"]


def test_a_fragment_may_refer_to_its_own_definitions() -> None:
    fragment = {
        "type": "object",
        "$defs": {"mode": {"enum": ["a", "b"]}},
        "properties": {"mode": {"$ref": "#/$defs/mode", "default": "a"}},
    }
    assert load_config(env={}, fragments={"bar": fragment}).get("plugins.bar.mode") == "a"
    problems = load_bad(overrides={"plugins.bar.mode": "c"}, fragments={"bar": fragment})
    assert problems["$.plugins.bar.mode"] == 'must be one of "a", "b"'


def test_options_of_plugins_without_a_fragment_need_only_be_tables() -> None:
    config = load_config(env={}, overrides={"plugins.other": {"anything": [1, 2]}})
    assert config.get("plugins.other.anything") == [1, 2]
    assert "$.plugins.other" in load_bad(overrides={"plugins.other": 5})


def test_a_broken_fragment_is_reported_against_the_plugin() -> None:
    problems = load_bad(fragments={"bad": {"type": 12}})
    assert "invalid options schema" in problems["$.plugins.bad"]


# --- the key ----------------------------------------------------------------------------------


def test_the_api_key_is_read_from_the_named_variable() -> None:
    config = load_config(env={"WAVESPEED_API_KEY": SECRET})
    assert config.api_key() == SECRET
    assert load_config(env={}).api_key() is None
    custom = load_config(env={"MY_KEY": "k1"}, overrides={"provider.api_key": {"$env": "MY_KEY"}})
    assert custom.api_key() == "k1"


def test_a_literal_key_in_a_file_works_but_warns_without_showing_it(
    write: WriteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="uprez")
    path = write("key.toml", f'[provider]\napi_key = "{SECRET}"\n')
    config = load_config(path, env={})
    assert config.api_key() == SECRET
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "environment" in warnings[0].getMessage()
    assert SECRET not in caplog.text


def test_a_literal_key_from_the_environment_does_not_warn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_config(env={"UPREZ_PROVIDER__API_KEY": SECRET})
    assert config.api_key() == SECRET
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_redacted_keeps_references_and_hides_literal_keys() -> None:
    referenced = load_config(env={"WAVESPEED_API_KEY": SECRET})
    assert referenced.redacted()["provider"]["api_key"] == {"$env": "WAVESPEED_API_KEY"}
    literal = load_config(
        env={},
        overrides={"provider.api_key": SECRET, "plugins.x": {"token": SECRET, "level": 2}},
    )
    shown = literal.redacted()
    assert shown["provider"]["api_key"] == "<redacted>"
    assert shown["plugins"]["x"] == {"token": "<redacted>", "level": 2}
    assert literal.data["provider"]["api_key"] == SECRET  # the copy, not the config, is redacted


def test_repr_and_str_never_show_the_key() -> None:
    for config in (
        load_config(env={"WAVESPEED_API_KEY": SECRET}),
        load_config(env={}, overrides={"provider.api_key": SECRET}),
    ):
        assert SECRET not in repr(config)
        assert SECRET not in str(config)
        assert "<environment>" not in repr(config)  # the environment is not even mentioned


def test_a_bad_config_holding_the_key_never_shows_it(
    write: WriteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="uprez")
    content = {
        "provider": {"api_key": SECRET, "name": SECRET, "model": SECRET, "base_url": SECRET},
        "polling": {"deadline": SECRET},
        "local": {"max_size": SECRET, "workers": SECRET},
        "journal": {"path": {"oops": SECRET}},
        "plugins": {"foo": SECRET},
        "output": {"template": [SECRET]},
    }
    path = write("leak.json", content)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"UPREZ_RETRY__ATTEMPTS": SECRET})
    assert len(caught.value.problems) >= 9
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.problems)
    assert SECRET not in caplog.text
    assert all(SECRET not in str(p) for p in validate_file(path))


# --- the Config object ------------------------------------------------------------------------


def test_get_reads_dotted_keys_and_refuses_unknown_ones() -> None:
    config = load_config(env={})
    assert config.get("polling") == DEFAULTS["polling"]
    assert config.get("nope.nothing", 7) == 7
    with pytest.raises(KeyError, match=r"provider\.nope"):
        config.get("provider.nope")


def test_a_config_is_frozen() -> None:
    config = load_config(env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.source = "x"  # type: ignore[misc]


def test_loading_does_not_mutate_the_defaults() -> None:
    before = json.dumps(DEFAULTS, sort_keys=True)
    config = load_config(env={}, overrides={"provider.inputs.seed": 1})
    assert config.get("provider.inputs") == {"seed": 1}
    assert json.dumps(DEFAULTS, sort_keys=True) == before
    assert isinstance(config, Config)


# --- at least 30 bad configs ------------------------------------------------------------------

BAD_CONFIGS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown section", {"provder": {}}, "$.provder"),
    ("section not a table", {"polling": 5}, "$.polling"),
    ("provider name uppercase", {"provider": {"name": "Local"}}, "$.provider.name"),
    ("provider name empty", {"provider": {"name": ""}}, "$.provider.name"),
    ("provider name not text", {"provider": {"name": 3}}, "$.provider.name"),
    ("model with spaces", {"provider": {"model": "run way/x"}}, "$.provider.model"),
    ("model trailing slash", {"provider": {"model": "runwayml/"}}, "$.provider.model"),
    ("base url no scheme", {"provider": {"base_url": "api.wavespeed.ai"}}, "$.provider.base_url"),
    ("base url ftp", {"provider": {"base_url": "ftp://x.example"}}, "$.provider.base_url"),
    ("base url plain http", {"provider": {"base_url": "http://x.example"}}, "$.provider.base_url"),
    ("api key empty", {"provider": {"api_key": ""}}, "$.provider.api_key"),
    ("api key list", {"provider": {"api_key": ["k"]}}, "$.provider.api_key"),
    (
        "api key bad env name",
        {"provider": {"api_key": {"$env": "9X"}}},
        "$.provider.api_key['$env']",
    ),
    ("api key env missing", {"provider": {"api_key": {"env": "X"}}}, "$.provider.api_key['$env']"),
    ("inputs not a table", {"provider": {"inputs": "x=1"}}, "$.provider.inputs"),
    (
        "insecure flag text",
        {"provider": {"allow_insecure_http": "yes"}},
        "$.provider.allow_insecure_http",
    ),
    ("connect timeout zero", {"provider": {"connect_timeout": 0}}, "$.provider.connect_timeout"),
    ("read timeout negative", {"provider": {"read_timeout": -1}}, "$.provider.read_timeout"),
    ("upload timeout text", {"provider": {"upload_timeout": "5m"}}, "$.provider.upload_timeout"),
    ("unknown provider key", {"provider": {"modle": "x/y"}}, "$.provider.modle"),
    ("first interval zero", {"polling": {"first_interval": 0}}, "$.polling.first_interval"),
    ("factor below one", {"polling": {"factor": 0.5}}, "$.polling.factor"),
    ("max interval negative", {"polling": {"max_interval": -2}}, "$.polling.max_interval"),
    ("jitter too large", {"polling": {"jitter": 0.75}}, "$.polling.jitter"),
    ("jitter negative", {"polling": {"jitter": -0.1}}, "$.polling.jitter"),
    ("deadline boolean", {"polling": {"deadline": True}}, "$.polling.deadline"),
    ("attempts fraction", {"retry": {"attempts": 1.5}}, "$.retry.attempts"),
    ("attempts too many", {"retry": {"attempts": 21}}, "$.retry.attempts"),
    ("attempts negative", {"retry": {"attempts": -1}}, "$.retry.attempts"),
    ("backoff base zero", {"retry": {"backoff_base": 0}}, "$.retry.backoff_base"),
    ("backoff cap null", {"retry": {"backoff_cap": None}}, "$.retry.backoff_cap"),
    ("retry-after cap zero", {"retry": {"retry_after_cap": 0}}, "$.retry.retry_after_cap"),
    ("max duration zero", {"limits": {"max_duration": 0}}, "$.limits.max_duration"),
    ("price as number", {"limits": {"price_per_second": 0.02}}, "$.limits.price_per_second"),
    ("price with unit", {"limits": {"price_per_second": "$0.02"}}, "$.limits.price_per_second"),
    ("minimum seconds negative", {"limits": {"minimum_seconds": -5}}, "$.limits.minimum_seconds"),
    ("template empty", {"output": {"template": ""}}, "$.output.template"),
    ("overwrite text", {"output": {"overwrite": "no"}}, "$.output.overwrite"),
    ("sidecar number", {"output": {"sidecar": 1}}, "$.output.sidecar"),
    ("journal path number", {"journal": {"path": 5}}, "$.journal.path"),
    ("journal path empty", {"journal": {"path": ""}}, "$.journal.path"),
    ("journal unknown key", {"journal": {"file": "j.db"}}, "$.journal.file"),
    ("max size words", {"local": {"max_size": "4k"}}, "$.local.max_size"),
    ("max size zero width", {"local": {"max_size": "0x2160"}}, "$.local.max_size"),
    ("workers zero", {"local": {"workers": 0}}, "$.local.workers"),
    ("workers too many", {"local": {"workers": 65}}, "$.local.workers"),
    ("plugin options not a table", {"plugins": {"foo": [1]}}, "$.plugins.foo"),
    ("plugins not a table", {"plugins": ["foo"]}, "$.plugins"),
]


def test_the_bad_config_table_is_large_and_distinct() -> None:
    assert len(BAD_CONFIGS) >= 30
    assert len({json.dumps(config, sort_keys=True) for _, config, _ in BAD_CONFIGS}) == len(
        BAD_CONFIGS
    )


@pytest.mark.parametrize(
    ("content", "expected_path"),
    [pytest.param(content, path, id=name) for name, content, path in BAD_CONFIGS],
)
def test_each_bad_config_is_refused_at_its_path(
    write: WriteConfig, content: dict[str, Any], expected_path: str
) -> None:
    path = write("bad.json", content)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    problems = problems_of(caught)
    assert expected_path in problems, problems
    assert str(path) in str(caught.value)


# --- properties -------------------------------------------------------------------------------

_KNOWN_KEYS = sorted(
    {path.rsplit(".", 1)[-1] for path, _ in _properties(schema())} | {"$env", "foo"}
)
_keys = st.one_of(st.sampled_from(_KNOWN_KEYS), st.text(max_size=8))
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.dates(),
    st.just(datetime.time(1, 2)),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_sections = st.dictionaries(
    st.one_of(st.sampled_from(sorted(DEFAULTS)), st.text(max_size=6)), _values, max_size=4
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_sections)
def test_any_nested_value_is_either_accepted_or_refused_with_a_config_error(
    sections: dict[str, Any],
) -> None:
    overrides = {key: value for key, value in sections.items() if key and "." not in key}
    try:
        config = load_config(env={}, overrides=overrides, fragments={"foo": FRAGMENT})
    except ConfigError as error:
        assert error.problems
        assert all(problem.path.startswith("$") for problem in error.problems)  # type: ignore[attr-defined]
        str(error)
    else:
        assert isinstance(config.redacted(), dict)


_env_names = st.sampled_from(
    [f"UPREZ_{section.upper()}__{key.upper()}" for section in DEFAULTS for key in DEFAULTS[section]]
    + ["UPREZ_PLUGINS__FOO__LEVEL", "UPREZ_PROVIDER__API_KEY", "UPREZ_X__", "UPREZ___Y"]
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_env_names, st.text(alphabet=string.printable, max_size=16), max_size=5))
def test_any_environment_is_either_accepted_or_refused_with_a_config_error(
    env: dict[str, str],
) -> None:
    try:
        load_config(env=env, fragments={"foo": FRAGMENT})
    except ConfigError as error:
        assert error.problems
