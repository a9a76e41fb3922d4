"""Executes a Plan under one deadline and returns its Outcome: the whole attempt lifecycle.

The loop (docs/failure-semantics.md): take the next candidate, ask health whether it may be tried, call it,
classify the outcome as a value, tell health, and fail over while `retry_on`, the retry
budget, `max_attempts` and the deadline allow. When nothing could even be tried it either
probes the soonest-recovering open circuit (panic mode) or waits for the soonest rate-limit
reset within the deadline, then answers with the right status and `Retry-After`
(dispatch/final_errors.py). A cascade runs its steps through the same loop
(dispatch/cascade.py). A stream is handed over once its first content chunk is in; from then
on it reports its own end to health (dispatch/stream.py).

Everything with a time in it goes through the injected `clock` and `sleep`, and the network
through the injected `Caller`, so tests drive every path with a manual clock.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Awaitable, Callable, Sequence

from ..config.model import Config
from ..health.registry import Admission, AttemptResult, HealthRegistry
from ..providers.base import UnsupportedParam
from ..router.plan import Candidate, Plan
from .attempt import OpenedStream
from .attempt_log import Answered, AttemptLog
from .caller import Caller
from .final_errors import RATE_LIMIT_SKIPS, deadline_error, final_error, upstream_fatal
from ..shared.limits import SharedLimits  # no redis import: see shared/
from ..shared.results import Allowed, Limited
from .outcome import Outcome
from .values import (MAX_DETAIL, AttemptFailure, AttemptRecord, DispatchError, DispatchRequest, UnaryAnswer,
                     fails_over)
from .stream import LiveStream
from .hedge import LOST, hedge_config, hedge_delay, loser_cost, mark_lost, race, winner_last

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]



class Dispatcher:
    def __init__(
        self,
        config: Config,
        health: HealthRegistry,
        caller: Caller,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        redact: Callable[[str], str] = lambda text: text,
        on_queue_wait: Callable[[float], None] | None = None,
        on_budget_exhausted: Callable[[], None] | None = None,
        limits: SharedLimits | None = None,
    ):
        self.config = config
        self.health = health
        self.caller = caller
        self.clock = clock
        self._sleep = sleep
        self._rng = rng
        self._redact = redact  # provider text in an error message may echo a key
        self._on_queue_wait = on_queue_wait
        self._on_budget_exhausted = on_budget_exhausted
        # Fleet-wide rpm/tpm of providers that set limits (shared_state); None: per pod only.
        self.limits = limits
        self._waiting = 0
        # Whether any hedge is configured at all: without one (the default) the failover loop
        # never looks a hedge up.
        self._hedges = config.resilience.hedge is not None or any(
            m.hedge is not None for m in config.models.values()) or any(
            r.hedge is not None for r in config.routes.values())

    # -- public ---------------------------------------------------------------------------

    async def execute(self, plan: Plan, request: DispatchRequest, deadline: float) -> Outcome:
        """Try the plan's candidates until one answers (a stream: sends its first content)."""
        if plan.cascade is not None and request.endpoint != "embeddings":
            from .cascade import run_cascade  # only cascade routes pay for the module

            return await run_cascade(self.failover, plan, request, deadline)
        log = AttemptLog()
        result = await self.failover(plan.candidates, request, deadline, log, route=plan.route)
        return log.outcome(result, plan.candidates[0].slug)

    async def failover(self, planned: Sequence[Candidate], request: DispatchRequest, deadline: float,
                       log: AttemptLog, new_request: bool = True, route: str | None = None
                       ) -> Answered | DispatchError:
        """The failover loop over `planned` (one cascade step, or the whole plan).

        `new_request=False` for a cascade's later steps: the same request escalating is not
        more live traffic, so it does not grow the retry budget. `route`: the plan's route,
        whose hedge applies (cascades pass none: their steps are not hedged)."""
        retry = self.config.resilience.retry
        if new_request:
            self.health.retry_budget.record_request()
        candidates = list(planned)
        again: list[Candidate] = []  # tried, failed as the deployment's fault: worth one more try
        last: AttemptFailure | None = None
        min_window: int | None = None  # after a context-length error, only larger windows
        waited = False
        unsupported: UnsupportedParam | None = None
        hedging = self._hedges and (route is not None or new_request)  # a cascade's steps are not hedged
        raced: set[str] = set()  # deployments a hedge already tried
        while True:
            progress = False
            for pos, cand in enumerate(candidates):
                if len(log.attempts) >= retry.max_attempts:
                    break
                if cand.dep_id in raced:
                    continue
                if self.clock() >= deadline:
                    return deadline_error(log)
                if min_window is not None and (cand.model.context_window or 0) <= min_window:
                    log.skip(cand, "context too small (upstream said the prompt does not fit)")
                    continue
                admission = self.health.admit(cand.dep_id, request.est_tokens)
                if not admission.ok:
                    log.skip(cand, admission.reason or "unavailable", admission.retry_at)
                    continue
                if log.attempts and not self.health.retry_budget.try_acquire_retry():
                    self.health.release(cand.dep_id, admission)
                    log.skip(cand, "retry budget exhausted")
                    if self._on_budget_exhausted:
                        self._on_budget_exhausted()
                    return final_error(log, last, self.clock(), budget_exhausted=True)
                if self.limits is not None:
                    refused = await self._fleet_limits(cand, admission, request, log)
                    if refused is not None:
                        if isinstance(refused, DispatchError):
                            return refused
                        continue
                try:
                    after = self._hedge_after(route, cand, deadline) if hedging and not raced else None
                    if after is None:
                        result = await self._attempt(cand, admission, request, deadline, log)
                    else:
                        result, partner = await self._hedged(cand, admission, request, deadline, log, after,
                                                             candidates[pos + 1:])
                        if partner is not None:
                            raced.add(partner.dep_id)
                            hedging = False  # at most one hedge per request
                except UnsupportedParam as exc:
                    # This provider cannot take the request as asked; another candidate may.
                    unsupported = unsupported or exc
                    log.skip(cand, f"cannot take parameter '{exc.param}'")
                    continue
                progress = True
                if isinstance(result, Answered):
                    return result
                last = result
                if not fails_over(result, self.config.retry_on_for(cand.deployment.provider)):
                    return upstream_fatal(result, self._redact)
                if result.context_length:
                    min_window = cand.model.context_window or 0
                elif result.health_kind == "failure":
                    again.append(cand)
            if log.count >= retry.max_attempts:
                break
            if not progress:
                if not log.count and not waited:
                    # Nothing was even tried: panic-probe an open circuit, or wait for a reset.
                    probe = self._panic_candidate(candidates, log)
                    admission = self.health.admit(probe.deployment.id, request.est_tokens) if probe else None
                    if probe is not None and admission is not None and admission.ok:
                        log.panic = True
                        result = await self._attempt(probe, admission, request, deadline, log)
                        if isinstance(result, Answered):
                            return result
                        last = result
                        break
                    if await self._wait_for_reset(candidates, deadline, log):
                        waited = True
                        continue
                break
            if not again:
                if not waited and log.only_rate_limited(RATE_LIMIT_SKIPS) and \
                        await self._wait_for_reset(list(planned), deadline, log):
                    # The request that met the 429 waits for the reset too, not only later ones.
                    waited = True
                    candidates = list(planned)
                    continue
                break
            # Everything was tried once; retry the deployments that failed (with backoff).
            candidates, again = again, []
            delay = self._backoff(log.count)
            if self.clock() + delay >= deadline:
                return deadline_error(log)
            await self._sleep(delay)
            log.slept += delay
        if unsupported is not None and not log.count:
            # Nobody could take it: a 400 naming the parameter.
            return DispatchError(400, "bad_request", str(unsupported), "unsupported_parameter",
                                 error_type="invalid_request_error", param=unsupported.param)
        if last is not None and last.context_length:
            # No candidate with a larger window was left: the provider's own 400 and message.
            return upstream_fatal(last, self._redact)
        return final_error(log, last, self.clock())

    # -- one attempt ------------------------------------------------------------------------

    async def _attempt(self, cand: Candidate, admission: Admission, request: DispatchRequest, deadline: float,
                       log: AttemptLog, hedge: bool = False) -> Answered | AttemptFailure:
        dep = cand.deployment
        dep_id = cand.dep_id
        try:
            prepared = self.caller.prepare(cand, request)
        except BaseException:  # the adapter refused the request (e.g. an unsupported parameter)
            self.health.release(dep_id, admission)
            raise
        if prepared.dropped:
            log.drop_params(prepared.dropped)
        probe = admission.probe
        est = request.est_tokens
        span_id = prepared.span_id  # the attempt's span, named in its upstream traceparent
        self.health.on_start(dep_id, est)
        started = self.clock()
        try:
            result = await self.caller.call(cand, prepared, request, deadline)
        except asyncio.CancelledError:  # the app hung up: not the deployment's fault
            log.add(AttemptRecord(dep.provider, dep.model, cand.slug, None, "cancelled",
                                  (self.clock() - started) * 1000, hedge=hedge, span_id=span_id))
            self.health.on_finish(dep_id, AttemptResult("neutral", probe=probe))
            raise
        elapsed = self.clock() - started
        if isinstance(result, AttemptFailure):
            log.add(AttemptRecord(dep.provider, dep.model, cand.slug, result.status, result.error_class,
                                  elapsed * 1000, hedge=hedge, span_id=span_id, detail=self._detail(result)))
            self.health.on_finish(dep_id, AttemptResult(result.health_kind, status=result.handled_status,
                                                        latency=elapsed, headers=result.headers, est_tokens=est,
                                                        probe=probe))
            return result
        if isinstance(result, OpenedStream):
            record = AttemptRecord(dep.provider, dep.model, cand.slug, result.resp.status, None, elapsed * 1000,
                                   ttft_ms=result.ttft * 1000, hedge=hedge, span_id=span_id)
            log.add(record)
            # Health hears about a stream when it ends, from the stream itself.
            stream = LiveStream(result, self.health, dep_id, probe, est, record, self.clock, started)
            return Answered(cand, stream=stream)
        answer: UnaryAnswer = result
        log.add(AttemptRecord(dep.provider, dep.model, cand.slug, answer.status, None, elapsed * 1000,
                              hedge=hedge, span_id=span_id))
        self.health.on_finish(dep_id, AttemptResult("success", status=answer.status, latency=elapsed,
                                                    headers=answer.headers, tokens=_total_tokens(answer.body),
                                                    est_tokens=est, probe=probe))
        return Answered(cand, answer=answer)

    def _detail(self, failure: AttemptFailure) -> str | None:
        """What the row and the app's error say of a failure with no HTTP answer. An HTTP
        error speaks for itself through its status, except one handled as another status:
        its error's name says why (`ServiceQuotaExceededException` for a 400 failed over as a
        429). Never the upstream's message: it may quote the request."""
        if failure.status is not None:
            error = failure.error
            if error is not None and error.counts_as is not None and error.code:
                return self._redact(error.code)[:MAX_DETAIL]
            return None
        if not failure.detail:
            return None
        return self._redact(failure.detail)[:MAX_DETAIL]

    # -- hedged first tokens (dispatch/hedge.py) ---------------------------------------------

    def _hedge_after(self, route: str | None, cand: Candidate, deadline: float) -> float | None:
        """Seconds after which `cand`'s attempt gets a hedge; None: no hedge."""
        hedge = hedge_config(self.config, route, cand)
        if hedge is None:
            return None
        after = hedge_delay(hedge, lambda: self.health.view(cand.dep_id).ttft_p95)
        if after is None or self.clock() + after >= deadline:
            return None  # no measurement yet, or the deadline ends first: nothing to race
        return after

    async def _hedged(self, cand: Candidate, admission: Admission, request: DispatchRequest, deadline: float,
                      log: AttemptLog, after: float, rest: Sequence[Candidate]
                      ) -> tuple[Answered | AttemptFailure, Candidate | None]:
        """`cand`'s attempt, raced after `after` by one on the next admissible candidate of
        `rest` when the retry budget and max_attempts allow. Returns the result and the hedge's
        candidate (None when no hedge started)."""
        partner: list[Candidate] = []

        def start_hedge() -> Any:
            if log.count + 2 > self.config.resilience.retry.max_attempts:
                return None
            for other in rest:
                if other.dep_id == cand.dep_id:
                    continue
                other_admission = self.health.admit(other.dep_id, request.est_tokens)
                if not other_admission.ok:
                    continue
                if not self.health.retry_budget.try_acquire_retry():
                    # A hedge is extra load: with the budget spent, the slow attempt runs alone.
                    self.health.release(other.dep_id, other_admission)
                    if self._on_budget_exhausted:
                        self._on_budget_exhausted()
                    return None
                try:
                    self.caller.prepare(other, request)  # a refusal is known before racing
                except UnsupportedParam:
                    self.health.release(other.dep_id, other_admission)
                    continue
                partner.append(other)
                return self._attempt(other, other_admission, request, deadline, log, hedge=True)
            return None

        def on_lost(is_hedge: bool, result: Any) -> None:
            loser = partner[0] if is_hedge else cand
            if isinstance(result, Answered) and result.stream is not None:
                result.stream.abandon(error=LOST)  # closes its upstream connection
            cost, estimated = loser_cost(loser, request, result)
            mark_lost(log, loser, is_hedge, cost, estimated)

        raced = await race(self._attempt(cand, admission, request, deadline, log), start_hedge, after,
                           self._sleep, on_lost)
        result = raced.result
        if partner and isinstance(result, Answered):
            winner_last(log, result.candidate, result.candidate is partner[0])
        return result, (partner[0] if partner else None)

    async def _fleet_limits(self, cand: Candidate, admission: Admission, request: DispatchRequest,
                            log: AttemptLog) -> DispatchError | bool | None:
        """Counts the attempt against its provider's fleet-wide rpm/tpm (one Redis round trip,
        only for providers that set limits). None: go ahead; True: skipped (limited, logged);
        a DispatchError: Redis is unavailable and `on_unavailable: reject` says so."""
        assert self.limits is not None
        provider = self.config.providers[cand.deployment.provider]
        rpm, tpm = provider.limits.rpm, provider.limits.tpm
        if not rpm and not tpm:
            return None
        slot = request.fleet_slot
        got = slot.take(provider.name) if slot is not None else None
        if got is None:
            got = await self.limits.acquire(provider.name, rpm, tpm, request.est_tokens)
        if isinstance(got, Allowed):
            if got.headroom is not None:
                self.health.note_fleet_headroom(provider.name, got.headroom)
            return None
        if isinstance(got, Limited):
            self.health.release(cand.dep_id, admission)
            self.health.note_fleet_headroom(provider.name, 0.0)
            log.skip(cand, got.reason, self.clock() + got.retry_after_s)
            return True
        shared = self.config.shared_state
        if shared is not None and shared.on_unavailable == "reject":
            self.health.release(cand.dep_id, admission)
            return DispatchError(503, "upstream_error", "The fleet-wide rate-limit store is unavailable "
                                 "(shared_state.on_unavailable: reject); retry shortly.", "shared_state_unavailable",
                                 1.0, "service_unavailable")
        return None  # unavailable, `local`: this pod's own limiter (the admission above) holds

    # -- when nothing could be tried --------------------------------------------------------

    def _panic_candidate(self, candidates: list[Candidate], log: AttemptLog) -> Candidate | None:
        if log.skip_reasons() != {"circuit_open"}:
            return None
        pick = self.health.panic_pick([c.deployment.id for c in candidates])
        if pick is None:
            return None
        return next(c for c in candidates if c.deployment.id == pick)

    async def _wait_for_reset(self, candidates: list[Candidate], deadline: float, log: AttemptLog) -> bool:
        """Backpressure: wait for the soonest rate-limit reset when it falls within the deadline
        and `server.max_queue_wait`, and the queue of waiting requests has room."""
        reasons = log.skip_reasons()
        if not (reasons or log.count) or not reasons <= RATE_LIMIT_SKIPS:
            return False
        soonest = self.health.soonest_recovery([c.deployment.id for c in candidates])
        fleet = log.soonest_retry_at()  # a fleet-wide limit's reset, which local health cannot know
        if fleet is not None and soonest is not None and soonest < fleet:
            soonest = fleet
        now = self.clock()
        server = self.config.server
        if soonest is None or soonest > deadline or soonest - now > server.max_queue_wait:
            return False
        if self._waiting >= server.max_queue:
            return False
        self._waiting += 1
        try:
            await self._sleep(max(0.0, soonest - now) + 0.001)
        finally:
            self._waiting -= 1
        waited = self.clock() - now
        log.queue_wait += waited
        if self._on_queue_wait:
            self._on_queue_wait(waited)
        log.forget_skips()
        return True

    def _backoff(self, attempt_no: int) -> float:
        backoff = self.config.resilience.retry.backoff
        cap = min(backoff.max, backoff.base * (2 ** max(0, attempt_no - 1)))
        return cap * (0.5 + 0.5 * self._rng())  # jitter: spread retries of many pods apart


def _total_tokens(body: dict[str, Any]) -> int | None:
    usage = body.get("usage")
    if isinstance(usage, dict):
        total = usage.get("total_tokens")
        if isinstance(total, int):
            return total
    return None
