"""The uprez configuration: loading (:mod:`.load`, from :mod:`.reading` a file, :mod:`.environment`
and overrides, laid over the :mod:`.defaults` by :mod:`.merging`), its messages (:mod:`.problems`),
and what the rest of uprez reads: :class:`~.configuration.Config` and its typed
:mod:`.sections`."""

from uprez.config.configuration import Config
from uprez.config.defaults import DEFAULTS, schema
from uprez.config.load import load_config, validate_file
from uprez.config.problems import ConfigProblem

__all__ = ["DEFAULTS", "Config", "ConfigProblem", "load_config", "schema", "validate_file"]
