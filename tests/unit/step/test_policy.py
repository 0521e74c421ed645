"""Upload policies: which policy decides an input (project and path, first match), how path
globs match (``**`` crosses folders, ``*`` does not), and what a refusal says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from uprez.config import Config, load_config
from uprez.config.sections import UploadPolicy
from uprez.errors import ConfigError, InputError
from uprez.media.remote import RemoteVideo
from uprez.records import Artifact
from uprez.step.policy import (
    ALLOW,
    DENY,
    LOCAL_ONLY,
    check_uploads,
    decide,
    glob_matches,
    refusal,
    subjects,
)


def policies(*items: dict[str, Any]) -> tuple[UploadPolicy, ...]:
    return config_with(*items).privacy.policies


def config_with(*items: dict[str, Any], provider: str = "wavespeed") -> Config:
    return load_config(
        env={}, overrides={"privacy.policies": list(items), "provider.name": provider}
    )


# -- path globs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        # ** spans any number of folders, none included.
        ("/mnt/clients/**", "/mnt/clients/shot.mp4", True),
        ("/mnt/clients/**", "/mnt/clients/acme/sh010/comp/shot.mp4", True),
        ("/mnt/clients/**", "/mnt/clientsX/shot.mp4", False),
        ("/mnt/clients/**", "/mnt/other/clients/shot.mp4", False),
        ("/shows/**/review/*.mov", "/shows/review/a.mov", True),
        ("/shows/**/review/*.mov", "/shows/nda/ep01/review/a.mov", True),
        ("/shows/**/review/*.mov", "/shows/nda/ep01/review/deeper/a.mov", False),
        ("**/nda/**", "/mnt/a/nda/b/shot.mp4", True),
        ("**/nda/**", "/nda/shot.mp4", True),
        ("**/nda/**", "/mnt/a/not-nda/shot.mp4", False),
        # * and ? stay within one folder or file name.
        ("/mnt/clients/*", "/mnt/clients/shot.mp4", True),
        ("/mnt/clients/*", "/mnt/clients/acme/shot.mp4", False),
        ("/mnt/*/shot.mp4", "/mnt/a/b/shot.mp4", False),
        ("/mnt/sh0??.mp4", "/mnt/sh010.mp4", True),
        ("/mnt/sh0??.mp4", "/mnt/sh01/.mp4", False),
        # ** inside a name is a plain *.
        ("/mnt/sh**.mp4", "/mnt/sh010.mp4", True),
        ("/mnt/sh**.mp4", "/mnt/sh0/10.mp4", False),
        # A folder written with its slash: everything under it.
        ("/mnt/clients/", "/mnt/clients/acme/shot.mp4", True),
        # Without a slash, the file name wherever it is; "*" is any input at all.
        ("*", "/anything/at/all.mp4", True),
        ("*.mov", "/mnt/a/plate.mov", True),
        ("*.mov", "/mnt/a.mov/plate.mp4", False),
        # Sets, and characters a regex would read are plain.
        ("/mnt/sh0[12]0.mp4", "/mnt/sh020.mp4", True),
        ("/mnt/sh0[!12]0.mp4", "/mnt/sh020.mp4", False),
        ("/mnt/sh0[!12]0.mp4", "/mnt/sh030.mp4", True),
        ("/a/[+-0]", "/a//", False),
        ("/a+b/(x)$.mp4", "/a+b/(x)$.mp4", True),
        ("/a.b/*", "/aXb/shot.mp4", False),
        ("/a/[unclosed", "/a/[unclosed", True),
    ],
)
def test_path_globs_cross_folders_only_with_a_double_star(
    pattern: str, path: str, expected: bool
) -> None:
    assert glob_matches(pattern, path) is expected


def test_paths_compare_without_case_where_the_file_system_does() -> None:
    assert not glob_matches("/Shows/NDA/**", "/shows/nda/a.mp4", case_sensitive=True)
    assert glob_matches("/Shows/NDA/**", "/shows/nda/a.mp4", case_sensitive=False)
    assert glob_matches("C:\\Shows\\**", "c:/shows/ep01/a.mp4", case_sensitive=False)


# -- which policy decides --------------------------------------------------------------------


def test_the_first_policy_whose_project_and_path_both_match_decides() -> None:
    rules = policies(
        {"project": "nda-show", "path": "/mnt/other/**", "upload": "deny"},  # path differs
        {"project": "other-show", "path": "/mnt/shows/**", "upload": "deny"},  # project differs
        {"project": "nda-show", "path": "/mnt/shows/**", "upload": "local-only"},
        {"path": "/mnt/shows/**", "upload": "deny"},  # matches too, but later
    )

    decision = decide(rules, "nda-show", ["/mnt/shows/ep01/shot.mp4"])

    assert (decision.upload, decision.index) == (LOCAL_ONLY, 2)
    assert decision.rule == (
        'privacy.policies[2] (project "nda-show", path "/mnt/shows/**", upload = "local-only")'
    )


def test_an_input_no_policy_matches_is_allowed() -> None:
    rules = policies({"project": "nda-show", "upload": "deny"}, {"path": "/x/**", "upload": "deny"})

    decision = decide(rules, "another-show", ["/mnt/shows/shot.mp4"])

    assert (decision.upload, decision.index, decision.policy) == (ALLOW, None, None)


def test_a_star_project_matches_any_project_and_none() -> None:
    rules = policies({"upload": "deny"})  # project and path default to "*"

    assert decide(rules, "", ["/a.mp4"]).upload == DENY
    assert decide(rules, "any-show", ["/a.mp4"]).upload == DENY
    assert decide(rules, "", ["/a.mp4"]).rule == 'privacy.policies[0] (upload = "deny")'


def test_a_project_may_be_a_glob_too() -> None:
    rules = policies({"project": "nda-*", "upload": "deny"})

    assert decide(rules, "nda-pilot", ["/a.mp4"]).upload == DENY
    assert decide(rules, "pilot", ["/a.mp4"]).upload == ALLOW


def test_an_allow_policy_placed_first_exempts_what_it_matches() -> None:
    rules = policies(
        {"path": "/mnt/clients/acme/cleared/**", "upload": "allow"},
        {"path": "/mnt/clients/**", "upload": "deny"},
    )

    assert decide(rules, "", ["/mnt/clients/acme/cleared/a.mp4"]).index == 0
    assert decide(rules, "", ["/mnt/clients/acme/a.mp4"]).upload == DENY


def test_a_link_is_judged_by_both_its_path_and_where_it_really_lives(tmp_path: Path) -> None:
    (tmp_path / "nda").mkdir()
    (tmp_path / "scratch").mkdir()
    real = tmp_path / "nda" / "shot.mp4"
    real.write_bytes(b"")
    link = tmp_path / "scratch" / "shot.mp4"
    link.symlink_to(real)
    rules = policies(
        {"path": f"{tmp_path}/scratch/**", "upload": "allow"},
        {"path": f"{tmp_path}/nda/**", "upload": "deny"},
    )

    assert subjects(link) == (str(link), str(real))
    # Linked into a folder that is allowed, the show's file is still refused...
    assert decide(rules, "", subjects(link)).upload == DENY
    # ...and a folder reached through a link (a mount's other name) is judged by the link too.
    rules = policies({"path": f"{tmp_path}/scratch/**", "upload": "deny"})
    assert decide(rules, "", subjects(link)).upload == DENY


def test_a_relative_path_is_judged_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rules = policies({"path": f"{tmp_path}/**", "upload": "deny"})

    assert subjects(Path("shot.mp4")) == (f"{tmp_path}/shot.mp4",)
    assert decide(rules, "", subjects(Path("shot.mp4"))).upload == DENY


def test_a_url_is_matched_without_its_query_or_credentials() -> None:
    source = RemoteVideo("https://user:pw@Bucket.Example/nda/ep01/shot.mp4?X-Amz-Signature=abc")
    rules = policies({"path": "https://bucket.example/nda/**", "upload": "deny"})

    assert subjects(source) == ("https://bucket.example/nda/ep01/shot.mp4",)
    assert decide(rules, "", subjects(source)).upload == DENY
    assert decide(policies({"path": "*.mp4", "upload": "deny"}), "", subjects(source)).index == 0
    assert (
        decide(policies({"path": "/nda/**", "upload": "deny"}), "", subjects(source)).index is None
    )


# -- refusals --------------------------------------------------------------------------------


def test_deny_refuses_every_provider_naming_the_policy() -> None:
    [rule] = policies({"project": "nda-show", "upload": "deny"})
    decision = decide((rule,), "nda-show", ["/shows/shot.mp4"])

    for provider in ("wavespeed", "local"):
        error = refusal(decision, Path("shot.mp4"), provider)
        assert isinstance(error, InputError) and error.exit_code == 3
        assert str(error) == (
            'privacy.policies[0] (project "nda-show", upload = "deny"): shot.mp4 may not be '
            "upscaled by any provider; nothing of it was read or sent"
        )
        assert error.path == "shot.mp4"


def test_local_only_refuses_any_provider_but_the_local_one() -> None:
    decision = decide(policies({"upload": "local-only"}), "", ["/shows/shot.mp4"])

    assert refusal(decision, Path("shot.mp4"), "local") is None
    error = refusal(decision, Path("shot.mp4"), "wavespeed")
    assert error is not None
    assert str(error) == (
        'privacy.policies[0] (upload = "local-only"): shot.mp4 may only be upscaled on this '
        "machine, and the wavespeed provider would upload it: run it with the local provider "
        "(--provider local); nothing of it was read or sent"
    )


def test_a_local_only_url_can_never_run_and_its_query_is_never_shown() -> None:
    source = RemoteVideo("https://bucket.example/nda/shot.mp4?X-Amz-Signature=s3cr3t")
    decision = decide(policies({"upload": "local-only"}), "", subjects(source))

    for provider in ("local", "wavespeed"):
        error = refusal(decision, source, provider)
        assert error is not None
        assert "a URL source is read over the network" in str(error)
        assert "s3cr3t" not in str(error) and "s3cr3t" not in str(error.path)


def test_allow_refuses_nothing() -> None:
    decision = decide(policies({"upload": "allow"}), "", ["/a.mp4"])
    assert refusal(decision, Path("/a.mp4"), "wavespeed") is None


# -- a batch ---------------------------------------------------------------------------------


def test_a_batch_is_refused_for_its_first_refused_input_counting_the_others() -> None:
    config = config_with({"path": "/nda/**", "upload": "deny"})
    batch = [Artifact(Path(p)) for p in ("/ok/a.mp4", "/nda/b.mp4", "/nda/c.mp4", "/ok/d.mp4")]

    with pytest.raises(InputError) as refused:
        check_uploads(batch, config)

    assert str(refused.value) == (
        'privacy.policies[0] (path "/nda/**", upload = "deny"): /nda/b.mp4 may not be upscaled '
        "by any provider; nothing of it was read or sent; 1 more of the inputs are refused as well"
    )
    assert "\n" not in str(refused.value)
    check_uploads([batch[0], batch[3]], config)  # the others alone pass


def test_the_project_comes_from_the_artifact_else_uprez_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nda = {"project": "nda-show", "upload": "local-only"}
    config = config_with(nda)
    monkeypatch.delenv("UPREZ_PROJECT", raising=False)
    check_uploads([Artifact(Path("/a.mp4"))], config)

    with pytest.raises(InputError, match="nda-show"):
        check_uploads([Artifact(Path("/a.mp4"), project="nda-show")], config)
    monkeypatch.setenv("UPREZ_PROJECT", "nda-show")
    with pytest.raises(InputError, match="nda-show"):
        check_uploads([Artifact(Path("/a.mp4"))], config)
    check_uploads([Artifact(Path("/a.mp4"), project="another-show")], config)
    # The local provider may run it.
    check_uploads([Artifact(Path("/a.mp4"))], config_with(nda, provider="local"))


@pytest.mark.parametrize("path", ["shows/nda/**", "mnt\\x/y/*"])
def test_a_relative_path_glob_with_folders_is_a_config_error_not_a_silent_pass(path: str) -> None:
    config = config_with({"path": path, "upload": "deny"})

    with pytest.raises(ConfigError, match=r"\$\.privacy\.policies\[0\]\.path: .*relative"):
        check_uploads([Artifact(Path("/shows/nda/a.mp4"))], config)


def test_globs_that_may_start_anywhere_are_accepted() -> None:
    for path in ("**/nda/**", "~/private/**", "*/nda/*", "https://bucket.example/nda/**", "a.mp4"):
        check_uploads(
            [Artifact(Path("/elsewhere/b.mp4"))], config_with({"path": path, "upload": "deny"})
        )
