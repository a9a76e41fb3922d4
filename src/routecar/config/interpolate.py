"""`${VAR}` and `${VAR:-default}` in string values, resolved after YAML parsing.

Interpolating the parsed tree rather than the raw text means a variable's value can never
change the YAML structure (a value with a ": " or a newline stays one string), and every
problem is reported at the key path where the reference was written.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .fields import Interpolated, Issues, at, join

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A reference as the JSON Schema recognizes one (unanchored: it may sit inside a longer string).
REFERENCE_PATTERN = r"\$\{" + _NAME.pattern + r"(:-[^}]*)?\}"


def _is_api_key(path: tuple[str, ...]) -> bool:
    # An Azure AD token is a key too: unset, it leaves one provider unauthenticated, not the sidecar down.
    return len(path) == 3 and path[0] == "providers" and path[2] in ("api_key", "azure_ad_token")


def interpolate(tree: Any, env: Mapping[str, str], issues: Issues) -> Any:
    """A copy of the parsed YAML with every string value interpolated."""
    return _walk(tree, (), "", env, issues)


def _walk(value: Any, keys: tuple[str, ...], path: str, env: Mapping[str, str], issues: Issues) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, (*keys, str(k)), join(path, k), env, issues) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*keys, "[]"), at(path, i), env, issues) for i, v in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        return _substitute(value, keys, path, env, issues)
    return value


def _substitute(
    text: str, keys: tuple[str, ...], path: str, env: Mapping[str, str], issues: Issues
) -> str | None:
    secret = _is_api_key(keys)
    out: list[str] = []
    missing: list[str] = []
    i = 0
    substituted = False
    # Bounded: every iteration consumes at least one character of `text`.
    while i < len(text):
        if text.startswith("$${", i):
            out.append("${")  # "$${" is a literal "${", e.g. in a regex
            i += 3
            continue
        if not text.startswith("${", i):
            out.append(text[i])
            i += 1
            continue
        end = text.find("}", i + 2)
        if end < 0:
            issues.error(path, "unterminated '${' (write '$${' for a literal '${')")
            return text
        expr = text[i + 2 : end]
        name, sep, default = expr.partition(":-")
        if not _NAME.fullmatch(name):
            shown = "" if secret else f" '${{{expr}}}'"
            issues.error(path, f"invalid variable reference{shown}: expected ${{NAME}} or ${{NAME:-default}}")
            return text
        value = env.get(name)
        if sep and not value:
            value = default  # like the shell: the default applies when unset or empty
        if value is None:
            missing.append(name)
            value = ""
        out.append(value)
        substituted = True
        i = end + 1
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        plural, verb = ("s", "are") if len(set(missing)) > 1 else ("", "is")
        if secret:
            # One provider without credentials must not stop the sidecar serving the others.
            issues.warn(
                path,
                f"environment variable{plural} {names} {verb} not set; "
                "requests to this provider will be unauthenticated",
            )
            return None
        hint = "use ${NAME:-default} for a default"
        issues.error(path, f"environment variable{plural} {names} {verb} not set ({hint})")
        return text
    result = "".join(out)
    return Interpolated(result) if substituted else result
