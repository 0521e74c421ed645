"""Upload policies (``privacy.policies``): may an input leave this machine, and through which
provider? Judged on its project and path alone, before anything of it is read or sent.

The first policy whose ``project`` and ``path`` both match an input decides; none matching
allows it. ``allow`` lets any provider run it; ``local-only`` only the ``local`` provider (the
stand-in server, in-process on loopback), so a show under NDA never touches the network;
``deny`` refuses it everywhere. A refusal is an :class:`~uprez.errors.InputError` (exit 3)
whose one line names the policy.

``path`` is a glob in the manner of ``pathlib``'s ``full_match`` (Python 3.13): ``*``, ``?``
and ``[...]`` stay within one folder, a ``**`` segment spans any number of folders (none
included), a pattern ending in ``/`` means everything under that folder, and a pattern with no
``/`` at all matches the file's name wherever it is (as a rule's ``glob`` does). A URL source
is matched by its address without the query string (``https://host/path``).
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from uprez.errors import ConfigError, InputError
from uprez.media.image_sequence import ImageSequence
from uprez.media.remote import RemoteVideo, Source
from uprez.step.payer import project_of

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.config.sections import UploadPolicy
    from uprez.records import Artifact

ALLOW, LOCAL_ONLY, DENY = "allow", "local-only", "deny"
#: The provider that keeps everything on this machine (``hooks/local_provider.py``).
LOCAL_PROVIDER = "local"
# When two readings of one input's path disagree, the stricter decision holds.
_STRICTNESS = {ALLOW: 0, LOCAL_ONLY: 1, DENY: 2}
#: Paths are compared as they are compared by the file system: without case on Windows.
CASE_SENSITIVE = os.name != "nt"


@dataclass(frozen=True)
class Decision:
    """What the policies say of one input: ``upload`` is allow, local-only or deny;
    ``index`` and ``policy`` are the policy that decided (None when none matched)."""

    upload: str
    index: int | None = None
    policy: UploadPolicy | None = None

    @property
    def rule(self) -> str:
        """The deciding policy as a user finds it in the config:
        ``privacy.policies[1] (project "nda-show", upload = "local-only")``."""
        if self.index is None or self.policy is None:
            return "no upload policy"
        said = [
            f"{key} {json.dumps(value)}"
            for key, value in (("project", self.policy.project), ("path", self.policy.path))
            if value != "*"
        ]
        said.append(f"upload = {json.dumps(self.upload)}")
        return f"privacy.policies[{self.index}] ({', '.join(said)})"


def glob_matches(pattern: str, path: str, *, case_sensitive: bool = CASE_SENSITIVE) -> bool:
    """True when ``path`` (``/`` between folders) matches the policy glob ``pattern``.

    >>> glob_matches("/mnt/clients/**", "/mnt/clients/acme/sh010/plate.mov")
    True
    >>> glob_matches("/mnt/clients/*", "/mnt/clients/acme/sh010/plate.mov")
    False
    >>> glob_matches("*.mov", "/anywhere/plate.mov")
    True
    """
    if not case_sensitive:
        pattern, path = pattern.replace("\\", "/"), path.replace("\\", "/")
    if "/" not in pattern:
        path = path.rpartition("/")[2]
    return _compiled(pattern, case_sensitive).fullmatch(path) is not None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    if pattern.endswith("/"):
        pattern += "**"  # a folder: everything under it
    segments = pattern.split("/")
    regex = []
    for number, segment in enumerate(segments):
        last = number == len(segments) - 1
        if segment == "**":
            # Any number of whole folders (none included); at the end, anything below.
            regex.append(".*" if last else "(?:[^/]*/)*")
        else:
            regex.append(_segment(segment) + ("" if last else "/"))
    return re.compile("".join(regex), 0 if case_sensitive else re.IGNORECASE)


def _segment(segment: str) -> str:
    """One folder or file name of a glob as a regex that never crosses a ``/``."""
    out, i = [], 0
    while i < len(segment):
        char = segment[i]
        i += 1
        if char == "*":
            out.append("[^/]*")  # ** within a name is a plain * (as in pathlib)
            while i < len(segment) and segment[i] == "*":
                i += 1
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = i + 1 if segment[i : i + 1] == "!" else i
            end = segment.find("]", end + 1 if segment[end : end + 1] == "]" else end)
            if end < 0:
                out.append(re.escape(char))  # no closing bracket: a literal [
                continue
            body, i = segment[i:end], end + 1
            negated = body.startswith("!")
            # Ranges (a-z) stay; what else the regex engine reads in a set is escaped.
            body = re.sub(r"([\\\[\]^&~|])", r"\\\1", body[1:] if negated else body)
            out.append(f"[^/{body}]" if negated else f"(?!/)[{body}]")
        else:
            out.append(re.escape(char))
    return "".join(out)


def subjects(source: Source) -> tuple[str, ...]:
    """What a policy's ``path`` is matched against: a file's absolute path as given and, when
    links make it differ, where it really lives (both are judged: a link neither takes a show's
    file out of its policy nor hides it behind a mount's other name); a URL's address without
    its query string or credentials. Nothing of the file is opened (its links are read)."""
    if isinstance(source, RemoteVideo):
        parts = urlsplit(source.url)
        host = parts.netloc.rpartition("@")[2].lower()
        return (f"{parts.scheme.lower()}://{host}{parts.path}",)
    given = os.path.abspath(source.pattern if isinstance(source, ImageSequence) else source)
    real = os.path.realpath(given)
    both = (given,) if real == given else (given, real)
    return tuple(path.replace(os.sep, "/") for path in both)


def decide(policies: Sequence[UploadPolicy], project: str, paths: Sequence[str]) -> Decision:
    """The decision for an input of ``project`` found at ``paths`` (see :func:`subjects`): for
    each path, the first policy whose project and path both match (none: allow); the strictest
    of those when the paths disagree."""
    found = [_first(policies, project, path) for path in paths] or [Decision(ALLOW)]
    return max(found, key=lambda decision: _STRICTNESS[decision.upload])


def _first(policies: Sequence[UploadPolicy], project: str, path: str) -> Decision:
    for index, policy in enumerate(policies):
        if fnmatch.fnmatchcase(project, policy.project) and glob_matches(
            os.path.expanduser(policy.path), path
        ):
            return Decision(policy.upload, index, policy)
    return Decision(ALLOW)


def refusal(decision: Decision, source: Source, provider: str) -> InputError | None:
    """The error refusing ``source`` (one line naming the policy) when ``decision`` forbids
    running it through ``provider``; None when it may run."""
    if decision.upload == ALLOW:
        return None
    if decision.upload == DENY:
        text = f"{source} may not be upscaled by any provider; nothing of it was read or sent"
    elif isinstance(source, RemoteVideo):
        # The local provider reads files; a URL is fetched over the network by whoever runs it.
        text = (
            f"{source} may only be upscaled on this machine, and a URL source is read over "
            "the network: copy it here and run the file with the local provider (--provider "
            "local); nothing was fetched or sent"
        )
    elif provider == LOCAL_PROVIDER:
        return None
    else:
        text = (
            f"{source} may only be upscaled on this machine, and the {provider} provider "
            "would upload it: run it with the local provider (--provider local); nothing of "
            "it was read or sent"
        )
    return InputError(f"{decision.rule}: {text}", path=str(source))


def decision_for(artifact: Artifact, config: Config) -> Decision:
    """What ``privacy.policies`` say of ``artifact``, by its project
    (:func:`~uprez.step.payer.project_of`) and path; its ``policy`` (None: none matched) also
    says whether the task is deleted after download there."""
    return decide(config.privacy.policies, project_of(artifact), subjects(artifact.path))


def check_uploads(
    artifacts: Sequence[Artifact], config: Config, provider: str | None = None
) -> None:
    """Refuse the batch (:class:`~uprez.errors.InputError`, exit 3, naming the policy) if
    ``privacy.policies`` forbid running one of ``artifacts`` through ``provider`` (the name of
    the provider that will run it; default: the configured one). Only paths and projects are
    looked at: nothing of an input is read."""
    if not config.privacy.policies:
        return
    _check_patterns(config.privacy.policies)
    refused = [
        error
        for artifact in artifacts
        if (
            error := refusal(
                decision_for(artifact, config), artifact.path, provider or config.provider.name
            )
        )
        is not None
    ]
    if refused:
        first = refused[0]
        if len(refused) > 1:
            first.add_note(f"{len(refused) - 1} more of the inputs are refused as well")
        raise first


# Where a path glob may start and still match an absolute path or a URL: the root, the home
# folder, a wildcard, a drive (C:/) or a scheme (https://).
_ANCHORED = re.compile(r"[/~*?\[]|[A-Za-z]:/|[A-Za-z][A-Za-z0-9+.-]*://")


def _check_patterns(policies: Sequence[UploadPolicy]) -> None:
    """Refuse (:class:`~uprez.errors.ConfigError`) a path glob that cannot work: a relative one
    with folders in it would never match an absolute path, and a policy that silently protects
    nothing is worse than none."""
    for index, policy in enumerate(policies):
        pattern = policy.path if CASE_SENSITIVE else policy.path.replace("\\", "/")
        where = f"$.privacy.policies[{index}].path"
        if "/" in pattern and not _ANCHORED.match(pattern):
            raise ConfigError(
                f"{where}: {pattern!r} is relative and would match nothing (inputs are matched "
                f"by their absolute path); write it from the root ('/{pattern}') or begin it "
                "with '**/'"
            )
        try:
            _compiled(os.path.expanduser(pattern), CASE_SENSITIVE)
        except re.error as exc:
            raise ConfigError(f"{where}: {pattern!r} is not a glob ({exc})") from None
