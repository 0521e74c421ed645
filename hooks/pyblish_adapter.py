"""uprez in a pyblish publish: ``ExtractUpscale`` adds a 4K representation of the review movie.

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
* **When**: with ``pyblish.before_burnin`` (the default), ``order = ExtractorOrder + 0.025``:
  after ayon-core's (and OpenPype's) ``ExtractReview`` (``+ 0.02``) has made the review movie,
  before ``ExtractBurnin`` (``+ 0.03``) replaces it by a burnt-in copy and deletes it. So the 4K
  file is the clean picture. With ``before_burnin = false``, ``+ 0.45``: after every review
  extractor and burn-in (a pipeline whose own review extractor runs later than ``+ 0.025``
  needs this), before ayon-core's thumbnail and colorspace extractors (``+ 0.49``) and every
  integrator. Both are extraction for pyblish. ``hosts = ["*"]``; ``families`` come from
  ``pyblish.families`` (default ``["review"]``), matched against the instance's ``family`` and
  ``families`` (any one in common). Families and order are read by ``register``/``configure``.
* **Which instances**: not one published on the farm (``instance.data["farm"]``: its movies
  do not exist here yet; the farm's own publish upscales them), nor one with
  ``integrate = False``, as ayon-core's integrator skips both.
* **Which movie**: each representation of ``instance.data["representations"]`` whose ``ext``
  is a video the service accepts (mp4, mov, mkv, avi, webm, wmv, flv, 3gp, ogv), whose
  ``files`` is one file name in its ``stagingDir``, and that carries none of
  ``pyblish.skip_tags`` (default ``delete``: an intermediate the integrator drops,
  ``need_thumbnail``: a thumbnail source such as Nuke's baked review, ``publish_on_farm``: a
  movie the farm bakes later). With ``pyblish.source_tags``, only a representation with one
  of them. When no representation qualifies and ``source_tags`` is empty, it reads
  ``instance.data["files"]`` (the older convention: paths, a relative one in
  ``instance.data["stagingDir"]``), keeping the video files. Each representation passed over is
  logged with the reason.
* **Which frames**: a representation whose ``files`` is a list of exr, dpx, tif, tiff or png
  frames is a rendered sequence (:mod:`uprez.hooks.pyblish_sequences`): the instance's
  ``frameStart``..``frameEnd`` with its ``handleStart``/``handleEnd`` (``pyblish.handles``, on
  by default) or without, at the representation's or the instance's ``fps``. Both choices are
  priced and logged before anything is spent; its colourspace (``colorspaceData``) is the
  source's for the OCIO view. Its result is a 4K sequence of the same format and numbers
  (``files`` a list, ``frameStart``/``frameEnd`` its first and last frame, the handles it holds,
  both prices under ``data["uprez"]["handles"]``). An instance with a sequence to upscale has its
  movies passed over: they are reviews of the same frames.
* **What it adds**: for each movie the config's ``rules`` choose (every movie when there are
  none), its result in the movie's staging dir, named by the ``uprez_output_path`` hook (by
  default ``<stem>_4k.mp4``), and a representation shaped for what ayon-core's integrator
  keeps (``repre["data"]`` and ``colorspaceData``; tags and other keys are not stored)::

      {"name": "4k", "ext": "mp4", "files": "shot010_h264_4k.mp4", "stagingDir": "/tmp/x",
       "tags": ["uprez-4k"], "outputName": "4k",
       "resolutionWidth": 3840, "resolutionHeight": 2160,    # the path template's
       "fps": 24, "frameStart": 1001, "frameEnd": 1100,       # copied from the source
       "colorspaceData": {...},                               # copied from the source
       "data": {"resolutionWidth": 3840, "resolutionHeight": 2160,  # representation attributes
                "uprez": {"task_id": "...", "task_ids": ["..."], "cost": "0.25",
                          "paid": "0.25", "billed_seconds": 5, "segments": 1,
                          "reused": false, "provider": "wavespeed", "model": "...",
                          "source": "/tmp/x/shot010_h264.mp4",
                          "sidecar": "/tmp/x/shot010_h264_4k.mp4.uprez.json",
                          "sidecar_representation": "4k_sidecar", "uprez_version": "..."}}}

  With ``output.sidecar`` on, the sidecar is published too, as ``4k_sidecar`` (``ext``
  ``"json"``, tag ``uprez-4k-sidecar``): AYON deletes a temporary staging dir after the publish,
  so the sidecar's path in ``data`` names a file that is gone by then. ``paid`` is what this
  publish spent (``"0.00"`` when the result was handed back or copied); ``cost`` what the
  result cost when it was made. The name is ``pyblish.representation``; with several movies, or
  when the name is taken, ``4k_2``, ``4k_3``... ``outputName`` equals the name, so that the
  template's ``{output}`` keeps the 4K file apart from the review movie of the same extension.
  The representation has no ``review`` or ``burnin`` tag: burn-in, review uploads and
  thumbnails leave it alone. Files made by another step the rules chose are logged, not added.
* **Re-publish**: jobs are known by the source's content, not by its representation: AYON
  builds fresh representations (and, often, a fresh staging dir) at every publish, and the same
  movie again is not paid again: its result is handed back when it is still in the staging dir,
  copied when it is elsewhere, and downloaded again from the tasks already paid (kept 7 days by
  the service) when it is gone. A representation already tagged ``pyblish.tag`` is never a
  source, and a movie it was made from is not upscaled again.
* **Leftovers**: a result an aborted publish left in a staging dir is handed back at no cost
  when it was made from this very movie, and replaced when it was made from an older version
  of it (its sidecar says so); any other file there is replaced only with ``output.overwrite``.

Errors
------
Every movie is checked and priced first (readable video, within ``limits.max_cost_per_job`` and
``limits.max_cost_per_run`` for the instance) before anything is uploaded. What a failure does
is ``pyblish.on_error`` (:mod:`uprez.hooks.pyblish_errors`):

* ``"fail"`` (the default: a deliverable is missing): the plugin raises, naming the file and the
  task id (never the API key), and adds nothing; results already made stay in the staging dir
  and a new publish collects them without paying again. In AYON the error is raised as
  ayon-core's ``PublishError`` (its publisher shows the artist the message of that kind only),
  with uprez's error as its ``__cause__``; elsewhere uprez's error is raised unchanged. AYON's
  publisher stops at any error that is not a validation error; plain pyblish's default test
  stops only after a *validation* error, so a pyblish-base pipeline that must not integrate
  after a failed extraction registers its own test (``pyblish.api.register_test``).
* ``"warn"``: each failure is a warning in the plugin's log, and the instance is published
  without the 4K representation of that movie (those that succeeded are added).

Progress and what uprez logs (``uprez.*`` loggers) appear in the plugin's log records.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

try:
    import pyblish.api
except ImportError as _missing:  # pragma: no cover - exercised by a test that hides pyblish
    raise ImportError(
        "uprez.hooks.pyblish_adapter needs pyblish-base: pip install 'uprez[pyblish]'"
    ) from _missing

from uprez.config import Config, load_config
from uprez.errors import UprezError
from uprez.media.image_sequence import ImageSequence
from uprez.plugins import PluginManager, get_plugin_manager
from uprez.records import Artifact

from .pyblish_errors import Failure, give_up
from .pyblish_movies import Found, find_movies, made_by_us, ours, same_file, tags_of
from .pyblish_representation import added_for, added_for_frames, describe
from .pyblish_sequences import Rendered, Take, colour_config, price_both

__all__ = ["ExtractUpscale", "configure", "deregister", "order_for", "register"]

#: The families used until ``register``/``configure`` reads ``pyblish.families``.
DEFAULT_FAMILIES = ["review"]
#: After ayon-core's ExtractReview (``ExtractorOrder + 0.02``: the review movie exists), before
#: its ExtractBurnin (``+ 0.03``: which replaces that movie by a burnt-in copy and deletes it).
ORDER_BEFORE_BURNIN: float = pyblish.api.ExtractorOrder + 0.025
#: After every review extractor and burn-in, before thumbnails and colorspace data (``+ 0.49``).
ORDER_AFTER_BURNIN: float = pyblish.api.ExtractorOrder + 0.45


def order_for(config: Config) -> float:
    """The plugin's order under ``pyblish.before_burnin``."""
    return ORDER_BEFORE_BURNIN if config.pyblish.before_burnin else ORDER_AFTER_BURNIN


def _load(pm: PluginManager) -> Config:
    return load_config(fragments=pm.config_fragments())


class ExtractUpscale(pyblish.api.InstancePlugin):  # type: ignore[misc]
    """Upscale the instance's review movie to 4K with uprez and add it as a representation."""

    order = ORDER_BEFORE_BURNIN
    label = "Upscale to 4K (uprez)"
    hosts: ClassVar[list[str]] = ["*"]
    families: ClassVar[list[str]] = list(DEFAULT_FAMILIES)
    #: The config pinned by ``register(config)``; None loads one at each publish.
    config: ClassVar[Config | None] = None

    def process(self, instance: Any) -> None:
        if instance.data.get("farm"):
            # Its files are made on the farm, and published there (where this plugin runs).
            self.log.info("%s is published on the farm: not upscaled here", instance)
            return
        if not instance.data.get("integrate", True):
            self.log.info("%s is not integrated (integrate is false): not upscaled", instance)
            return
        pm = get_plugin_manager()
        config = type(self).config or _load(pm)
        settings = config.pyblish
        context = getattr(instance, "context", None)
        found = find_movies(
            instance.data,
            settings.tag,
            settings.skip_tags,
            settings.source_tags,
            context.data if context is not None else {},
        )
        self._report(instance, found, settings.tag)
        if found.movies or found.sequences or found.unreadable:
            self._upscale(instance, found, config, pm)

    def _report(self, instance: Any, found: Found, tag: str) -> None:
        for name, reason in found.passed_over:
            self.log.info("representation %r is not a source: %s", name, reason)
        for path in found.done:
            self.log.info("%s: already upscaled (a %r representation exists); skipped", path, tag)
        if not (found.movies or found.sequences or found.unreadable or found.done) and not (
            found.passed_over
        ):
            self.log.warning("%s: no movie or image sequence to upscale", instance)

    def _upscale(self, instance: Any, found: Found, config: Config, pm: PluginManager) -> None:
        from uprez.step.output import STEP  # the step's modules load when a publish runs
        from uprez.step.prepare import prepare
        from uprez.step.run import run  # PyAV loads with the step's modules

        policy = config.pyblish.on_error
        movies = found.movies
        # A sequence that cannot be taken is refused before anything is spent.
        refused: list[Failure] = list(found.unreadable)
        takes: list[tuple[Rendered, Take]] = []
        for frames in found.sequences:
            try:
                takes.append((frames, frames.take(config.pyblish.handles)))
            except UprezError as exc:
                refused.append((frames.sequence.pattern, exc))
        give_up(refused, policy=policy, title=self.label, log=self.log)  # "warn": the rest go on
        sources: list[Path | ImageSequence] = [m.path for m in movies]
        sources += [take.sequence for _, take in takes]
        if not sources:
            return
        reps = [m.representation for m in movies] + [f.representation for f, _ in takes]
        config = colour_config(config, [f for f, _ in takes])
        try:
            # Every source checked, priced and placed (by uprez_output_path, in its staging
            # dir) before anything is uploaded; the config's rules choose which get the step.
            batch = prepare(
                [
                    Artifact(
                        path,
                        tags=frozenset(tags_of(rep)),
                        project=_project(instance),
                        user=_user(instance),
                    )
                    for path, rep in zip(sources, reps, strict=True)
                ],
                config=config,
                pm=pm,
                folders=[m.staging_dir for m in movies] + [f.staging_dir for f, _ in takes],
                rules=True,
            )
            outputs, _ = made_by_us(
                ours(instance.data.get("representations") or [], config.pyblish.tag)
            )
            jobs = [j for j in batch.jobs if not any(same_file(j.target, o) for o in outputs)]
            batch = dataclasses.replace(batch, jobs=tuple(jobs))
            # What the handles cost, said before anything is spent (pyblish.handles).
            prices = {
                str(take.sequence): price_both(frames, take, batch.jobs, config, self.log)
                for frames, take in takes
            }
            self.log.info("upscaling %d source(s), estimated $%s", len(jobs), batch.total)
            for job in jobs:
                self.log.info("upscaling %s -> %s", job.artifact.path, job.target)
            outcomes = run(batch)
        except UprezError as exc:  # refused before anything was spent, or the batch stopped
            give_up([(None, exc)], policy=policy, title=self.label, log=self.log)
            return
        by_path = {str(m.path): m for m in movies}
        by_take = {str(take.sequence): (frames, take) for frames, take in takes}
        taken = {str(r.get("name")) for r in instance.data.get("representations") or []}
        added: list[dict[str, Any]] = []
        failed: list[Failure] = []
        for outcome in outcomes:
            key = str(outcome.artifact.path)
            if outcome.error is not None:
                failed.append((_path(outcome.artifact), outcome.error))
            elif outcome.step != STEP:
                made = ", ".join(str(a.path) for a in outcome.produced)
                self.log.info("step %r made %s (not a representation)", outcome.step, made)
            elif key in by_take:
                frames, take = by_take[key]
                for made_one in outcome.produced:
                    added.extend(
                        added_for_frames(frames, take, made_one, config, taken, prices.get(key))
                    )
            else:
                for made_one in outcome.produced:
                    added.extend(added_for(by_path[key], made_one, config, taken))
        if failed and policy != "warn":
            if added:
                done = ", ".join(describe(r) for r in added)
                self.log.warning("nothing was added; results already made stay: %s", done)
            give_up(failed, policy=policy, title=self.label, log=self.log)
        instance.data.setdefault("representations", []).extend(added)
        for representation in added:
            self.log.info("%s", describe(representation))
        give_up(failed, policy=policy, title=self.label, log=self.log)


def configure(config: Config | None = None) -> type[ExtractUpscale]:
    """Set ``ExtractUpscale.families`` from ``pyblish.families`` and its order from
    ``pyblish.before_burnin``, and pin ``config`` (None: the plugin loads the config at each
    publish; families and order are read now). Returns the class; registers nothing."""
    chosen = config if config is not None else _load(get_plugin_manager())
    ExtractUpscale.families = list(chosen.pyblish.families)
    ExtractUpscale.order = order_for(chosen)
    ExtractUpscale.config = config
    return ExtractUpscale


def register(config: Config | None = None) -> type[ExtractUpscale]:
    """Configure ``ExtractUpscale`` (see :func:`configure`) and register it with pyblish."""
    plugin = configure(config)
    pyblish.api.register_plugin(plugin)
    return plugin


def deregister() -> None:
    """Deregister ``ExtractUpscale`` (if registered) and forget the pinned config, families
    and order."""
    # registered_plugins() hands out fresh subclasses of what was registered, not the classes.
    name = ExtractUpscale.__name__
    found = pyblish.api.registered_plugins()
    if any(p.__name__ == name and issubclass(p, ExtractUpscale) for p in found):
        pyblish.api.deregister_plugin(ExtractUpscale)
    ExtractUpscale.config = None
    ExtractUpscale.families = list(DEFAULT_FAMILIES)
    ExtractUpscale.order = ORDER_BEFORE_BURNIN


def _path(artifact: Artifact) -> Path | None:
    """What a failure names: the movie, or a sequence's pattern."""
    if isinstance(artifact.path, ImageSequence):
        return artifact.path.pattern
    return artifact.path if isinstance(artifact.path, Path) else None


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
