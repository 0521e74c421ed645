"""The loaded configuration: :class:`Config`, its typed sections, and a repr that hides keys.

The rest of uprez reads the typed sections (``config.provider``, ``config.retry``, ...) rather
than dotted keys with casts; secrets (a literal API key, secret-looking plugin options) never
reach a repr, a log or an error.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from uprez.config.environment import Environment
from uprez.config.sections import (
    AccountSection,
    Budget,
    ColourSection,
    JournalSection,
    LimitsSection,
    LocalSection,
    MasterSection,
    OutputSection,
    PollingSection,
    PrivacySection,
    ProviderSection,
    PyblishSection,
    RetrySection,
    Rule,
    Sections,
    SequenceSection,
    VerifySection,
    WatchSection,
    read_sections,
)
from uprez.errors import ConfigError

__all__ = ["Config"]

_SECRET_KEY = re.compile(r"(?i)(^|_)(api_?key|key|token|secret|password|passwd)$")
_MISSING: Any = object()
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


@dataclass(frozen=True)
class Config:
    """A merged, validated configuration. Treat ``data`` as read-only.

    ``source`` is the config file it was read from, or None.
    """

    data: dict[str, Any]
    source: str | None = None
    _env: Environment = field(default_factory=Environment, repr=False, compare=False)
    _sections: Sections = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sections", read_sections(self.data))

    # The typed sections: what the rest of uprez reads.
    @property
    def provider(self) -> ProviderSection:
        return self._sections.provider

    @property
    def account(self) -> AccountSection:
        return self._sections.account

    @property
    def polling(self) -> PollingSection:
        return self._sections.polling

    @property
    def retry(self) -> RetrySection:
        return self._sections.retry

    @property
    def limits(self) -> LimitsSection:
        return self._sections.limits

    @property
    def output(self) -> OutputSection:
        return self._sections.output

    @property
    def verify(self) -> VerifySection:
        return self._sections.verify

    @property
    def journal(self) -> JournalSection:
        return self._sections.journal

    @property
    def local(self) -> LocalSection:
        return self._sections.local

    @property
    def pyblish(self) -> PyblishSection:
        return self._sections.pyblish

    @property
    def watch(self) -> WatchSection:
        return self._sections.watch

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._sections.rules

    @property
    def plugins(self) -> Mapping[str, Mapping[str, Any]]:
        """Each plugin's options, as its own schema validated them."""
        return self._sections.plugins

    @property
    def budgets(self) -> tuple[Budget, ...]:
        return self._sections.budgets

    @property
    def privacy(self) -> PrivacySection:
        return self._sections.privacy

    @property
    def master(self) -> MasterSection:
        return self._sections.master

    @property
    def sequence(self) -> SequenceSection:
        return self._sections.sequence

    @property
    def colour(self) -> ColourSection:
        return self._sections.colour

    def ledger_url(self) -> str | None:
        """The shared ledger's URL (``journal.url``, read from its variable when it names
        one); None for the SQLite file. A reference to an unset variable is a ConfigError."""
        value = self.journal.url
        if isinstance(value, Mapping):
            name = str(value.get("$env", ""))
            url = self._env.get(name)
            if not url:
                raise ConfigError(
                    f"$.journal.url: the environment variable {name} is not set; set it to "
                    "postgresql://user:password@host:5432/database, or remove journal.url to "
                    "keep the ledger on this machine"
                )
            return url
        return value

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """The value at a dotted key: ``config.get("provider.model")``.

        Raises KeyError for an unknown key unless a default is given.
        """
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is _MISSING:
                    raise KeyError(f"no configuration key {key!r}")
                return default
            node = node[part]
        return node

    def api_key(self) -> str | None:
        """The API key: read from the named environment variable, or the literal; None if unset."""
        value = self.get("provider.api_key", None)
        if isinstance(value, Mapping):
            return self._env.get(str(value.get("$env", "")))
        return value if isinstance(value, str) and value else None

    def redacted(self) -> dict[str, Any]:
        """A deep copy safe to show: ``{"$env": NAME}`` references stay, literal keys become
        ``"<redacted>"`` (also for secret-looking keys in plugin options and model inputs)."""
        result: dict[str, Any] = _redact(self.data)
        return result

    def __repr__(self) -> str:
        return f"Config(source={self.source!r}, data={self.redacted()!r})"


def _redact(value: Any, key: str = "") -> Any:
    if key == "url" and isinstance(value, str):  # journal.url may carry a password
        return _URL_PASSWORD.sub(r"\1<redacted>@", value)
    if _SECRET_KEY.search(key) and value is not None:
        is_reference = isinstance(value, Mapping) and set(value) == {"$env"}
        return copy.deepcopy(dict(value)) if is_reference else "<redacted>"
    if isinstance(value, Mapping):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value
