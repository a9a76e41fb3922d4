"""The markdown report of one harness run: a summary against the targets, then the details."""

from __future__ import annotations

import math
from typing import Any

from bench_load import StreamResult, WrkResult, summarize

TARGETS = ("direct", "bare", "routecar")
LABEL = {"direct": "direct (floor)", "bare": "bare aiohttp proxy", "routecar": "routecar"}


def _num(x: float, digits: int) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def cell(values: list[float], digits: int = 2, unit: str = "") -> str:
    """`median [min–max]` of per-round values; the range is left off for a single value."""
    s = summarize(values)
    if s["n"] == 0:
        return "n/a"
    text = _num(s["median"], digits) + unit
    if s["n"] > 1:
        text += f" [{_num(s['min'], digits)}–{_num(s['max'], digits)}]"
    return text


def verdict(value: float, limit: float, higher_is_better: bool = False) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    ok = value >= limit if higher_is_better else value <= limit
    return "PASS" if ok else "**MISS**"


def _added(res: dict[str, list[Any]], target: str, attr: str) -> list[float]:
    """Per-round difference target − direct of one attribute (rounds paired by index)."""
    return [getattr(t, attr) - getattr(d, attr) for t, d in zip(res[target], res["direct"])]


def _ttft_added(res: dict[str, list[StreamResult]], target: str) -> list[float]:
    return [t.ttft_pct(50) - d.ttft_pct(50) for t, d in zip(res[target], res["direct"])]


def summary_table(r: dict[str, Any]) -> list[str]:
    rows = ["| measure | direct (floor) | bare aiohttp proxy | routecar | target for routecar | result |",
            "| --- | --- | --- | --- | --- | --- |"]
    mx: dict[str, list[WrkResult]] = r["max_rps"]
    ratio = [a.rps / b.rps for a, b in zip(mx["routecar"], mx["bare"])]
    rows.append("| max RPS, 64 connections | " + " | ".join(cell([x.rps for x in mx[t]], 0) for t in TARGETS)
                + f" ({cell(ratio, 2, '×')} bare) | ≥ 1.0× bare | {verdict(summarize(ratio)['median'], 1.0, True)} |")
    limits = {(50, "p50_ms"): 0.8, (500, "p50_ms"): 0.5, (500, "p99_ms"): 1.5}
    for rate, res in r["paced"].items():
        for attr, name in (("p50_ms", "p50"), ("p99_ms", "p99")):
            base = cell([getattr(x, attr) for x in res["direct"]], 3, " ms")
            cells = [base] + [cell([getattr(x, attr) for x in res[t]], 3, " ms")
                              + f" (+{cell(_added(res, t, attr), 3)})" for t in ("bare", "routecar")]
            lim = limits.get((int(rate), attr))
            added = summarize(_added(res, "routecar", attr))["median"]
            tgt = f"added ≤ {lim} ms" if lim is not None else "—"
            res_txt = verdict(added, lim) if lim is not None else "—"
            rows.append(f"| latency {name} @ {rate:g} RPS (added over direct) | " + " | ".join(cells)
                        + f" | {tgt} | {res_txt} |")
    for conc, res in r["stream"].items():
        cells = [cell([x.ttft_pct(50) for x in res["direct"]], 3, " ms")]
        cells += [cell([x.ttft_pct(50) for x in res[t]], 3, " ms") + f" (+{cell(_ttft_added(res, t), 3)})"
                  for t in ("bare", "routecar")]
        added = summarize(_ttft_added(res, "routecar"))["median"]
        rows.append(f"| streaming TTFT p50, concurrency {conc} (added) | " + " | ".join(cells)
                    + f" | added ≤ 1 ms | {verdict(added, 1.0)} |")
    expected = r["expected_events"]
    ev_cells, all_equal = [], True
    for t in TARGETS:
        got = [e for conc in r["stream"].values() for res in conc[t] for e in res.events]
        bad = sum(1 for e in got if e != expected)
        all_equal &= bad == 0 and bool(got)
        ev_cells.append(f"{len(got) - bad}/{len(got)} streams with {expected}/{expected}")
    rows.append("| SSE events received == sent | " + " | ".join(ev_cells)
                + f" | every stream | {'PASS' if all_equal else '**MISS**'} |")
    cold = r["cold"]
    rc_cold = [c["seconds"] for c in cold["routecar"]]
    rows.append(f"| cold start to first 200 | python -c pass: {cell(cold['python'], 3, ' s')} | "
                f"{cell([c['seconds'] for c in cold['bare']], 3, ' s')} | {cell(rc_cold, 3, ' s')} | ≤ 0.5 s | "
                f"{verdict(summarize(rc_cold)['median'], 0.5)} |")
    if cold.get("error"):
        rows.append(f"| cold start error | {cold['error'][:200]} | | | | |")
    rss = r["rss"]
    rows.append(f"| RSS idle (after the first request) | — | {_num(rss['bare']['idle'], 1)} MB | "
                f"{_num(rss['routecar']['idle'], 1)} MB | ≤ 45 MB | {verdict(rss['routecar']['idle'], 45)} |")
    rows.append(f"| RSS peak (VmHWM after all load) | — | {_num(rss['bare']['peak'], 1)} MB | "
                f"{_num(rss['routecar']['peak'], 1)} MB | ≤ 60 MB | {verdict(rss['routecar']['peak'], 60)} |")
    return rows


def detail_tables(r: dict[str, Any]) -> list[str]:
    out = ["", "### Achieved rates, errors and foreign load (per round)", "",
           "Foreign load: CPU taken on (core 0, core 1) by processes outside the benchmark; a run with",
           "more than 10% of a core is marked NOISY.", "",
           "| run | target | achieved RPS per round | errors | foreign CPU core 0 / core 1 per round | flag |",
           "| --- | --- | --- | --- | --- | --- |"]
    runs = [("max RPS", r["max_rps"], 0)] + [(f"{rate:g} RPS", by, 1) for rate, by in r["paced"].items()]
    for name, by_target, digits in runs:
        for t in TARGETS:
            res = by_target[t]
            flags = ["SHORT >5%"] * any(x.short for x in res) + ["errors"] * any(x.errors for x in res)
            flags += ["NOISY"] * any(x.noisy for x in res)
            foreign = ", ".join("{:.0%} / {:.0%}".format(*x.foreign()) for x in res)
            out.append(f"| {name} | {LABEL[t]} | {', '.join(_num(x.rps, digits) for x in res)} | "
                       f"{sum(x.errors for x in res)} | {foreign} | {' '.join(flags)} |")
    out += ["", "### CPU during the max-RPS runs (share of one core, median of rounds)", "",
            "| target | proxy process | proxy CPU per request | fake upstream | wrk | core 0 (upstream + wrk) | core 1 (proxy) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for t in TARGETS:
        res = r["max_rps"][t]

        def med(key: str) -> str:
            vals = [x.cpu[key] * 100 for x in res if key in x.cpu]
            return cell(vals, 0, "%") if vals else "—"

        per_req = [x.cpu["proxy"] / x.rps * 1e6 for x in res if "proxy" in x.cpu and x.rps]
        us = cell(per_req, 0, " µs") if per_req else "—"
        out.append(f"| {LABEL[t]} | {med('proxy')} | {us} | {med('fake')} | {med('wrk')} | {med('cpu0')} | {med('cpu1')} |")
    out += ["", "### Streaming detail", "",
            "| concurrency | target | streams | failures | TTFT p50 / p90 / max (ms, all rounds) | reads carrying >1 content event | foreign CPU core 0 / core 1 per round |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for conc, by_target in r["stream"].items():
        for t in TARGETS:
            merged = StreamResult([x for s in by_target[t] for x in s.ttfts_ms], [], 0, 0)
            n = len(merged.ttfts_ms)
            fails = sum(s.failures for s in by_target[t])
            coalesced = sum(s.coalesced_reads for s in by_target[t])
            out.append(f"| {conc} | {LABEL[t]} | {n} | {fails} | {_num(merged.ttft_pct(50), 3)} / "
                       f"{_num(merged.ttft_pct(90), 3)} / {_num(max(merged.ttfts_ms, default=float('nan')), 3)} | "
                       f"{coalesced} | {', '.join('{:.0%} / {:.0%}'.format(*s.foreign()) for s in by_target[t])}"
                       f"{' NOISY' if any(s.noisy for s in by_target[t]) else ''} |")
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
             f"- load generator: {m['wrk']}; code under test: {m['code']}",
             f"- command: `{m['command']}`; {m['rounds']} round(s), {m['seconds']:g} s per wrk run, "
             f"fixed-rate runs with {m['paced_conns']} connections",
             f"- pinning: proxy under test on core {m['proxy_core']}, fake upstream + wrk + stream client "
             f"on core {m['load_core']}; fake upstream: {m['chunks']} chunks, {m['chunk_delay_ms']:g} ms apart",
             "- background CPU sampled before each round: " + "; ".join(
                 ", ".join(f"{k} {v:.0%}" for k, v in sorted(b.items())) for b in r["background"]),
             _noise_line(r),
             "", "Cells: median of rounds [min–max]; `(+x)` is the part added over direct calls in the same round.",
             ""]
    lines += summary_table(r)
    lines += detail_tables(r)
    return "\n".join(lines) + "\n"
