"""A stand-in for Blender's ``bpy``: just the API uprez's Blender add-on uses, no Blender.

Tests put ``tests/standins`` on ``sys.path`` and import this as ``bpy``. What it mimics:

* ``bpy.app.handlers``: ``render_init``, ``render_write``, ``render_complete``,
  ``render_cancel`` and ``load_post`` lists and the ``persistent`` decorator (which, as in
  Blender, marks a function with a ``_bpy_persistent`` attribute and refuses anything else);
* ``bpy.app.timers``: ``register``/``unregister``/``is_registered``; timers never fire by
  themselves, a test calls ``timers.registered`` functions when it wants a tick;
* ``bpy.types``: ``Operator`` (with ``report`` recording into ``reports``),
  ``AddonPreferences``, ``Menu`` subclasses with ``append``/``remove`` of draw functions
  (``TOPBAR_MT_render``), and ``Scene``/``RenderSettings``/``ImageFormatSettings``/
  ``FFmpegSettings`` whose ``frame_path`` names files the way Blender does;
* ``bpy.props``: ``BoolProperty``/``StringProperty`` returning deferred properties, read from
  class annotations at registration, as Blender does;
* ``bpy.utils.register_class``/``unregister_class``, recorded in ``utils.registered``; an
  ``AddonPreferences`` class gets an entry in ``context.preferences.addons[bl_idname]``; an
  operator whose ``bl_idname`` another registered class has replaces that class, which is
  unregistered (Blender: "has been registered before, unregistering previous");
* ``bpy.path.abspath``: ``//`` is the folder of ``bpy.data.filepath`` (the saved .blend);
* ``bpy.context.scene`` and ``bpy.data.filepath``, both settable.

Blender's naming of render outputs (``ffmpeg_filepath_get`` and ``BLI_path_frame_range`` in its
sources): for a movie, when the output path does not already end with one of the container's
extensions, the *last* run of ``#`` in the file name becomes ``<start>-<end>`` zero-padded to the
run's length (with no ``#`` at all, ``####`` is appended first), and the container's first
extension is added. For an image, the ``#`` run (or an appended ``####``) becomes the frame
number and the format's extension is added, a negative number padded on its digits alone
(``-003`` for ``###``: ``BLI_path_frame``'s ``%.*d``). With ``use_file_extension`` off, nothing is
appended. ``RenderSettings`` has ``fps``/``fps_base`` and ``Scene`` ``frame_step``, as in Blender.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

# -- bpy.app ---------------------------------------------------------------------------------------


def _persistent(function: Callable[..., Any]) -> Callable[..., Any]:
    """``bpy.app.handlers.persistent``: keep a handler across file loads."""
    if not callable(function) or not hasattr(function, "__dict__"):
        raise ValueError("bpy.app.handlers.persistent expected a function")
    function._bpy_persistent = None  # type: ignore[attr-defined]
    return function


class _Timers:
    """``bpy.app.timers``: registered functions and their first interval; never fired here."""

    def __init__(self) -> None:
        self.registered: dict[Callable[[], float | None], float] = {}

    def register(
        self,
        function: Callable[[], float | None],
        *,
        first_interval: float = 0.0,
        persistent: bool = False,
    ) -> None:
        self.registered[function] = first_interval

    def unregister(self, function: Callable[[], float | None]) -> None:
        if function not in self.registered:
            raise ValueError("Error: function is not registered")
        del self.registered[function]

    def is_registered(self, function: Callable[[], float | None]) -> bool:
        return function in self.registered


app = SimpleNamespace(
    version=(4, 2, 0),
    background=True,
    handlers=SimpleNamespace(
        persistent=_persistent,
        render_init=[],
        render_write=[],
        render_complete=[],
        render_cancel=[],
        load_post=[],
    ),
    timers=_Timers(),
)

# -- bpy.props -------------------------------------------------------------------------------------


class _PropertyDeferred:
    """What ``bpy.props.*Property(...)`` returns: the kind and its keywords, until registration."""

    def __init__(self, function: Callable[..., Any], keywords: dict[str, Any]) -> None:
        self.function = function
        self.keywords = keywords

    def __repr__(self) -> str:
        return f"<_PropertyDeferred {self.function.__name__} {self.keywords}>"


def BoolProperty(**keywords: Any) -> _PropertyDeferred:
    keywords.setdefault("default", False)
    return _PropertyDeferred(BoolProperty, keywords)


def StringProperty(**keywords: Any) -> _PropertyDeferred:
    keywords.setdefault("default", "")
    return _PropertyDeferred(StringProperty, keywords)


props = SimpleNamespace(BoolProperty=BoolProperty, StringProperty=StringProperty)

# -- bpy.types -------------------------------------------------------------------------------------


class Operator:
    """``bpy.types.Operator``: ``report`` records ``(types, message)`` in ``self.reports``."""

    bl_idname = ""
    bl_label = ""

    def __init__(self) -> None:
        self.reports: list[tuple[set[str], str]] = []

    def report(self, types: set[str], message: str) -> None:
        self.reports.append((set(types), message))


class AddonPreferences:
    """``bpy.types.AddonPreferences``: properties come from the class's annotations."""

    bl_idname = ""


class Menu:
    """``bpy.types.Menu``: ``append``/``remove`` draw functions, kept per menu class in the
    list ``_dyn_ui_initialize()`` returns (as Blender's ``_GenericUI``)."""

    _draw_funcs: list[Callable[..., Any]]

    def __init_subclass__(cls) -> None:
        cls._draw_funcs = []

    @classmethod
    def _dyn_ui_initialize(cls) -> list[Callable[..., Any]]:
        return cls._draw_funcs

    @classmethod
    def append(cls, draw: Callable[..., Any]) -> None:
        cls._dyn_ui_initialize().append(draw)

    @classmethod
    def remove(cls, draw: Callable[..., Any]) -> None:
        # Blender ignores a function that is not there.
        if draw in cls._dyn_ui_initialize():
            cls._dyn_ui_initialize().remove(draw)


class TOPBAR_MT_render(Menu):
    """The Render menu of the top bar."""


class Layout:
    """A ``UILayout`` that records what is drawn: ``("prop", name)``, ``("operator", id)``..."""

    def __init__(self) -> None:
        self.drawn: list[tuple[str, str]] = []

    def prop(self, data: Any, name: str, **options: Any) -> None:
        getattr(data, name)  # a property that does not exist fails, as in Blender
        self.drawn.append(("prop", name))

    def operator(self, idname: str, **options: Any) -> None:
        self.drawn.append(("operator", idname))

    def label(self, *, text: str = "", **options: Any) -> None:
        self.drawn.append(("label", text))

    def separator(self, **options: Any) -> None:
        self.drawn.append(("separator", ""))


_IMAGE_EXTENSIONS = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "OPEN_EXR": ".exr",
    "OPEN_EXR_MULTILAYER": ".exr",
    "TIFF": ".tif",
    "DPX": ".dpx",
    "BMP": ".bmp",
    "TARGA": ".tga",
}

#: Blender's ``get_file_extensions``: the first is the one it appends.
MOVIE_EXTENSIONS = {
    "MPEG1": (".mpg", ".mpeg"),
    "MPEG2": (".dvd", ".vob", ".mpg", ".mpeg"),
    "MPEG4": (".mp4", ".mpg", ".mpeg"),
    "AVI": (".avi",),
    "QUICKTIME": (".mov",),
    "DV": (".dv",),
    "FLASH": (".flv",),
    "MKV": (".mkv",),
    "OGG": (".ogv", ".ogg"),
    "WEBM": (".webm",),
    "AV1": (".mp4", ".mkv"),
}


class ImageFormatSettings:
    def __init__(self) -> None:
        self.file_format = "PNG"


class FFmpegSettings:
    def __init__(self) -> None:
        self.format = "MPEG4"
        self.codec = "H264"


def _hash_range(path: str) -> tuple[int, int] | None:
    """Start and end of the last run of ``#`` in the last component of ``path``."""
    head = max(path.rfind("/"), path.rfind("\\")) + 1
    runs = list(re.finditer(r"#+", path[head:]))
    if not runs:
        return None
    return head + runs[-1].start(), head + runs[-1].end()


def _ensure_digits(path: str, digits: int = 4) -> str:
    return path if _hash_range(path) else path + "#" * digits


class RenderSettings:
    def __init__(self, scene: Scene) -> None:
        self._scene = scene
        self.filepath = "/tmp/"
        self.use_file_extension = True
        self.use_overwrite = True
        self.fps = 24
        self.fps_base = 1.0
        self.image_settings = ImageFormatSettings()
        self.ffmpeg = FFmpegSettings()

    def frame_path(self, frame: int = -(2**31), preview: bool = False, view: str = "") -> str:
        """The file Blender writes for ``frame`` (a movie: the whole movie), absolute."""
        scene = self._scene
        path = path_abspath(self.filepath)
        if frame == -(2**31):
            frame = scene.frame_current
        kind = self.image_settings.file_format
        if kind == "FFMPEG":
            extensions = MOVIE_EXTENSIONS[self.ffmpeg.format]
            start, end = scene.frame_start, scene.frame_end
            if self.use_file_extension:
                if path.lower().endswith(extensions):
                    return path
                return _frame_range(_ensure_digits(path), start, end) + extensions[0]
            return _frame_range(path, start, end) if _hash_range(path) else path
        if kind in ("AVI_JPEG", "AVI_RAW"):  # Blender up to 4.1
            if self.use_file_extension and not path.lower().endswith(".avi"):
                start, end = scene.frame_start, scene.frame_end
                return _frame_range(_ensure_digits(path), start, end) + ".avi"
            return path
        numbered = _ensure_digits(path)
        first, last = _hash_range(numbered) or (len(numbered), len(numbered))
        # BLI_path_frame: "%.*d", the width counting digits only ("-003" for ###).
        digits = f"{'-' if frame < 0 else ''}{abs(frame):0{last - first}d}"
        numbered = f"{numbered[:first]}{digits}{numbered[last:]}"
        return numbered + (_IMAGE_EXTENSIONS[kind] if self.use_file_extension else "")


def _frame_range(path: str, start: int, end: int) -> str:
    found = _hash_range(path)
    if found is None:
        return path
    first, last = found
    width = last - first
    return f"{path[:first]}{start:0{width}d}-{end:0{width}d}{path[last:]}"


class Scene:
    """A scene with the render settings Blender's output naming depends on."""

    def __init__(self, name: str = "Scene") -> None:
        self.name = name
        self.frame_start = 1
        self.frame_end = 250
        self.frame_step = 1
        self.frame_current = 1
        self.render = RenderSettings(self)


types = SimpleNamespace(
    Operator=Operator,
    AddonPreferences=AddonPreferences,
    Menu=Menu,
    TOPBAR_MT_render=TOPBAR_MT_render,
    Scene=Scene,
    RenderSettings=RenderSettings,
    ImageFormatSettings=ImageFormatSettings,
    FFmpegSettings=FFmpegSettings,
    UILayout=Layout,
)

# -- bpy.data, bpy.context, bpy.path ---------------------------------------------------------------

data = SimpleNamespace(filepath="")


def path_abspath(path: str, *, start: str | None = None, library: Any = None) -> str:
    """``bpy.path.abspath``: ``//`` is relative to the .blend file's folder (or ``start``)."""
    if path.startswith("//"):
        base = os.path.dirname(data.filepath) if start is None else start
        return os.path.join(base, path[2:])
    return path


path = SimpleNamespace(abspath=path_abspath)

context = SimpleNamespace(
    scene=Scene(),
    preferences=SimpleNamespace(addons={}),
)

# -- bpy.utils -------------------------------------------------------------------------------------


def _properties_of(cls: type) -> dict[str, _PropertyDeferred]:
    found: dict[str, _PropertyDeferred] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).get("__annotations__", {}).items():
            if not isinstance(value, _PropertyDeferred):
                # What Blender says of an annotation that is not a bpy.props call (including
                # the strings that ``from __future__ import annotations`` would make).
                raise ValueError(
                    f"bpy_struct {cls.__name__!r} registration error: {name!r} "
                    f"expected a bpy.props property, not {value!r}"
                )
            found[name] = value
    return found


class _Utils:
    def __init__(self) -> None:
        self.registered: list[type] = []

    def register_class(self, cls: type) -> None:
        if cls in self.registered:
            raise ValueError(f"register_class(...): already registered as a subclass {cls!r}")
        properties = _properties_of(cls)
        if issubclass(cls, Operator):
            idname = cls.bl_idname
            if idname.count(".") != 1 or not idname.islower():
                raise ValueError(f"{cls.__name__}: bl_idname {idname!r} is not 'category.name'")
            if "_OT_" not in cls.__name__:
                raise ValueError(f"{cls.__name__}: operator class names look like ABC_OT_name")
            for previous in [c for c in self.registered if issubclass(c, Operator)]:
                if previous.bl_idname == idname:
                    self.registered.remove(previous)
        if issubclass(cls, AddonPreferences):
            instance = cls()
            for name, prop in properties.items():
                setattr(instance, name, prop.keywords.get("default"))
            context.preferences.addons[cls.bl_idname] = SimpleNamespace(preferences=instance)
        self.registered.append(cls)

    def unregister_class(self, cls: type) -> None:
        if cls not in self.registered:
            raise RuntimeError(f"unregister_class(...): missing bl_rna attribute from {cls!r}")
        self.registered.remove(cls)
        if issubclass(cls, AddonPreferences):
            context.preferences.addons.pop(cls.bl_idname, None)


utils = _Utils()
