"""`sidecar.yaml`: loading, validation and the frozen objects the rest of routecar reads."""

from .errors import ConfigError
from .loader import load_config, parse_config
from .model import Config

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]
