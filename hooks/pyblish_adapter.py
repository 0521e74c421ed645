"""uprez in a pyblish publish: ``ExtractUpscale`` adds a 4K representation after review extraction.

For pipeline TDs (OpenPype/AYON-style studios, or any pyblish-base publish). Install with
``pip install 'uprez[pyblish]'`` and register the plugin from the host's startup::

    from uprez.hooks import pyblish_adapter

    pyblish_adapter.register()          # families from the uprez config (pyblish.families)
    ...
    pyblish_adapter.deregister()

``register(config)`` pins a :class:`~uprez.config.Config` for every publish; without one the
plugin loads the config at each publish (``$UPREZ_CONFIG``, ``UPREZ_*`` variables, defaults), so
a launcher can set the project's config in the environment. Hosts that take plug-in *paths*
(AYON addons, ``PYBLISHPLUGINPATH``) can put a small file in such a path instead::

    # extract_upscale.py
    from uprez.hooks import pyblish_adapter

    class ExtractUpscale(pyblish_adapter.ExtractUpscale):
        pass                            # uprez's plugin, found on this path

    pyblish_adapter.configure()         # families from the config; registers nothing

(Subclass rather than import the class by name: pyblish rewrites the ``__module__`` of every
class it finds in a plug-in file, and would rewrite uprez's own.)

What the plugin does
--------------------
* **When**: ``order = pyblish.api.ExtractorOrder + 0.45`` — still an extractor (pyblish counts
  2.45 as extraction), after review extraction (e.g. an ``ExtractReview`` at ``ExtractorOrder``
  up to ``+ 0.4``), before every integrator. ``hosts = ["*"]``; ``families`` come from the config
  key ``pyblish.families`` (default ``["review"]``), matched against the instance's ``family`` and
  ``families`` as pyblish does (any one in common).
* **Which movie**: ``instance.data["representations"]`` (the OpenPype/AYON convention): each
  representation whose ``ext`` (``"mp4"`` or ``".mp4"``) is a video the service accepts
  (mp4, mov, mkv, avi, webm, wmv, flv, 3gp, ogv) and whose ``files`` is one file name, found in its
  ``stagingDir``. Image sequences (``files`` is a list) are skipped. Only when no representation
  qualifies does it read ``instance.data["files"]`` (the older convention: a list of paths; a
  relative one is taken from ``instance.data["stagingDir"]``), keeping the video files.
* **What it adds**: for each movie the config's ``rules`` choose (every movie when there are
  none), its result in the movie's staging dir, named by the ``uprez_output_path`` hook (by
  default ``output.template`` with ``{dir}`` = the staging dir: ``<stem>_4k.mp4``), plus its
  sidecar when ``output.sidecar`` is on, and a representation::

      {"name": "4k", "ext": "mp4", "files": "shot010_review_4k.mp4",
       "stagingDir": "/tmp/x", "tags": ["uprez-4k"], "outputName": "4k",
       "uprez": {"task_id": "...", "cost": "0.25", "sidecar": "/tmp/x/...uprez.json",
                 "source": "/tmp/x/shot010_review.mp4"}}

  The name is ``pyblish.representation`` (default ``"4k"``); with several movies, or when the
  name is taken, ``4k_2``, ``4k_3``... ``outputName`` equals the name so that an integrator's
  ``{output}`` template key keeps the 4K file apart from the review movie of the same
  extension; ``fps``, ``frameStart`` and ``frameEnd`` are copied from the source representation
  (the result keeps its timing). The tag is ``pyblish.tag`` (default ``"uprez-4k"``); it carries
  no ``review`` tag, so review uploaders ignore it unless a later plugin adds one.
* **Re-publish**: a representation already tagged ``pyblish.tag`` is never a source, and a movie
  it was made from (``uprez.source``, or whose result is that representation's file) is not
  upscaled again: nothing is paid twice.
* **Leftovers**: a result an aborted publish left in a staging dir is handed back at no cost
  when it was made from this very movie, and replaced when it was made from an older version
  of it (its sidecar says so); any other file there is replaced only with ``output.overwrite``,
  as on the command line.

Errors
------
Every movie is checked and priced first (readable video, within ``limits.max_cost_per_job`` and
``limits.max_cost_per_run`` for the instance) before anything is uploaded. Any
:class:`~uprez.errors.UprezError` is raised unchanged, so pyblish records the plugin's result as
failed with uprez's message (it names the file, and the task id when there is one; it never holds
the API key). Representations are added only when every movie of the instance succeeded; results
already made stay in the staging dir. Note that pyblish's default test stops a publish only after
a *validation* error: an extraction error does not keep integrators from running, so a pipeline
that must not integrate after a failed extraction needs its own test or checks the results.

Progress and what uprez logs (``uprez.*`` loggers) appear in the plugin's log records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

try:
    import pyblish.api
except ImportError as _missing:  # pragma: no cover - exercised by a test that hides pyblish
    raise ImportError(
        "uprez.hooks.pyblish_adapter needs pyblish-base: pip install 'uprez[pyblish]'"
    ) from _missing

from uprez.config import Config, load_config
from uprez.plugins import PluginManager, get_plugin_manager
from uprez.records import Artifact

from .pyblish_movies import Movie, find_movies, free_name, made_by_us, ours, same_file

__all__ = ["ExtractUpscale", "configure", "deregister", "register"]

#: The families used until ``register``/``configure`` reads ``pyblish.families``.
DEFAULT_FAMILIES = ["review"]
#: Keys copied from a source representation to its 4K one (the result keeps its timing).
COPIED_KEYS = ("fps", "frameStart", "frameEnd")


def _load(pm: PluginManager) -> Config:
    return load_config(fragments=pm.config_fragments())


class ExtractUpscale(pyblish.api.InstancePlugin):  # type: ignore[misc]
    """Upscale the instance's review movie to 4K with uprez and add it as a representation."""

    order = pyblish.api.ExtractorOrder + 0.45
    label = "Upscale to 4K (uprez)"
    hosts: ClassVar[list[str]] = ["*"]
    families: ClassVar[list[str]] = list(DEFAULT_FAMILIES)
    #: The config pinned by ``register(config)``; None loads one at each publish.
    config: ClassVar[Config | None] = None

    def process(self, instance: Any) -> None:
        from uprez.step.prepare import prepare  # the step's modules load when a publish runs
        from uprez.step.run import run  # PyAV loads with the step's modules

        pm = get_plugin_manager()
        config = type(self).config or _load(pm)
        tag = config.pyblish.tag
        movies, skipped = find_movies(instance.data, tag)
        for path in skipped:
            self.log.info("%s: already upscaled (a %r representation exists); skipped", path, tag)
        if not movies:
            if not skipped:
                self.log.warning("%s: no single-file movie to upscale", instance)
            return
        # Every movie checked, priced and placed (by uprez_output_path, in its staging dir)
        # before anything is uploaded; the config's rules choose which get the step.
        batch = prepare(
            [
                Artifact(
                    m.path,
                    tags=frozenset(_tags(m.representation)),
                    project=_project(instance),
                    user=_user(instance),
                )
                for m in movies
            ],
            config=config,
            pm=pm,
            folders=[m.staging_dir for m in movies],
            rules=True,
        )
        outputs, _ = made_by_us(ours(instance.data.get("representations") or [], tag))
        jobs = [j for j in batch.jobs if not any(same_file(j.target, out) for out in outputs)]
        batch = dataclasses.replace(batch, jobs=tuple(jobs))
        self.log.info("upscaling %d movie(s), estimated $%s", len(jobs), batch.total)
        for job in jobs:
            self.log.info("upscaling %s -> %s", job.artifact.path, job.target)
        by_path = {str(m.path): m for m in movies}
        taken = {str(r.get("name")) for r in instance.data.get("representations") or []}
        added: list[dict[str, Any]] = []
        for outcome in run(batch):
            if outcome.error is not None:
                if added:
                    done = ", ".join(str(Path(r["stagingDir"]) / r["files"]) for r in added)
                    self.log.warning("nothing was added; results already made stay: %s", done)
                raise outcome.error
            movie = by_path[str(outcome.artifact.path)]
            for made in outcome.produced:
                added.append(self._representation(movie, made, config, taken))
        instance.data.setdefault("representations", []).extend(added)

    def _representation(
        self, movie: Movie, made: Artifact, config: Config, taken: set[str]
    ) -> dict[str, Any]:
        name = free_name(config.pyblish.representation, taken)
        result = made.result
        sidecar = None if result is None else result.sidecar
        output = made.path
        assert isinstance(output, Path), "a result is a file"
        representation: dict[str, Any] = {
            "name": name,
            "ext": output.suffix.lstrip(".") or "mp4",
            "files": output.name,
            "stagingDir": str(output.parent),
            "tags": [config.pyblish.tag],
            "outputName": name,
            "uprez": {
                "task_id": None if result is None else result.task_id,
                "cost": None if result is None else str(result.cost),
                "sidecar": None if sidecar is None else str(sidecar),
                "source": str(movie.path),
            },
        }
        for key in COPIED_KEYS:
            if movie.representation and key in movie.representation:
                representation[key] = movie.representation[key]
        self.log.info(
            "added representation %r: %s (task %s, $%s)",
            name,
            output,
            representation["uprez"]["task_id"],
            representation["uprez"]["cost"],
        )
        return representation


def _tags(representation: Mapping[str, Any] | None) -> list[str]:
    tags = (representation or {}).get("tags") or []
    return [str(t) for t in tags]


def configure(config: Config | None = None) -> type[ExtractUpscale]:
    """Set ``ExtractUpscale.families`` from ``pyblish.families`` and pin ``config`` (None: the
    plugin loads the config at each publish). Returns the class; registers nothing."""
    chosen = config if config is not None else _load(get_plugin_manager())
    ExtractUpscale.families = list(chosen.pyblish.families)
    ExtractUpscale.config = config
    return ExtractUpscale


def register(config: Config | None = None) -> type[ExtractUpscale]:
    """Configure ``ExtractUpscale`` (see :func:`configure`) and register it with pyblish."""
    plugin = configure(config)
    pyblish.api.register_plugin(plugin)
    return plugin


def deregister() -> None:
    """Deregister ``ExtractUpscale`` (if registered) and forget the pinned config and families."""
    # registered_plugins() hands out fresh subclasses of what was registered, not the classes.
    name = ExtractUpscale.__name__
    found = pyblish.api.registered_plugins()
    if any(p.__name__ == name and issubclass(p, ExtractUpscale) for p in found):
        pyblish.api.deregister_plugin(ExtractUpscale)
    ExtractUpscale.config = None
    ExtractUpscale.families = list(DEFAULT_FAMILIES)


def _project(instance: Any) -> str | None:
    """The publish's project: the instance's ``project``, else the context's ``projectName``
    (AYON and OpenPype set it) or ``project``; None leaves it to $UPREZ_PROJECT."""
    context = getattr(instance, "context", None)
    shared = context.data if context is not None else {}
    found = instance.data.get("project") or shared.get("projectName") or shared.get("project")
    return str(found) if found else None


def _user(instance: Any) -> str | None:
    """The publishing user: the context's ``user`` (pyblish and AYON set it), if any."""
    context = getattr(instance, "context", None)
    found = context.data.get("user") if context is not None else None
    return str(found) if found else None
