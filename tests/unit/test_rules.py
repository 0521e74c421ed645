"""Post-export rules (uprez.rules), only through ``select_steps(artifact, config, known)`` with
configs from ``load_config``: which steps run on which exported artifact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from uprez.config import Config, load_config
from uprez.errors import ConfigError
from uprez.records import Artifact
from uprez.rules import select_steps

KNOWN = {"upscale", "grain", "denoise", "publish"}


def rules(*given: dict[str, Any]) -> Config:
    return load_config(env={}, overrides={"rules": list(given)})


def steps(path: str | Path, config: Config, **artifact: Any) -> list[str]:
    return select_steps(Artifact(Path(path), **artifact), config, KNOWN)


@pytest.fixture
def small(make_clip: Callable[..., Path]) -> Path:
    """A real 64x36 clip."""
    return make_clip("small.mp4", width=64, height=36, seconds=0.25, fps=12, audio=False)


# -- no rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.mp4", "/renders/sh010.mov", "no_extension"])
def test_with_no_rules_a_video_gets_upscale(name: str) -> None:
    assert steps(name, load_config(env={})) == ["upscale"]


@pytest.mark.parametrize("kind", ["image", "audio", "geometry"])
def test_with_no_rules_anything_but_a_video_gets_nothing(kind: str) -> None:
    assert steps("/renders/sh010.mp4", load_config(env={}), kind=kind) == []


# -- glob -----------------------------------------------------------------------------------------


def test_a_glob_without_a_slash_matches_the_file_name_only() -> None:
    config = rules({"glob": "sh0*_v?.mp4", "steps": ["upscale"]})

    assert steps("/shows/demo/sh010_v2.mp4", config) == ["upscale"]
    assert steps("/shows/sh010/other_v2.mp4", config) == []  # a folder named sh0.. is not enough
    assert steps("/shows/demo/sh010_v12.mp4", config) == []


def test_a_glob_without_a_slash_does_not_see_folder_names() -> None:
    config = rules({"glob": "publish*", "steps": ["upscale"]})

    assert steps("/show/publish/shot.mp4", config) == []
    assert steps("/show/work/publish_shot.mp4", config) == ["upscale"]


def test_a_glob_with_a_slash_matches_the_whole_path() -> None:
    config = rules({"glob": "/show/*/final/*.mov", "steps": ["upscale"]})

    assert steps("/show/sh010/final/comp.mov", config) == ["upscale"]
    assert steps("/show/sh010/wip/comp.mov", config) == []
    assert steps("comp.mov", config) == []


# -- ext ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "name"),
    [(".mov", "A.MOV"), (".MOV", "a.mov"), (".Mp4", "a.mP4")],
)
def test_ext_matches_whatever_the_case(ext: str, name: str) -> None:
    assert steps(f"/r/{name}", rules({"ext": [ext], "steps": ["grain"]})) == ["grain"]


def test_ext_is_one_of_a_list_and_nothing_else() -> None:
    config = rules({"ext": [".mov", ".mkv"], "steps": ["grain"]})

    assert steps("a.mkv", config) == ["grain"]
    assert steps("a.mp4", config) == []
    assert steps("a.mov.bak", config) == []
    assert steps("mov", config) == []


# -- tags -----------------------------------------------------------------------------------------


def test_tags_must_all_be_on_the_artifact_which_may_have_more() -> None:
    config = rules({"tags": ["final", "client"], "steps": ["publish"]})

    assert steps("a.mp4", config, tags=frozenset({"final", "client", "hero"})) == ["publish"]
    assert steps("a.mp4", config, tags=frozenset({"final"})) == []
    assert steps("a.mp4", config) == []


def test_a_rule_without_tags_matches_tagged_and_untagged_artifacts() -> None:
    config = rules({"ext": [".mp4"], "steps": ["upscale"]})

    assert steps("a.mp4", config) == ["upscale"]
    assert steps("a.mp4", config, tags=frozenset({"x"})) == ["upscale"]


def test_every_condition_of_a_rule_must_hold() -> None:
    config = rules({"glob": "*_review*", "ext": [".mov"], "tags": ["ok"], "steps": ["upscale"]})
    ok = frozenset({"ok"})

    assert steps("/r/sh_review.mov", config, tags=ok) == ["upscale"]
    assert steps("/r/sh_review.mp4", config, tags=ok) == []
    assert steps("/r/sh_final.mov", config, tags=ok) == []
    assert steps("/r/sh_review.mov", config) == []


def test_rules_apply_to_artifacts_of_any_kind() -> None:
    config = rules({"ext": [".exr"], "steps": ["denoise"]})

    assert steps("/r/beauty.0001.exr", config, kind="image") == ["denoise"]


# -- picture size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "chosen"),
    [
        ({"min_width": 64}, True),
        ({"min_width": 65}, False),
        ({"min_height": 36}, True),
        ({"min_height": 37}, False),
        ({"max_width": 64}, True),
        ({"max_width": 63}, False),
        ({"max_height": 36}, True),
        ({"max_height": 35}, False),
        ({"min_width": 32, "max_width": 128, "min_height": 16, "max_height": 64}, True),
        ({"min_width": 32, "max_width": 128, "min_height": 40}, False),
    ],
)
def test_size_conditions_are_checked_against_the_probed_picture(
    small: Path, condition: dict[str, int], chosen: bool
) -> None:
    config = rules({**condition, "steps": ["upscale"]})

    assert steps(small, config) == (["upscale"] if chosen else [])


def test_size_rules_pick_between_steps_by_the_real_size(small: Path) -> None:
    config = rules(
        {"max_width": 1919, "steps": ["upscale"]},
        {"min_width": 1920, "steps": ["publish"]},
    )

    assert steps(small, config) == ["upscale"]


def test_a_file_that_cannot_be_probed_never_meets_a_size_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00 not really a video" * 20)
    config = rules(
        {"max_width": 100000, "steps": ["upscale"]},
        {"ext": [".mp4"], "steps": ["grain"]},  # no size asked: still matches
    )

    assert steps(broken, config) == ["grain"]
    assert steps(tmp_path / "missing.mp4", config) == ["grain"]


# -- several rules ---------------------------------------------------------------------


def test_every_matching_rule_adds_its_steps_in_order_each_step_once() -> None:
    config = rules(
        {"glob": "*", "steps": ["grain", "upscale"]},
        {"ext": [".mkv"], "steps": ["publish"]},  # does not match
        {"ext": [".mp4"], "steps": ["upscale", "denoise", "grain"]},
        {"tags": ["final"], "steps": ["publish", "denoise"]},
    )

    assert steps("a.mp4", config) == ["grain", "upscale", "denoise"]
    assert steps("a.mp4", config, tags=frozenset({"final"})) == [
        "grain",
        "upscale",
        "denoise",
        "publish",
    ]


def test_steps_keep_the_order_a_rule_lists_them_in() -> None:
    config = rules({"glob": "*", "steps": ["publish", "denoise", "upscale"]})

    assert steps("a.mp4", config) == ["publish", "denoise", "upscale"]


def test_no_matching_rule_means_no_step_even_for_a_video() -> None:
    assert steps("a.mp4", rules({"ext": [".mov"], "steps": ["upscale"]})) == []


def test_rules_from_a_toml_file(tmp_path: Path) -> None:
    file = tmp_path / "uprez.toml"
    file.write_text(
        '[[rules]]\nglob = "*_review*"\nsteps = ["upscale"]\n\n'
        '[[rules]]\next = [".MOV"]\ntags = ["final"]\nsteps = ["grain", "upscale"]\n'
    )
    config = load_config(file, env={})

    assert steps("/r/sh_review.mp4", config) == ["upscale"]
    assert steps("/r/sh.mov", config, tags=frozenset({"final"})) == ["grain", "upscale"]
    assert steps("/r/sh.mov", config) == []


# -- unknown steps --------------------------------------------------------------------------------


def test_an_unknown_step_is_a_config_error_at_its_json_path() -> None:
    config = rules(
        {"glob": "*", "steps": ["upscale"]},
        {"glob": "*", "steps": ["grain", "upscale", "sharpen"]},
    )

    with pytest.raises(ConfigError, match=r"\$\.rules\[1\]\.steps\[2\]") as caught:
        steps("a.mp4", config)

    assert "sharpen" in str(caught.value)
    assert "denoise, grain, publish, upscale" in str(caught.value)  # what is available


def test_an_unknown_step_is_an_error_even_in_a_rule_that_does_not_match() -> None:
    config = rules({"ext": [".mov"], "steps": ["sharpen"]})

    with pytest.raises(ConfigError, match=r"\$\.rules\[0\]\.steps\[0\]"):
        steps("a.mp4", config)


def test_an_unknown_step_is_an_error_even_after_a_rule_matched() -> None:
    config = rules(
        {"glob": "*", "steps": ["upscale"]},
        {"ext": [".mov"], "steps": ["sharpen"]},
    )

    with pytest.raises(ConfigError, match=r"\$\.rules\[1\]\.steps\[0\]"):
        steps("a.mp4", config)


def test_a_step_is_unknown_when_no_plugin_offers_it_even_upscale() -> None:
    config = rules({"glob": "*", "steps": ["upscale"]})

    with pytest.raises(ConfigError, match=r"\$\.rules\[0\]\.steps\[0\]"):
        select_steps(Artifact(Path("a.mp4")), config, {"grain"})
