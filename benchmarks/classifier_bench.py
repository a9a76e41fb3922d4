"""Cost of the heuristic classifier: microseconds per `classify_heuristic()` call.

It runs inline before routing on every request of a route that reads it, so it must stay in
the microseconds whatever the prompt: text scanned is capped (8 KB), and prompt size comes from
the router's token estimate. Three prompts: short (one sentence), medium (~2 KB with code and a
list, a few turns of history) and long (~200 KB conversation, 60 messages).

    python benchmarks/classifier_bench.py [--iterations N]
"""

from __future__ import annotations

import argparse
import time

from routecar.content.heuristic import classify_heuristic
from routecar.router.cost import build_routing_request
from routecar.router.plan import RoutingRequest

_CODE = "```python\ndef handler(event):\n    for item in event['items']:\n        process(item)\n```\n"
_PROSE = ("The service receives events from a queue, validates them, and writes them to the "
          "database; when the database is slow the queue backs up and latency grows. ")


def _short() -> RoutingRequest:
    return build_routing_request("chat", {"model": "m", "messages": [
        {"role": "user", "content": "What is the capital of France?"}]})


def _medium() -> RoutingRequest:
    text = (_PROSE * 6 + _CODE + "Please:\n1. find the bug\n2. fix it\n3. compare two designs\n"
            + _PROSE * 4)
    messages = [{"role": "system", "content": "You are a senior engineer."}]
    messages += [{"role": "user" if i % 2 == 0 else "assistant", "content": _PROSE * 2} for i in range(4)]
    messages.append({"role": "user", "content": text})
    return build_routing_request("chat", {"model": "m", "messages": messages})


def _long() -> RoutingRequest:
    messages = [{"role": "system", "content": "You are a careful analyst. " * 40}]
    messages += [{"role": "user" if i % 2 == 0 else "assistant", "content": _PROSE * 20} for i in range(58)]
    messages.append({"role": "user", "content": _PROSE * 40 + "Analyze the trade-offs step by step."})
    return build_routing_request("chat", {"model": "m", "messages": messages})


def bench(req: RoutingRequest, iterations: int) -> tuple[float, str]:
    label = classify_heuristic(req)  # warm up
    start = time.perf_counter()
    for _ in range(iterations):
        classify_heuristic(req)
    return (time.perf_counter() - start) / iterations * 1e6, label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    args = parser.parse_args()
    for name, make in (("short", _short), ("medium", _medium), ("long", _long)):
        req = make()
        chars = sum(len(str(m.get("content", ""))) for m in req.body["messages"])
        us, label = bench(req, args.iterations)
        print(f"{name:>6}: {chars:>7} chars, {len(req.body['messages']):>2} messages -> {label:<8} "
              f"{us:7.2f} us/call")


if __name__ == "__main__":
    main()
