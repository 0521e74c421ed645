"""Typed views of a validated configuration, one per section of ``schemas/config.schema.json``.

They are built once, when the configuration is loaded and has passed its schema, so the rest
of uprez reads ``config.limits.max_duration`` (a float) instead of casting
``config.get("limits.max_duration")`` at every use. Money is :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _count(value: Any) -> int | None:
    """A whole number the schema let through (``5`` or ``5.0``) as an int; None stays None."""
    return None if value is None else int(value)


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class ProviderSection:
    """``provider``: which backend, where, and how long to wait on it. The key is not here:
    :meth:`Config.api_key` reads it, and nothing else holds it."""

    name: str
    model: str
    base_url: str
    inputs: Mapping[str, Any]
    allow_insecure_http: bool
    connect_timeout: float
    read_timeout: float
    upload_timeout: float
    #: A PEM bundle of the authorities to trust (None: the environment's, else the public ones).
    ca_bundle: Path | None = None
    #: The proxy of every request (None: HTTPS_PROXY, HTTP_PROXY and NO_PROXY).
    proxy: str | None = None

    @property
    def timeouts(self) -> tuple[float, float]:
        """``(connect, read)`` for requests."""
        return (self.connect_timeout, self.read_timeout)

    @property
    def service(self) -> str:
        """What makes results differ besides the source: the provider, its service, the model
        and its inputs. Work folders are keyed by it, so one provider's segments never pass
        for another's."""
        return "|".join(str(v) for v in (self.name, self.base_url, self.model, dict(self.inputs)))


@dataclass(frozen=True)
class AccountSection:
    """``account``: the WaveSpeed account level, or explicit limits that override it."""

    level: str
    submits_per_minute: int | None
    concurrent_tasks: int | None


@dataclass(frozen=True)
class PollingSection:
    """``polling``: how often a task's status is read, and for how long at most."""

    first_interval: float
    factor: float
    max_interval: float
    jitter: float
    deadline: float


@dataclass(frozen=True)
class RetrySection:
    """``retry``: how idempotent requests are retried."""

    attempts: int
    backoff_base: float
    backoff_cap: float
    retry_after_cap: float


@dataclass(frozen=True)
class LimitsSection:
    """``limits``: the service's rules and the studio's budgets."""

    max_duration: float
    price_per_second: Decimal
    minimum_seconds: int
    max_cost_per_job: Decimal | None
    max_cost_per_run: Decimal | None
    max_upload_bytes: int
    concurrency: int | None


@dataclass(frozen=True)
class OutputSection:
    """``output``: where results go (``template``), and whether they replace and are described."""

    template: str
    overwrite: bool
    sidecar: bool
    #: ``"auto"`` or the codec the result is written in (see :mod:`uprez.media.codecs`).
    codec: str = "auto"


@dataclass(frozen=True)
class VerifySection:
    """``verify``: what a result is checked against, and what a mismatch does."""

    target_size: str | None
    on_mismatch: str
    #: Compare the result's picture with the source's (see :mod:`uprez.media.content`).
    content: bool = True
    samples: int = 12
    min_similarity: float = 0.6

    @property
    def strict(self) -> bool:
        """A mismatch is an error (not a warning)."""
        return self.on_mismatch == "error"


@dataclass(frozen=True)
class MasterSection:
    """``master``: how a studio master is sent (a proxy) and what is refused before spending."""

    proxy: str = "auto"
    proxy_crf: int = 12
    proxy_preset: str = "veryfast"
    vfr: str = "convert"
    hdr: str = "refuse"
    alpha: str = "upscale"


@dataclass(frozen=True)
class SequenceSection:
    """``sequence``: a rendered image sequence's frame rate when no host gives one, and what
    it becomes (``"auto"``: a sequence; ``"movie"``)."""

    fps: Fraction | None = None
    output: str = "auto"


@dataclass(frozen=True)
class ColourSection:
    """``colour``: the OCIO config and the view a scene-linear proxy is made through (None:
    the config's own default)."""

    config: str | None = None
    scene_linear: str | None = None
    display: str | None = None
    view: str | None = None


@dataclass(frozen=True)
class JournalSection:
    """``journal``: the record that makes reruns free; ``path`` None means the default place."""

    path: Path | None
    enabled: bool
    #: ``journal.url`` as written: a postgresql:// URL, ``{"$env": NAME}``, or None (see
    #: :meth:`uprez.config.Config.ledger_url` for the URL itself).
    url: str | Mapping[str, str] | None = field(default=None, repr=False)
    lease_seconds: float = 30.0


@dataclass(frozen=True)
class UploadPolicy:
    """One of ``privacy.policies``: what may leave for inputs of ``project`` under ``path``."""

    project: str
    path: str
    upload: str  # allow, local-only or deny
    delete_after_download: bool | None


@dataclass(frozen=True)
class PrivacySection:
    """``privacy``: upload policies, and deleting tasks on the service once downloaded."""

    delete_after_download: bool
    policies: tuple[UploadPolicy, ...]


@dataclass(frozen=True)
class Budget:
    """One of ``budgets``: a limit in dollars for a project (``*``: each) over a period."""

    project: str
    period: str
    usd: Decimal


@dataclass(frozen=True)
class LocalSection:
    """``local``: the in-process stand-in server."""

    max_size: str
    workers: int
    speed_factor: float
    mode: str


@dataclass(frozen=True)
class PyblishSection:
    """``pyblish``: which instances the extractor takes and how it names what it adds."""

    families: tuple[str, ...]
    representation: str
    tag: str
    skip_tags: tuple[str, ...] = ("delete", "need_thumbnail", "publish_on_farm")
    source_tags: tuple[str, ...] = ()
    on_error: str = "fail"
    before_burnin: bool = True
    handles: bool = True


@dataclass(frozen=True)
class WatchSection:
    """``watch``: how a watch folder is scanned."""

    interval: float
    settle: float
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class Rule:
    """One post-export rule: the conditions an artifact must meet, and the steps it then gets."""

    steps: tuple[str, ...]
    glob: str | None = None
    ext: tuple[str, ...] | None = None
    min_width: int | None = None
    min_height: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    tags: tuple[str, ...] = ()

    @property
    def needs_size(self) -> bool:
        """The rule looks at the picture size (the artifact must be probed)."""
        sizes = (self.min_width, self.min_height, self.max_width, self.max_height)
        return any(v is not None for v in sizes)


@dataclass(frozen=True)
class Sections:
    """Every section of a validated configuration, typed."""

    provider: ProviderSection
    account: AccountSection
    polling: PollingSection
    retry: RetrySection
    limits: LimitsSection
    output: OutputSection
    verify: VerifySection
    journal: JournalSection
    local: LocalSection
    pyblish: PyblishSection
    watch: WatchSection
    rules: tuple[Rule, ...]
    plugins: Mapping[str, Mapping[str, Any]]
    budgets: tuple[Budget, ...] = ()
    privacy: PrivacySection = PrivacySection(False, ())
    master: MasterSection = MasterSection()
    sequence: SequenceSection = SequenceSection()
    colour: ColourSection = ColourSection()


def read_sections(data: Mapping[str, Any]) -> Sections:
    """The typed views of ``data``, which has passed the schema (every key has its default)."""
    p, a, po, r = data["provider"], data["account"], data["polling"], data["retry"]
    li, o, v, j = data["limits"], data["output"], data["verify"], data["journal"]
    lo, py, w = data["local"], data["pyblish"], data["watch"]
    return Sections(
        provider=ProviderSection(
            name=str(p["name"]),
            model=str(p["model"]),
            base_url=str(p["base_url"]),
            inputs=_frozen(p.get("inputs") or {}),
            allow_insecure_http=bool(p["allow_insecure_http"]),
            connect_timeout=float(p["connect_timeout"]),
            read_timeout=float(p["read_timeout"]),
            upload_timeout=float(p["upload_timeout"]),
            ca_bundle=Path(str(p["ca_bundle"])).expanduser() if p.get("ca_bundle") else None,
            proxy=str(p["proxy"]) if p.get("proxy") else None,
        ),
        account=AccountSection(
            level=str(a["level"]),
            submits_per_minute=_count(a.get("submits_per_minute")),
            concurrent_tasks=_count(a.get("concurrent_tasks")),
        ),
        polling=PollingSection(
            first_interval=float(po["first_interval"]),
            factor=float(po["factor"]),
            max_interval=float(po["max_interval"]),
            jitter=float(po["jitter"]),
            deadline=float(po["deadline"]),
        ),
        retry=RetrySection(
            attempts=int(r["attempts"]),
            backoff_base=float(r["backoff_base"]),
            backoff_cap=float(r["backoff_cap"]),
            retry_after_cap=float(r["retry_after_cap"]),
        ),
        limits=LimitsSection(
            max_duration=float(li["max_duration"]),
            price_per_second=Decimal(str(li["price_per_second"])),
            minimum_seconds=int(li["minimum_seconds"]),
            max_cost_per_job=_money(li.get("max_cost_per_job")),
            max_cost_per_run=_money(li.get("max_cost_per_run")),
            max_upload_bytes=int(li["max_upload_bytes"]),
            concurrency=_count(li.get("concurrency")),
        ),
        output=OutputSection(
            template=str(o["template"]),
            overwrite=bool(o["overwrite"]),
            sidecar=bool(o["sidecar"]),
            codec=str(o.get("codec", "auto")),
        ),
        verify=VerifySection(
            target_size=v.get("target_size"),
            on_mismatch=str(v["on_mismatch"]),
            content=bool(v.get("content", True)),
            samples=int(v.get("samples", 12)),
            min_similarity=float(v.get("min_similarity", 0.6)),
        ),
        master=_master(data.get("master") or {}),
        sequence=_sequence(data.get("sequence") or {}),
        colour=ColourSection(**{k: v for k, v in (data.get("colour") or {}).items() if v}),
        journal=JournalSection(
            path=Path(str(j["path"])).expanduser() if j.get("path") else None,
            enabled=bool(j["enabled"]),
            url=j.get("url"),
            lease_seconds=float(j.get("lease_seconds", 30)),
        ),
        local=LocalSection(
            max_size=str(lo["max_size"]),
            workers=int(lo["workers"]),
            speed_factor=float(lo["speed_factor"]),
            mode=str(lo["mode"]),
        ),
        pyblish=PyblishSection(
            families=tuple(py["families"]),
            representation=str(py["representation"]),
            tag=str(py["tag"]),
            skip_tags=tuple(py.get("skip_tags", PyblishSection.skip_tags)),
            source_tags=tuple(py.get("source_tags", ())),
            on_error=str(py.get("on_error", "fail")),
            before_burnin=bool(py.get("before_burnin", True)),
            handles=bool(py.get("handles", True)),
        ),
        watch=WatchSection(
            interval=float(w["interval"]), settle=float(w["settle"]), patterns=tuple(w["patterns"])
        ),
        rules=tuple(_rule(item) for item in data.get("rules") or ()),
        budgets=tuple(
            Budget(
                project=str(item.get("project", "*")),
                period=str(item.get("period", "month")),
                usd=Decimal(str(item["usd"])),
            )
            for item in data.get("budgets") or ()
        ),
        privacy=_privacy(data.get("privacy") or {}),
        plugins=_frozen({k: _frozen(v) for k, v in (data.get("plugins") or {}).items()}),
    )


def frame_rate(value: Any) -> Fraction | None:
    """A frame rate as written (``24``, ``23.976``, ``"24000/1001"``), exact; None stays None.
    23.976 and 29.97 are read as the NTSC rates they stand for."""
    if value is None:
        return None
    rate = Fraction(str(value))
    ntsc = Fraction(round(rate * 1001 / 1000) * 1000, 1001)
    return ntsc if abs(ntsc - rate) < Fraction(1, 1000) and rate.denominator != 1 else rate


def _sequence(m: Mapping[str, Any]) -> SequenceSection:
    return SequenceSection(fps=frame_rate(m.get("fps")), output=str(m.get("output", "auto")))


def _master(m: Mapping[str, Any]) -> MasterSection:
    base = MasterSection()
    return MasterSection(
        proxy=str(m.get("proxy", base.proxy)),
        proxy_crf=int(m.get("proxy_crf", base.proxy_crf)),
        proxy_preset=str(m.get("proxy_preset", base.proxy_preset)),
        vfr=str(m.get("vfr", base.vfr)),
        hdr=str(m.get("hdr", base.hdr)),
        alpha=str(m.get("alpha", base.alpha)),
    )


def _rule(item: Mapping[str, Any]) -> Rule:
    ext = item.get("ext")
    return Rule(
        steps=tuple(item["steps"]),
        glob=item.get("glob"),
        ext=None if ext is None else tuple(ext),
        min_width=_count(item.get("min_width")),
        min_height=_count(item.get("min_height")),
        max_width=_count(item.get("max_width")),
        max_height=_count(item.get("max_height")),
        tags=tuple(item.get("tags", ())),
    )


def _privacy(data: Mapping[str, Any]) -> PrivacySection:
    return PrivacySection(
        delete_after_download=bool(data.get("delete_after_download", False)),
        policies=tuple(
            UploadPolicy(
                project=str(item.get("project", "*")),
                path=str(item.get("path", "*")),
                upload=str(item.get("upload", "allow")),
                delete_after_download=item.get("delete_after_download"),
            )
            for item in data.get("policies") or ()
        ),
    )
