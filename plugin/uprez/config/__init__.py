"""The uprez configuration: loading (:mod:`.load`), its messages (:mod:`.problems`) and the
typed views the rest of uprez reads (:mod:`.sections`)."""

from uprez.config.load import DEFAULTS, Config, ConfigProblem, load_config, schema, validate_file

__all__ = ["DEFAULTS", "Config", "ConfigProblem", "load_config", "schema", "validate_file"]
