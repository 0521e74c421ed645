"""Which OpenColorIO view a scene-linear sequence is shown to the service through.

A scene-linear EXR is not video: sent as it is, its values above 1.0 clip and its greys come out
dark. The proxy for the service is made through an OCIO *view transform* (source colourspace →
display, view), as a compositor's viewer would show it; the service's display-referred result
is brought back to the source colourspace by the inverse of the same transform.

The config is ``colour.config`` (a path or an ``ocio://`` URI), else ``$OCIO``, else OCIO's
built-in studio config (``ocio://studio-config-latest``, shipped inside the ``opencolorio``
wheel). The source colourspace is the one the file says it is in, else ``colour.scene_linear``,
else the config's ``scene_linear`` role; the display is ``colour.display`` or the config's
default display; the view ``colour.view`` or the display's default view (the config's viewing
rules may choose one for the source colourspace). Every name is checked here, before anything
is spent: a bad one is a :class:`~uprez.errors.ConfigError` naming the key (``$.colour.view``)
and some of the valid choices.

With OCIO 2.6's studio config (``studio-config-v5.0.0_aces-v2.1_ocio-v2.6``) the default is
ACEScg → "sRGB - Display" / "ACES 2.0 - SDR 100 nits (Rec.709)": invertible, scene-linear
0.18 → 10 cd/m² (sRGB-encoded 0.349), and display white is reached at scene-linear ~127
(brighter highlights come back as that). Its "Un-tone-mapped" and "Video (colorimetric)"
views are invertible but clip at scene-linear 1.0. Which views are invertible is not a
property of the name: :attr:`ViewTransform.invertible` is found by building the inverse and
running a grey ramp through both directions.

OCIO and NumPy come with ``pip install 'uprez[sequences]'``; they are imported only when a
sequence needs colour, so movies and ``import uprez`` never load them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, cast

from uprez.config.problems import ConfigProblem
from uprez.config.sections import ColourSection
from uprez.errors import ConfigError

__all__ = [
    "BUILTIN_CONFIG",
    "INSTALL_HINT",
    "ViewTransform",
    "load_ocio_config",
    "ocio_config_source",
    "require_invertible",
    "require_ocio",
    "view_transform",
]

log = logging.getLogger(__name__)

#: The config used when neither ``colour.config`` nor ``$OCIO`` names one.
BUILTIN_CONFIG = "ocio://studio-config-latest"
#: What a user runs to get OpenColorIO and NumPy.
INSTALL_HINT = "pip install 'uprez[sequences]'"

# How many valid names an error lists before "and N more".
_CHOICES_SHOWN = 8
# A view is invertible when a grey ramp over [0.01, 1] comes back within this relative error
# (float32 all the way: ACES 2.0 SDR comes back within 4e-5; a one-way view is far off or fails).
_INVERSE_TOLERANCE = 1e-3


def require_ocio() -> ModuleType:
    """``PyOpenColorIO``, imported now; a :class:`ConfigError` saying how to install it when
    it is missing (raised before anything is spent: the colour is resolved before the upload)."""
    try:
        import numpy  # noqa: F401  (the frames are NumPy buffers: both come with the extra)
        import PyOpenColorIO
    except ImportError as exc:
        raise ConfigError(
            f"a scene-linear sequence is shown to the service through an OpenColorIO view "
            f"transform, and {exc.name or 'OpenColorIO'} is not installed: {INSTALL_HINT}"
        ) from None
    return cast(ModuleType, PyOpenColorIO)


def ocio_config_source(
    section: ColourSection, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """The config to load and where that choice came from: ``(path or URI, origin)``, origin
    being ``"$.colour.config"``, ``"$OCIO"`` or ``"built-in"``."""
    environ = os.environ if env is None else env
    if section.config:
        return section.config, "$.colour.config"
    if environ.get("OCIO"):
        return environ["OCIO"], "$OCIO"
    return BUILTIN_CONFIG, "built-in"


def load_ocio_config(section: ColourSection, *, env: Mapping[str, str] | None = None) -> Any:
    """The OCIO config (``PyOpenColorIO.Config``) of ``section``: ``colour.config`` (a path or
    an ``ocio://`` URI), else ``$OCIO``, else :data:`BUILTIN_CONFIG`.

    Raises:
        ConfigError: OpenColorIO is not installed, or the config cannot be loaded or is invalid
            (``$.colour.config``; from ``$OCIO``, the problem says so).
    """
    ocio = require_ocio()
    where, origin = ocio_config_source(section, env)
    return _load(ocio, where, origin)


def _load(ocio: ModuleType, where: str, origin: str) -> Any:
    try:
        config = ocio.Config.CreateFromFile(where)
        config.validate()
    except Exception as exc:  # OCIO raises its own Exception type for every failure
        # OCIO's message quotes the path; a config value is never quoted (it might be a key).
        reason = str(exc).replace(where, "<config>").strip() or type(exc).__name__
        known = ", ".join(_builtin_names(ocio)[:_CHOICES_SHOWN])
        raise ConfigError(
            "the OCIO config cannot be used:",
            problems=[
                ConfigProblem(
                    "$.colour.config",
                    f"OpenColorIO cannot load it ({reason}); give a config file's path or one "
                    f"of the built-in configs: {known}",
                    source="$OCIO" if origin == "$OCIO" else None,
                )
            ],
        ) from None
    log.debug("OCIO config %s (%s) from %s", config.getName(), where, origin)
    return config


def _builtin_names(ocio: ModuleType) -> list[str]:
    names = ["ocio://default", BUILTIN_CONFIG, "ocio://cg-config-latest"]
    try:
        registry = ocio.BuiltinConfigRegistry()
        names += [f"ocio://{name}" for name, *_ in registry.getBuiltinConfigs()]
    except Exception:  # an older OCIO without the registry: the three aliases stay
        log.debug("no builtin config registry", exc_info=True)
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class ViewTransform:
    """One OCIO view transform, resolved and checked: what the sidecar records.

    ``config`` is the path or URI it was loaded from (``$OCIO`` resolved), ``config_name`` the
    config's own name (what ``ocio://studio-config-latest`` meant to this OCIO); ``source`` the
    scene-linear colourspace, ``display`` and ``view`` the display and view. ``invertible``
    says whether a display-referred result can be brought back to ``source``; ``clips_above``
    is the scene-linear grey at which the view reaches display white (brighter values come back
    as this), None when it never does below half-float's maximum.
    """

    config: str
    config_name: str
    source: str
    display: str
    view: str
    invertible: bool
    clips_above: float | None
    ocio_version: str = ""

    def to_json(self) -> dict[str, object]:
        """The record as the sidecar's ``colour`` entry."""
        return {
            "ocio_config": self.config,
            "ocio_config_name": self.config_name,
            "ocio_version": self.ocio_version,
            "source_colourspace": self.source,
            "display": self.display,
            "view": self.view,
            "invertible": self.invertible,
            "clips_above": self.clips_above,
        }


def view_transform(
    section: ColourSection,
    *,
    source: str | None = None,
    config: Any = None,
    env: Mapping[str, str] | None = None,
) -> ViewTransform:
    """The view transform a scene-linear source is shown through, every name checked.

    ``source`` is the colourspace the file says it is in (an EXR's ``colorspace`` attribute,
    a pyblish instance's colourspace data), None when it says none; ``config`` an already
    loaded config (else :func:`load_ocio_config`).

    Raises:
        ConfigError: OCIO is missing, the config cannot be loaded, or a colourspace, display or
            view name is not in the config (``$.colour.scene_linear``, ``$.colour.display``,
            ``$.colour.view``, each with valid choices).
    """
    ocio = require_ocio()
    where, origin = ocio_config_source(section, env)
    cfg = config if config is not None else _load(ocio, where, origin)
    source_name = _source_colourspace(cfg, section, source)
    display = _display(cfg, section)
    view = _view(cfg, section, display, source_name)
    invertible = _is_invertible(ocio, cfg, source_name, display, view)
    return ViewTransform(
        config=where,
        config_name=cfg.getName(),
        source=source_name,
        display=display,
        view=view,
        invertible=invertible,
        clips_above=_clips_above(ocio, cfg, source_name, display, view),
        ocio_version=str(ocio.__version__),
    )


def require_invertible(transform: ViewTransform) -> None:
    """Refuses, before spending, a delivery in the source colourspace through a view that
    cannot be inverted: the result could only be delivered display-referred.

    Raises:
        ConfigError: naming ``$.colour.view`` and the views of the display that can.
    """
    if transform.invertible:
        return
    ocio = require_ocio()
    cfg = ocio.Config.CreateFromFile(transform.config)
    can = [
        v
        for v in cfg.getViews(transform.display)
        if _is_invertible(ocio, cfg, transform.source, transform.display, v)
    ]
    raise ConfigError(
        "the result cannot be brought back to the source's colourspace:",
        problems=[
            ConfigProblem(
                "$.colour.view",
                f"view {transform.view!r} of display {transform.display!r} has no inverse; "
                f"{_choices('use one that has', can)}, or ask for a movie (output.codec)",
            )
        ],
    )


def _source_colourspace(cfg: Any, section: ColourSection, tagged: str | None) -> str:
    if tagged:
        space = cfg.getColorSpace(tagged)
        if space is not None:
            return str(space.getName())
        # The file's own tag (not a config value) may be quoted.
        message = f"the source says it is in {tagged!r}, which this config does not have; "
        key = "$.colour.config"
    elif section.scene_linear:
        space = cfg.getColorSpace(section.scene_linear)
        if space is not None:
            return str(space.getName())
        message = "not a colourspace (or role) of this config; "
        key = "$.colour.scene_linear"
    else:
        space = cfg.getColorSpace("scene_linear")
        if space is not None:
            return str(space.getName())
        message = "the config has no scene_linear role: name the source's colourspace; "
        key = "$.colour.scene_linear"
    raise ConfigError(
        "the source colourspace is not in the OCIO config:",
        problems=[ConfigProblem(key, message + _choices("scene-linear ones", _linear_spaces(cfg)))],
    )


def _linear_spaces(cfg: Any) -> list[str]:
    ocio = require_ocio()
    names = cfg.getColorSpaceNames(ocio.SEARCH_REFERENCE_SPACE_SCENE, ocio.COLORSPACE_ACTIVE)
    linear = []
    for name in names:
        try:
            if cfg.isColorSpaceLinear(name, ocio.REFERENCE_SPACE_SCENE):
                linear.append(str(name))
        except Exception:  # an OCIO before 2.2: every scene colourspace is listed
            linear.append(str(name))
    return linear


def _display(cfg: Any, section: ColourSection) -> str:
    displays = list(cfg.getDisplays())
    if section.display is None:
        return str(cfg.getDefaultDisplay())
    if section.display in displays:
        return section.display
    raise ConfigError(
        "the display is not in the OCIO config:",
        problems=[
            ConfigProblem(
                "$.colour.display",
                f"not a display of {cfg.getName()}; {_choices('valid', displays)}",
            )
        ],
    )


def _view(cfg: Any, section: ColourSection, display: str, source: str) -> str:
    views = list(cfg.getViews(display))
    if section.view is None:
        # The viewing rules may give a colourspace its own default view.
        return str(cfg.getDefaultView(display, source) or cfg.getDefaultView(display))
    if section.view in views:
        return section.view
    raise ConfigError(
        "the view is not in the OCIO config:",
        problems=[
            ConfigProblem(
                "$.colour.view",
                f"not a view of display {display!r} in {cfg.getName()}; {_choices('valid', views)}",
            )
        ],
    )


def _choices(lead: str, names: Sequence[str]) -> str:
    if not names:
        return f"{lead}: none"
    shown = ", ".join(repr(n) for n in names[:_CHOICES_SHOWN])
    more = len(names) - _CHOICES_SHOWN
    return f"{lead}: {shown}" + (f" and {more} more" if more > 0 else "")


def display_view(ocio: ModuleType, source: str, display: str, view: str, *, inverse: bool) -> Any:
    """The ``DisplayViewTransform`` source → display/view (or back, ``inverse``)."""
    direction = ocio.TRANSFORM_DIR_INVERSE if inverse else ocio.TRANSFORM_DIR_FORWARD
    return ocio.DisplayViewTransform(src=source, display=display, view=view, direction=direction)


def _is_invertible(ocio: ModuleType, cfg: Any, source: str, display: str, view: str) -> bool:
    import numpy as np

    try:
        forward = cfg.getProcessor(display_view(ocio, source, display, view, inverse=False))
        backward = cfg.getProcessor(display_view(ocio, source, display, view, inverse=True))
    except Exception as exc:  # OCIO cannot build the inverse of some transforms
        log.debug("view %r of %r has no inverse: %s", view, display, exc)
        return False
    ramp = np.repeat(np.geomspace(0.01, 1.0, 64, dtype=np.float32)[:, None], 3, axis=1)
    trip = ramp.copy()
    forward.getDefaultCPUProcessor().applyRGB(trip)
    backward.getDefaultCPUProcessor().applyRGB(trip)
    error = float(np.nanmax(np.abs(trip - ramp) / ramp)) if np.isfinite(trip).all() else np.inf
    return error <= _INVERSE_TOLERANCE


def _clips_above(ocio: ModuleType, cfg: Any, source: str, display: str, view: str) -> float | None:
    import numpy as np

    cpu = cfg.getProcessor(
        display_view(ocio, source, display, view, inverse=False)
    ).getDefaultCPUProcessor()

    def white(greys: Any) -> Any:
        shown = np.ascontiguousarray(np.repeat(greys[:, None], 3, axis=1), dtype=np.float32)
        cpu.applyRGB(shown)
        return np.nan_to_num(shown, nan=0.0).min(axis=1) >= 1.0 - 2.0**-16  # a 16-bit code

    greys = np.geomspace(2.0**-4, 65504.0, 256, dtype=np.float32)
    hits = np.nonzero(white(greys))[0]
    if not hits.size:
        return None
    if hits[0] == 0:
        return float(greys[0])
    low, high = float(greys[hits[0] - 1]), float(greys[hits[0]])
    for _ in range(24):  # to float32's precision: the record says where white is reached
        middle = (low * high) ** 0.5
        low, high = (low, middle) if white(np.array([middle]))[0] else (middle, high)
    return round(high, 4)
