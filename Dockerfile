# routecar sidecar image.
#   docker build -t routecar:0.1.0 .
# The image runs as a numeric non-root user, on a read-only root filesystem: the config is
# mounted at /etc/routecar and the route log lives on a volume at /var/lib/routecar. Nothing
# is downloaded at start. The Helm chart in helm/routecar runs it this way.

# ---- builder: every dependency hash-checked, the project built without reaching PyPI again ----
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# The build backend lives in its own venv so that it never reaches the runtime image; it is
# pinned by hash like the runtime dependencies (setuptools >= 70.1 builds wheels on its own,
# without the `wheel` package).
RUN python -m venv /opt/build \
    && echo "setuptools==84.2.1 --hash=sha256:ca140b45d5325a9478f880e351484f62fef15f336462e449ca0c03c873d589c2" > /tmp/build.lock \
    && /opt/build/bin/pip install --no-cache-dir --require-hashes --no-deps -r /tmp/build.lock

# The runtime venv gets no pip or setuptools of its own (less to patch, less to exploit):
# the build venv's pip installs into it with --python. Wheels only, because the slim image has
# no compiler; every dependency ships manylinux wheels for amd64 and arm64.
COPY requirements.lock ./
RUN python -m venv --without-pip /opt/routecar \
    && /opt/build/bin/pip --python /opt/routecar/bin/python install --no-cache-dir \
        --require-hashes --no-deps --only-binary=:all: -r requirements.lock

COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
    && /opt/build/bin/pip --python /opt/routecar/bin/python install --no-cache-dir --no-deps /tmp/dist/routecar-*.whl \
    && /opt/routecar/bin/routecar --help > /dev/null

# ---- runtime ----
FROM python:3.11-slim

LABEL org.opencontainers.image.title="routecar" \
      org.opencontainers.image.description="A small, fast LLM routing sidecar: model routing, failover and an explainable route log" \
      org.opencontainers.image.licenses="Apache-2.0"

# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only, and pip already compiled the
# bytecode in the builder. ROUTECAR_CONFIG is where the chart mounts the ConfigMap directory.
#
# Memory (measured with benchmarks/footprint.py; RSS of an idle sidecar after its first request):
# - SSL_CERT_FILE/SSL_CERT_DIR: the upstream client builds one verifying TLS context at start-up
#   (when a provider is https), and loading it parses the whole CA bundle (about 140
#   certificates): ~2 MB resident and 20-30 ms. With the bundle file empty, OpenSSL finds trust
#   anchors in the hashed directory that ca-certificates keeps next to the bundle (the same CA
#   set), loading only the ones a handshake needs. Verification is unchanged. Set SSL_CERT_FILE at deploy time to trust a
#   bundle of your own instead.
# - MALLOC_ARENA_MAX: the route log, the log listener and the resolver run in threads; without
#   a cap glibc gives each its own malloc arena, and their free pages stay resident (0.1-0.3 MB).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/routecar/bin:$PATH \
    ROUTECAR_CONFIG=/etc/routecar/sidecar.yaml \
    SSL_CERT_FILE=/dev/null \
    SSL_CERT_DIR=/etc/ssl/certs \
    MALLOC_ARENA_MAX=2

# A fixed numeric uid/gid so that Kubernetes can verify runAsNonRoot without a passwd lookup.
RUN groupadd --gid 10001 routecar \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home --home-dir /var/lib/routecar \
        --shell /usr/sbin/nologin routecar \
    && mkdir -p /etc/routecar /var/lib/routecar \
    && chown 10001:10001 /var/lib/routecar

COPY --from=builder /opt/routecar /opt/routecar

# A relative route_log.path (the default is ./routes.db) then lands on the writable volume.
WORKDIR /var/lib/routecar
VOLUME ["/var/lib/routecar"]

USER 10001:10001

# 7300: data plane (loopback by default: apps in the same pod call localhost:7300).
# 7301: admin plane (/healthz, /readyz, /metrics, /state).
EXPOSE 7300 7301

# For docker/compose users; Kubernetes ignores it and uses the chart's probes instead. It runs
# inside the container, so the default loopback admin address works.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7301/healthz', timeout=2)"]

ENTRYPOINT ["routecar"]
CMD ["serve", "-c", "/etc/routecar/sidecar.yaml"]
