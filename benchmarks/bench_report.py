"""The markdown report of one harness run: a summary against the targets, then the details."""

from __future__ import annotations

import math
from typing import Any, Callable

from bench_load import StreamResult, WrkResult, summarize

TARGETS = ("direct", "bare", "routecar")  # a run with --baseline adds "baseline" (routecar@REV)
LABEL = {"direct": "direct (floor)", "bare": "bare aiohttp proxy", "routecar": "routecar"}


def _targets(r: dict[str, Any]) -> list[str]:
    return r.get("targets", list(TARGETS))


def _label(r: dict[str, Any], t: str) -> str:
    return r.get("labels", LABEL)[t]


def _num(x: float, digits: int, sign: str = "") -> str:
    """`sign` "+" writes the sign of a delta, which is then positive or negative at a glance."""
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:{sign},.{digits}f}"


def cell(values: list[float], digits: int = 2, unit: str = "", sign: str = "") -> str:
    """`median [min–max]` of per-round values; the range is left off for a single value."""
    s = summarize(values)
    if s["n"] == 0:
        return "n/a"
    text = _num(s["median"], digits, sign) + unit
    if s["n"] > 1:
        text += f" [{_num(s['min'], digits, sign)}–{_num(s['max'], digits, sign)}]"
    return text


def verdict(value: float, limit: float, higher_is_better: bool = False) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    ok = value >= limit if higher_is_better else value <= limit
    return "PASS" if ok else "**MISS**"


def _added(res: dict[str, list[Any]], target: str, attr: str) -> list[float]:
    """Per-round difference target − direct of one attribute (rounds paired by index)."""
    return [getattr(t, attr) - getattr(d, attr) for t, d in zip(res[target], res["direct"])]


def _ttft_added(res: dict[str, list[StreamResult]], target: str, base: str = "direct") -> list[float]:
    return [t.ttft_pct(50) - d.ttft_pct(50) for t, d in zip(res[target], res[base])]


def _cpu_us(x: WrkResult) -> float:
    """Proxy CPU time (utime + stime from /proc/PID/stat) per request of one wrk run, in µs."""
    return x.cpu["proxy"] / x.rps * 1e6 if "proxy" in x.cpu and x.rps else float("nan")


def summary_table(r: dict[str, Any]) -> list[str]:
    targets = _targets(r)
    proxies = targets[1:]  # bare, routecar and, with --baseline, routecar@REV
    rows = ["| measure | " + " | ".join(_label(r, t) for t in targets) + " | target for routecar | result |",
            "| --- " * (len(targets) + 3) + "|"]
    mx: dict[str, list[WrkResult]] = r["max_rps"]

    def vs_bare(t: str) -> list[float]:
        return [a.rps / b.rps for a, b in zip(mx[t], mx["bare"])]

    cells = [cell([x.rps for x in mx[t]], 0) + (f" ({cell(vs_bare(t), 2, '×')} bare)" if t in ("routecar", "baseline")
                                                  else "") for t in targets]
    rows.append("| max RPS, 64 connections | " + " | ".join(cells)
                + f" | ≥ 1.0× bare | {verdict(summarize(vs_bare('routecar'))['median'], 1.0, True)} |")
    limits = {(50, "p50_ms"): 0.8, (500, "p50_ms"): 0.5, (500, "p99_ms"): 1.5}
    for rate, res in r["paced"].items():
        for attr, name in (("p50_ms", "p50"), ("p99_ms", "p99")):
            base = cell([getattr(x, attr) for x in res["direct"]], 3, " ms")
            cells = [base] + [cell([getattr(x, attr) for x in res[t]], 3, " ms")
                              + f" ({cell(_added(res, t, attr), 3, sign='+')})" for t in proxies]
            lim = limits.get((int(rate), attr))
            added = summarize(_added(res, "routecar", attr))["median"]
            tgt = f"added ≤ {lim} ms" if lim is not None else "—"
            res_txt = verdict(added, lim) if lim is not None else "—"
            rows.append(f"| latency {name} @ {rate:g} RPS (added over direct) | " + " | ".join(cells)
                        + f" | {tgt} | {res_txt} |")
    for conc, res in r["stream"].items():
        cells = [cell([x.ttft_pct(50) for x in res["direct"]], 3, " ms")]
        cells += [cell([x.ttft_pct(50) for x in res[t]], 3, " ms") + f" ({cell(_ttft_added(res, t), 3, sign='+')})"
                  for t in proxies]
        added = summarize(_ttft_added(res, "routecar"))["median"]
        rows.append(f"| streaming TTFT p50, concurrency {conc} (added) | " + " | ".join(cells)
                    + f" | added ≤ 1 ms | {verdict(added, 1.0)} |")
    expected = r["expected_events"]
    ev_cells, all_equal = [], True
    for t in targets:
        got = [e for conc in r["stream"].values() for res in conc[t] for e in res.events]
        bad = sum(1 for e in got if e != expected)
        all_equal &= bad == 0 and bool(got)
        ev_cells.append(f"{len(got) - bad}/{len(got)} streams with {expected}/{expected}")
    rows.append("| SSE events received == sent | " + " | ".join(ev_cells)
                + f" | every stream | {'PASS' if all_equal else '**MISS**'} |")
    cold = r["cold"]
    rc_cold = [c["seconds"] for c in cold["routecar"]]
    rows.append(f"| cold start to first 200 | python -c pass: {cell(cold['python'], 3, ' s')} | "
                + " | ".join(cell([c["seconds"] for c in cold.get(t, [])], 3, " s") for t in proxies)
                + f" | ≤ 0.5 s | {verdict(summarize(rc_cold)['median'], 0.5)} |")
    if cold.get("error"):
        rows.append(f"| cold start error | {cold['error'][:200]} |" + " |" * (len(targets) + 1))
    rss = r["rss"]
    for key, name, lim in (("idle", "RSS idle (after the first request)", 45),
                           ("peak", "RSS peak (VmHWM after all load)", 60)):
        rows.append(f"| {name} | — | " + " | ".join(f"{_num(rss[t][key], 1)} MB" for t in proxies)
                    + f" | ≤ {lim} MB | {verdict(rss['routecar'][key], lim)} |")
    return rows


def baseline_table(r: dict[str, Any]) -> list[str]:
    """routecar against routecar@REV: each round's pair ran back to back on the same core, so a
    ratio or delta is taken per round first (the pair shares that round's machine state)."""
    base = _label(r, "baseline")
    out = ["", f"### routecar vs {base} (same run; ratios and deltas paired by round)", "",
           f"| measure | routecar | {base} | routecar vs {base} |", "| --- | --- | --- | --- |"]

    def row(name: str, res: dict[str, list[Any]], value: Callable[[Any], float], digits: int, unit: str,
            ratio: str = "") -> None:
        a, b = ([value(x) for x in res[t]] for t in ("routecar", "baseline"))
        vs = (cell([x / y for x, y in zip(a, b) if y], 3, "×") + ratio if ratio
              else cell([x - y for x, y in zip(a, b)], digits, unit, "+"))
        out.append(f"| {name} | {cell(a, digits, unit)} | {cell(b, digits, unit)} | {vs} |")

    row("max RPS, 64 connections", r["max_rps"], lambda x: x.rps, 0, "", " throughput")
    row("proxy CPU per request (max RPS)", r["max_rps"], _cpu_us, 1, " µs", " CPU")
    for rate, res in r["paced"].items():
        row(f"latency p50 @ {rate:g} RPS", res, lambda x: x.p50_ms, 3, " ms")
        row(f"latency p99 @ {rate:g} RPS", res, lambda x: x.p99_ms, 3, " ms")
    for conc, res in r["stream"].items():
        row(f"streaming TTFT p50, concurrency {conc}", res, lambda x: x.ttft_pct(50), 3, " ms")
    rss = {t: {k: [r["rss"][t][k]] for k in ("idle", "peak")} for t in ("routecar", "baseline")}
    row("RSS idle (after the first request)", {t: rss[t]["idle"] for t in rss}, float, 1, " MB")
    row("RSS peak (VmHWM after all load)", {t: rss[t]["peak"] for t in rss}, float, 1, " MB")
    cold = {t: [c["seconds"] for c in r["cold"].get(t, [])] for t in ("routecar", "baseline")}
    row("cold start to first 200 (runs paired in order)", cold, float, 3, " s")
    return out


def baseline_line(r: dict[str, Any]) -> str:
    """The before/after in one line: throughput ratio, latency deltas, CPU per request of each."""
    def paired(res: dict[str, list[Any]], value: Callable[[Any], float], digits: int, sign: str = "",
               ratio: bool = False) -> str:
        pairs = [(value(a), value(b)) for a, b in zip(res["routecar"], res["baseline"])]
        return cell([a / b if ratio else a - b for a, b in pairs if b or not ratio], digits, sign=sign)

    mx = r["max_rps"]
    parts = [f"throughput {paired(mx, lambda x: x.rps, 3, ratio=True)}×"]
    for rate, res in r["paced"].items():
        parts.append(f"p50 / p99 Δ @ {rate:g} RPS {paired(res, lambda x: x.p50_ms, 3, '+')} / "
                     f"{paired(res, lambda x: x.p99_ms, 3, '+')} ms")
    cpu = [cell([_cpu_us(x) for x in mx[t]], 1) for t in ("routecar", "baseline")]
    parts.append(f"proxy CPU per request {cpu[0]} µs vs {cpu[1]} µs")
    return f"- **vs baseline** (routecar ÷ or − {_label(r, 'baseline')}, paired by round): " + "; ".join(parts)


def detail_tables(r: dict[str, Any]) -> list[str]:
    out = ["", "### Achieved rates, errors and foreign load (per round)", "",
           "Foreign load: CPU taken on (core 0, core 1) by processes outside the benchmark; a run with",
           "more than 10% of a core is marked NOISY.", "",
           "| run | target | achieved RPS per round | errors | foreign CPU core 0 / core 1 per round | flag |",
           "| --- | --- | --- | --- | --- | --- |"]
    runs = [("max RPS", r["max_rps"], 0)] + [(f"{rate:g} RPS", by, 1) for rate, by in r["paced"].items()]
    for name, by_target, digits in runs:
        for t in _targets(r):
            res = by_target[t]
            flags = ["SHORT >5%"] * any(x.short for x in res) + ["errors"] * any(x.errors for x in res)
            flags += ["NOISY"] * any(x.noisy for x in res)
            foreign = ", ".join("{:.0%} / {:.0%}".format(*x.foreign()) for x in res)
            out.append(f"| {name} | {_label(r, t)} | {', '.join(_num(x.rps, digits) for x in res)} | "
                       f"{sum(x.errors for x in res)} | {foreign} | {' '.join(flags)} |")
    out += ["", "### CPU during the max-RPS runs (share of one core, median of rounds)", "",
            "| target | proxy process | proxy CPU per request | fake upstream | wrk | core 0 (upstream + wrk) | core 1 (proxy) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for t in _targets(r):
        res = r["max_rps"][t]

        def med(key: str) -> str:
            vals = [x.cpu[key] * 100 for x in res if key in x.cpu]
            return cell(vals, 0, "%") if vals else "—"

        per_req = [v for v in map(_cpu_us, res) if v == v]
        us = cell(per_req, 0, " µs") if per_req else "—"
        out.append(f"| {_label(r, t)} | {med('proxy')} | {us} | {med('fake')} | {med('wrk')} | {med('cpu0')} | {med('cpu1')} |")
    out += ["", "### Streaming detail", "",
            "| concurrency | target | streams | failures | TTFT p50 / p90 / max (ms, all rounds) | reads carrying >1 content event | foreign CPU core 0 / core 1 per round |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for conc, by_target in r["stream"].items():
        for t in _targets(r):
            merged = StreamResult([x for s in by_target[t] for x in s.ttfts_ms], [], 0, 0)
            n = len(merged.ttfts_ms)
            fails = sum(s.failures for s in by_target[t])
            coalesced = sum(s.coalesced_reads for s in by_target[t])
            out.append(f"| {conc} | {_label(r, t)} | {n} | {fails} | {_num(merged.ttft_pct(50), 3)} / "
                       f"{_num(merged.ttft_pct(90), 3)} / {_num(max(merged.ttfts_ms, default=float('nan')), 3)} | "
                       f"{coalesced} | {', '.join('{:.0%} / {:.0%}'.format(*s.foreign()) for s in by_target[t])}"
                       f"{' NOISY' if any(s.noisy for s in by_target[t]) else ''} |")
    if "micro" in r:  # skipped with --no-micro
        out += ["", "### Route decision and route log (pinned to the proxy core)", "", "```"]
        out += r["micro"]["router"] + r["micro"]["routelog"] + ["```"]
    return out


def _noise_line(r: dict[str, Any]) -> str:
    runs = [x for by in [r["max_rps"], *r["paced"].values(), *r["stream"].values()]
            for res in by.values() for x in res]
    noisy = sum(1 for x in runs if x.noisy)
    return (f"- measurements still disturbed by other processes (>10% of a core) after {r['reruns'][0]} "
            f"rerun(s): {noisy} of {len(runs)}")


def render(r: dict[str, Any]) -> str:
    m = r["meta"]
    lines = [f"## routecar benchmark — {m['date']}{' (quick)' if m['quick'] else ''}", "",
             f"- machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gb']:.1f} GiB RAM, Linux {m['kernel']}",
             f"- Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
             f"- load generator: {m['wrk']}; code under test: {m['code']}" + (
                 f"; baseline ({_label(r, 'baseline')}, same core): {m['baseline_code']}"
                 if m.get("baseline_code") else ""),
             f"- command: `{m['command']}`; {m['rounds']} round(s), {m['seconds']:g} s per wrk run, "
             f"fixed-rate runs with {m['paced_conns']} connections",
             f"- pinning: proxy under test on core {m['proxy_core']}, fake upstream + wrk + stream client "
             f"on core {m['load_core']}; fake upstream: {m['chunks']} chunks, {m['chunk_delay_ms']:g} ms apart",
             "- background CPU sampled before each round: " + "; ".join(
                 ", ".join(f"{k} {v:.0%}" for k, v in sorted(b.items())) for b in r["background"]),
             _noise_line(r),
             *([baseline_line(r)] if "baseline" in _targets(r) else []),
             "", "Cells: median of rounds [min–max]; `(+x)` is the part added over direct calls in the same round.",
             ""]
    lines += summary_table(r)
    if "baseline" in _targets(r):
        lines += baseline_table(r)
    lines += detail_tables(r)
    return "\n".join(lines) + "\n"
