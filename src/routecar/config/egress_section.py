"""How routecar reaches a provider: `providers.NAME.proxy` (or the environment's proxy
variables) and `providers.NAME.tls` (a private CA, a client certificate).

Both are resolved at load: the environment is read once, files are read and checked (a CA
bundle that is not PEM, a key that does not match its certificate) so a mistake is a config
error naming the key, never a failed connection later.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlsplit

from .fields import Issues
from .kinds import Str
from .model import ProxyConfig, TlsConfig
from .proxy_env import proxy_variable
from .shapes import Key, Object, Values

# A CA bundle (the whole Mozilla store is ~220 KB), a certificate chain or a key; a bigger file
# is a wrong path, not a certificate.
MAX_TLS_FILE = 4 << 20
_PROXY_FORM = "must be http://[user:pass@]host:port, none, or empty"

PROXY = Key(
    "proxy",
    # Secret: the URL may carry the proxy's password, so messages never quote it.
    Str(secret=True, allow_empty=True),
    "egress proxy for this provider, http://[user:pass@]host:port (CONNECT tunnels for https:// "
    "upstreams); none or empty: connect directly; left out: HTTPS_PROXY / HTTP_PROXY / NO_PROXY "
    "of the environment (curl's rules), read at load and reload",
)

TLS = Key("tls", Object(
    Key("ca_file", Str(), "PEM bundle of the CAs that may sign the upstream's certificate; replaces the system "
                          "store (as curl's --cacert); relative to the config's directory"),
    Key("cert_file", Str(), "PEM client certificate (chain) for mutual TLS; may hold the key too"),
    Key("key_file", Str(), "PEM private key of cert_file (unencrypted)"),
    name="tls",
), "TLS towards an https:// upstream: private CA, client certificate; files are read at load and reload")


def build_proxy(issues: Issues, v: Values, base_url: str, env: Mapping[str, str]) -> ProxyConfig | None:
    """The proxy a provider's connections go through, or None for direct connections."""
    if "proxy" in v.given:
        value = v["proxy"].strip()
        if value.lower() in ("", "none"):
            return None
        return _parse_proxy(issues, v.path_of("proxy"), value)
    parts = urlsplit(base_url)
    if not parts.hostname:
        return None  # base_url's own error is reported already
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return None
    found = proxy_variable(parts.scheme.lower(), parts.hostname, port, env)
    if found is None:
        return None
    name, value = found
    return _parse_proxy(issues, f"{name} (environment, for {v.path})", value)


def _parse_proxy(issues: Issues, path: str, url: str) -> ProxyConfig | None:
    if "://" not in url:
        url = "http://" + url  # as curl: a proxy without a scheme is an http one
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        issues.error(path, f"{_PROXY_FORM} (the port is not a number in 1-65535)")
        return None
    if parts.scheme.lower() != "http":
        issues.error(path, f"{_PROXY_FORM} (only http:// proxies are supported, got {parts.scheme}://)")
        return None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        issues.error(path, _PROXY_FORM)
        return None
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return ProxyConfig(parts.hostname, port or 80, username, password)


def build_tls(issues: Issues, v: Values, base_dir: Path) -> TlsConfig | None:
    if "tls" not in v.given:
        return None
    t = v["tls"]
    path = v.path_of("tls")
    if t["key_file"] is not None and t["cert_file"] is None:
        issues.error(f"{path}.key_file", "needs cert_file (the certificate this key belongs to)")
        return None
    files: dict[str, str | None] = {}
    digest = hashlib.sha256()
    for key in ("ca_file", "cert_file", "key_file"):
        files[key] = None
        if t[key] is None:
            continue
        file = Path(t[key]).expanduser()
        file = file if file.is_absolute() else base_dir / file
        data = _read(issues, f"{path}.{key}", file)
        if data is None:
            return None
        files[key] = str(file)
        digest.update(key.encode() + b"\0" + data + b"\0")
    if not any(files.values()):
        return None
    tls = TlsConfig(**files, digest=digest.hexdigest()[:16])
    try:
        client_context(tls)
    except TlsFileError as exc:
        issues.error(f"{path}.{exc.key}", exc.reason)
        return None
    if v["base_url"] and not v["base_url"].lower().startswith("https:"):
        issues.warn(path, "has no effect: base_url is not https://")
    return tls


def _read(issues: Issues, path: str, file: Path) -> bytes | None:
    try:
        with file.open("rb") as fh:
            data = fh.read(MAX_TLS_FILE + 1)
    except OSError as exc:
        issues.error(path, f"cannot read {str(file)!r}: {exc.strerror or type(exc).__name__}")
        return None
    if len(data) > MAX_TLS_FILE:
        issues.error(path, f"{str(file)!r} is over {MAX_TLS_FILE >> 20} MiB: not a certificate or key file")
        return None
    return data


class TlsFileError(ValueError):
    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key's passphrase.
    raise TlsFileError("key_file", "is encrypted; give an unencrypted key (e.g. from a Kubernetes secret)")


def client_context(tls: TlsConfig) -> ssl.SSLContext:
    """A verifying client context with `tls`'s CA bundle and client certificate; raises
    TlsFileError naming the key whose file OpenSSL refused."""
    try:
        ctx = ssl.create_default_context(cafile=tls.ca_file) if tls.ca_file else ssl.create_default_context()
    except (ssl.SSLError, OSError) as exc:
        raise TlsFileError("ca_file", f"is not a PEM bundle of CA certificates ({_reason(exc)})") from None
    if tls.cert_file:
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)
        except TlsFileError:
            raise
        except (ssl.SSLError, OSError) as exc:
            key = "key_file" if tls.key_file and "KEY" in str(exc).upper() else "cert_file"
            raise TlsFileError(key, f"cannot be used as the client certificate and key ({_reason(exc)})") from None
    return ctx


def _reason(exc: Exception) -> str:
    return getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
