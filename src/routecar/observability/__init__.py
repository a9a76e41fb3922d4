"""Prometheus metrics (`metrics.Metrics`) and structured JSON logging (`jsonlog.setup_logging`).

Import the modules themselves: this package re-exports nothing, so importing one never pays for
another (prometheus-client costs about 40 ms to import, and `routecar serve` configures logging
before anything else). Secret scrubbing is `routecar.redaction`, below both this package and
the route log.
"""
