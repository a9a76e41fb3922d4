"""The replay report as text for a terminal (`--json` prints the dict itself)."""

from __future__ import annotations

from typing import Any


def _usd(x: float) -> str:
    if x < 1:
        return f"${x:.6f}"  # a few requests of a cheap model cost millionths
    return f"${x:.4f}" if x < 100 else f"${x:,.2f}"


def _delta(then: float, now: float) -> str:
    if then == 0:
        return ""
    return f" ({(now - then) / then * 100:+.1f}%)"


def _mix(models: dict[str, dict[str, int]]) -> list[str]:
    then, now = models["logged"], models["replayed"]
    names = sorted(set(then) | set(now), key=lambda m: (-(then.get(m, 0) + now.get(m, 0)), m))
    width = max((len(n) for n in names), default=0)
    return [f"    {n:<{width}}  {then.get(n, 0):>7} -> {now.get(n, 0)}" for n in names]


def render_text(report: dict[str, Any], header: str = "") -> str:
    cost = report["cost_usd"]
    judged = report["requests"] - report["unjudged"]
    lines = [header] if header else []
    lines.append(f"requests {report['requests']}  judged {judged}  changed {report['changed']}  "
                 f"unjudged {report['unjudged']}")
    lines.append(f"estimated cost {_usd(cost['logged'])} -> {_usd(cost['replayed'])}"
                 f"{_delta(cost['logged'], cost['replayed'])}")
    for name, r in report["by_route"].items():
        c = r["cost_usd"]
        lines.append("")
        lines.append(f"{name}: {r['requests']} requests, {r['changed']} changed, {r['unjudged']} unjudged")
        lines.append(f"  cost {_usd(c['logged'])} -> {_usd(c['replayed'])}{_delta(c['logged'], c['replayed'])}")
        if r["models"]["logged"] or r["models"]["replayed"]:
            lines.append("  models  (logged -> replayed)")
            lines.extend(_mix(r["models"]))
        if r["rejected"]:
            lines.append("  NEW would reject: " + ", ".join(f"{k} {n}" for k, n in r["rejected"].items()))
        for why, n in r["unjudged_reasons"].items():
            lines.append(f"  unjudged {n}: {why}")
    return "\n".join(lines)
