"""Executes a Plan under one deadline: admission, attempts, classification, failover.

The loop (SPEC §7): take the next candidate, ask health whether it may be tried, call it,
classify the outcome as a value, tell health, and fail over while `retry_on`, the retry
budget, `max_attempts` and the deadline allow. When nothing could even be tried it either
probes the soonest-recovering open circuit (panic mode) or waits for the soonest rate-limit
reset within the deadline, then answers with the right status and `Retry-After`.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


from ..config.model import Config
from ..health.registry import Admission, AttemptResult, HealthRegistry
from ..observability.scrub import redact
from ..providers.base import Adapter, Translation, UnsupportedParam, UpstreamRequest
from ..router.plan import Candidate, Plan
from ..routelog.record import AttemptRecord
from ..http1 import Pool
from .attempt import OpenedStream, UnaryAnswer, call_unary, open_stream
from .outcome import AttemptFailure, fails_over


@dataclass(slots=True)
class DispatchError:
    """Why no answer could be given; the server turns it into the entry point's error shape."""

    status: int
    outcome: str  # route-log outcome
    message: str
    code: str
    retry_after: float | None = None
    error_type: str = "upstream_error"


@dataclass(slots=True)
class Success:
    candidate: Candidate
    answer: UnaryAnswer | None = None
    stream: OpenedStream | None = None
    headers: Mapping[str, str] | None = None
    probe: bool | None = None  # the admission was a half-open probe: health must hear its result


@dataclass
class Attempts:
    """What the dispatcher did for one request, for headers and the route log."""

    log: list[AttemptRecord] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    dropped_params: list[str] = field(default_factory=list)
    queue_wait: float = 0.0
    slept: float = 0.0  # backoff between retries of the same deployments
    panic: bool = False
    # Cascades: attempt index -> "passed" / "failed: CHECK"; one note per escalation; what
    # the answers discarded by escalation cost (real spend, billed to the request).
    checks: dict[int, str] = field(default_factory=dict)
    escalations: list[str] = field(default_factory=list)
    extra_cost: float = 0.0

    def absorb(self, step: "Attempts") -> None:
        """Adds one cascade step's attempts (each step has its own max_attempts)."""
        self.log.extend(step.log)
        self.skipped.extend(step.skipped)
        self.dropped_params.extend(p for p in step.dropped_params if p not in self.dropped_params)
        self.queue_wait += step.queue_wait
        self.slept += step.slept
        self.panic = self.panic or step.panic


class Dispatcher:
    def __init__(
        self,
        config: Config,
        health: HealthRegistry,
        sessions: Mapping[str, Pool],
        adapters: Mapping[str, Adapter],
        on_queue_wait: Callable[[float], None] | None = None,
        on_budget_exhausted: Callable[[], None] | None = None,
        rng: Callable[[], float] = random.random,
    ):
        self.config = config
        self.health = health
        self.sessions = sessions
        self.adapters = adapters
        self._on_queue_wait = on_queue_wait
        self._on_budget_exhausted = on_budget_exhausted
        self._rng = rng
        self._waiting = 0

    # -- public ---------------------------------------------------------------------------

    async def run(
        self, plan: Plan, body: dict[str, Any], endpoint: str, stream: bool, deadline: float,
        est_tokens: int, attempts: Attempts, new_request: bool = True,
    ) -> Success | DispatchError:
        """Try the plan's candidates until one answers (for streams: sends its first content).

        `new_request=False` for a cascade's later steps: the same request escalating is not
        more live traffic, so it does not grow the retry budget."""
        loop = asyncio.get_running_loop()
        retry = self.config.resilience.retry
        if new_request:
            self.health.retry_budget.record_request()
        candidates = list(plan.candidates)
        tried_ok_to_retry: list[Candidate] = []
        last_failure: AttemptFailure | None = None
        min_window: int | None = None  # after a context-length error, only larger windows
        waited = False
        unsupported: UnsupportedParam | None = None
        while True:
            progress = False
            for cand in candidates:
                if len(attempts.log) >= retry.max_attempts:
                    break
                if loop.time() >= deadline:
                    return self._deadline_error(attempts)
                if min_window is not None and (cand.model.context_window or 0) <= min_window:
                    attempts.skipped.append(_skip(cand, "context too small (upstream said the prompt does not fit)"))
                    continue
                admission = self.health.admit(cand.deployment.id, est_tokens)
                if not admission.ok:
                    attempts.skipped.append(_skip(cand, admission.reason or "unavailable", admission.retry_at))
                    continue
                if attempts.log and not self.health.retry_budget.try_acquire_retry():
                    self.health.release(cand.deployment.id, admission)
                    attempts.skipped.append(_skip(cand, "retry budget exhausted"))
                    if self._on_budget_exhausted:
                        self._on_budget_exhausted()
                    return self._final_error(attempts, last_failure, budget_exhausted=True)
                try:
                    result = await self._attempt(cand, admission, body, endpoint, stream, deadline, est_tokens,
                                                 attempts)
                except UnsupportedParam as exc:
                    # This provider cannot take the request as asked; another candidate may.
                    unsupported = unsupported or exc
                    attempts.skipped.append(_skip(cand, f"cannot take parameter '{exc.param}'"))
                    continue
                progress = True
                if isinstance(result, Success):
                    return result
                last_failure = result
                if not fails_over(result, self.config.retry_on_for(cand.deployment.provider)):
                    return self._upstream_fatal(result, attempts)
                if result.context_length:
                    min_window = cand.model.context_window or 0
                elif result.health_kind == "failure":
                    tried_ok_to_retry.append(cand)
            if len(attempts.log) >= retry.max_attempts:
                break
            if not progress:
                if not attempts.log and not waited:
                    # Nothing was even tried: panic-probe an open circuit, or wait for a reset.
                    probe = self._panic_candidate(candidates, attempts)
                    admission = self.health.admit(probe.deployment.id, est_tokens) if probe else None
                    if probe is not None and admission is not None and admission.ok:
                        attempts.panic = True
                        result = await self._attempt(probe, admission, body, endpoint, stream, deadline, est_tokens,
                                                     attempts)
                        if isinstance(result, Success):
                            return result
                        last_failure = result
                        break
                    if await self._wait_for_reset(candidates, deadline, attempts):
                        waited = True
                        continue
                break
            # Everything was tried once; retry the same deployments (with backoff) if allowed.
            if not tried_ok_to_retry:
                if not waited and _only_rate_limited(attempts) and \
                        await self._wait_for_reset(list(plan.candidates), deadline, attempts):
                    # The request that met the 429 waits for the reset too, not only later ones.
                    waited = True
                    candidates = list(plan.candidates)
                    continue
                break
            candidates, tried_ok_to_retry = tried_ok_to_retry, []
            delay = self._backoff(len(attempts.log))
            if loop.time() + delay >= deadline:
                return self._deadline_error(attempts)
            await asyncio.sleep(delay)
            attempts.slept += delay
        if unsupported is not None and not attempts.log:
            raise unsupported  # nobody could take it: a 400 naming the parameter
        if last_failure is not None and last_failure.context_length:
            # No candidate with a larger window was left: the provider's own 400 and message.
            return self._upstream_fatal(last_failure, attempts)
        return self._final_error(attempts, last_failure)

    # -- one attempt ------------------------------------------------------------------------

    async def _attempt(
        self, cand: Candidate, admission: Admission | None, body: dict[str, Any], endpoint: str, stream: bool, deadline: float,
        est_tokens: int, attempts: Attempts,
    ) -> Success | AttemptFailure:
        dep = cand.deployment
        provider = self.config.providers[dep.provider]
        adapter = self.adapters[provider.type]
        notes = Translation()
        try:
            if endpoint == "embeddings":
                req: UpstreamRequest = adapter.embeddings_request(provider, dep.model, body)
            else:
                req = adapter.chat_request(provider, dep.model, body, stream, notes,
                                           default_max_tokens=cand.model.max_output_tokens)
        except Exception:  # the adapter refused the request (e.g. an unsupported parameter)
            if admission is not None:
                self.health.release(dep.id, admission)
            raise
        attempts.dropped_params.extend(p for p in notes.dropped_params if p not in attempts.dropped_params)
        session = self.sessions[dep.provider]
        probe = admission.probe if admission is not None else None
        self.health.on_start(dep.id, est_tokens)
        started = time.perf_counter()
        result: Any
        try:
            if stream:
                result = await open_stream(session, req, adapter, dep.model, provider.timeouts, deadline,
                                           self.config.server.max_event_bytes)
            else:
                if endpoint == "embeddings":
                    parse = lambda p: adapter.embeddings_response(p, dep.model, request_body=body)  # noqa: E731
                else:
                    parse = lambda p: adapter.chat_response(p, dep.model)  # noqa: E731
                result = await call_unary(session, req, parse, adapter, provider.timeouts, deadline,
                                          self.config.server.max_response_bytes)
        except asyncio.CancelledError:
            elapsed = (time.perf_counter() - started) * 1000
            attempts.log.append(AttemptRecord(dep.provider, dep.model, cand.slug, None, "cancelled", elapsed))
            self.health.on_finish(dep.id, AttemptResult("neutral", probe=probe))
            raise
        elapsed = time.perf_counter() - started
        if isinstance(result, AttemptFailure):
            attempts.log.append(AttemptRecord(dep.provider, dep.model, cand.slug, result.status,
                                              result.error_class, elapsed * 1000))
            self.health.on_finish(dep.id, AttemptResult(result.health_kind, status=result.status,
                                                        latency=elapsed, headers=result.headers,
                                                        est_tokens=est_tokens, probe=probe))
            return result
        if isinstance(result, OpenedStream):
            attempts.log.append(AttemptRecord(dep.provider, dep.model, cand.slug, result.resp.status, None,
                                              elapsed * 1000, ttft_ms=result.ttft * 1000))
            # Health hears about a stream when it ends (StreamSession.finish), not now.
            return Success(cand, stream=result, headers=result.resp.headers, probe=probe)
        attempts.log.append(AttemptRecord(dep.provider, dep.model, cand.slug, result.status, None, elapsed * 1000))
        tokens = _total_tokens(result.body)
        self.health.on_finish(dep.id, AttemptResult("success", status=result.status, latency=elapsed,
                                                    headers=result.headers, tokens=tokens,
                                                    est_tokens=est_tokens, probe=probe))
        return Success(cand, answer=result, headers=result.headers, probe=probe)

    # -- when nothing could be tried --------------------------------------------------------

    def _panic_candidate(self, candidates: list[Candidate], attempts: Attempts) -> Candidate | None:
        reasons = {s["why"] for s in attempts.skipped}
        if reasons != {"circuit_open"}:
            return None
        dep_ids = [c.deployment.id for c in candidates]
        pick = self.health.panic_pick(dep_ids)
        if pick is None:
            return None
        return next(c for c in candidates if c.deployment.id == pick)

    async def _wait_for_reset(self, candidates: list[Candidate], deadline: float, attempts: Attempts) -> bool:
        """Backpressure: wait for the soonest rate-limit reset when it falls within the deadline."""
        reasons = {s["why"] for s in attempts.skipped}
        if not (reasons or attempts.log) or not reasons <= _RATE_LIMIT_SKIPS:
            return False
        soonest = self.health.soonest_recovery([c.deployment.id for c in candidates])
        loop = asyncio.get_running_loop()
        now = loop.time()
        server = self.config.server
        if soonest is None or soonest > deadline or soonest - now > server.max_queue_wait:
            return False
        if self._waiting >= server.max_queue:
            return False
        self._waiting += 1
        try:
            await asyncio.sleep(max(0.0, soonest - now) + 0.001)
        finally:
            self._waiting -= 1
        waited = loop.time() - now
        attempts.queue_wait += waited
        if self._on_queue_wait:
            self._on_queue_wait(waited)
        attempts.skipped.clear()
        return True

    # -- answers when everything failed -----------------------------------------------------

    def _backoff(self, attempt_no: int) -> float:
        backoff = self.config.resilience.retry.backoff
        cap = min(backoff.max, backoff.base * (2 ** max(0, attempt_no - 1)))
        return cap * (0.5 + 0.5 * self._rng())  # jitter: spread retries of many pods apart

    def _deadline_error(self, attempts: Attempts) -> DispatchError:
        return DispatchError(504, "timeout", "The request deadline passed before any provider answered. "
                             + _attempt_summary(attempts), "deadline_exceeded", error_type="timeout_error")

    def _upstream_fatal(self, failure: AttemptFailure, attempts: Attempts) -> DispatchError:
        status = failure.status or 502
        message = redact(failure.error.message if failure.error else failure.describe())
        etype = failure.error.type if failure.error else "upstream_error"
        code = (failure.error.code if failure.error else None) or "upstream_error"
        return DispatchError(status, "upstream_error" if status >= 500 else "bad_request", message, code,
                             error_type=etype or "invalid_request_error")

    def _final_error(self, attempts: Attempts, last: AttemptFailure | None,
                     budget_exhausted: bool = False) -> DispatchError:
        now = asyncio.get_running_loop().time()
        retry_ats = [s["retry_at"] for s in attempts.skipped if s.get("retry_at")]
        retry_after = max(1.0, min(retry_ats) - now) if retry_ats else None
        summary = _attempt_summary(attempts)
        if attempts.log:
            statuses = {a.status for a in attempts.log}
            if statuses == {429}:
                ra = retry_after or _retry_after_from(last) or 1.0
                return DispatchError(429, "rate_limited", "Every candidate is rate limited. " + summary,
                                     "rate_limited", ra, "rate_limit_error")
            if last is not None and last.kind.endswith("timeout") and all(a.error and a.error.endswith("timeout") for a in attempts.log):
                return DispatchError(504, "timeout", "Every attempt timed out. " + summary, "upstream_timeout",
                                     error_type="timeout_error")
            why = "Retry budget exhausted after a failure. " if budget_exhausted else "Every attempt failed upstream. "
            outcome = "circuit_open" if attempts.panic else "upstream_error"
            status = 503 if attempts.panic else 502
            return DispatchError(status, outcome, why + summary, "upstream_error", retry_after)
        reasons = {s["why"] for s in attempts.skipped}
        if reasons & {"cooling_down", "no_headroom", "rpm_limit", "tpm_limit"}:
            return DispatchError(429, "rate_limited", "Every candidate is rate limited or cooling down. " + summary,
                                 "rate_limited", retry_after or 1.0, "rate_limit_error")
        if "circuit_open" in reasons:
            return DispatchError(503, "circuit_open", "Every candidate's circuit is open. " + summary,
                                 "circuit_open", retry_after or 1.0, "service_unavailable")
        return DispatchError(502, "upstream_error", "No candidate could be tried. " + summary, "upstream_error")


_RATE_LIMIT_SKIPS = frozenset({"cooling_down", "no_headroom", "rpm_limit", "tpm_limit"})


def _only_rate_limited(attempts: Attempts) -> bool:
    """Every attempt so far met a 429 and every skip was a rate limit: waiting can help."""
    return bool(attempts.log) and all(a.status == 429 for a in attempts.log) and \
        all(s["why"] in _RATE_LIMIT_SKIPS for s in attempts.skipped)


def _skip(cand: Candidate, why: str, retry_at: float | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"slug": cand.slug, "deployment": cand.deployment.id, "why": why}
    if retry_at is not None:
        entry["retry_at"] = retry_at
    return entry


def _attempt_summary(attempts: Attempts) -> str:
    parts = [
        f"{a.provider} {a.model}: " + (f"HTTP {a.status}" if a.status else "no answer") + (f" ({a.error})" if a.error else "")
        for a in attempts.log
    ]
    skipped = [f"{s['deployment']}: {s['why']}" for s in attempts.skipped]
    text = ("Attempts: " + "; ".join(parts) + ".") if parts else "No attempt was made."
    if skipped:
        text += " Skipped: " + "; ".join(skipped) + "."
    return text


def _retry_after_from(failure: AttemptFailure | None) -> float | None:
    if failure is None or not failure.headers:
        return None
    value = failure.headers.get("retry-after") or failure.headers.get("Retry-After")
    try:
        return max(1.0, float(value)) if value else None
    except ValueError:
        return None


def _total_tokens(body: dict[str, Any]) -> int | None:
    usage = body.get("usage")
    if isinstance(usage, dict):
        total = usage.get("total_tokens")
        if isinstance(total, int):
            return total
    return None
