"""routecar: a small, fast LLM routing sidecar."""

# The same string as `version` in pyproject.toml (tests/observability/test_obs_version.py holds
# them together). Read from here rather than through importlib.metadata, which would cost the
# server about 0.5 MB of resident memory and 7 ms of start-up for one label value.
__version__ = "0.1.0"
