"""The `embedding` classifier: the label whose examples the request's text is closest to.

`prepare()` embeds every label's example prompts once (at start and on each reload) and keeps
one L2-normalized centroid per label. Classifying then costs one embedding call for the last
user message and a dot product per label. Below `min_similarity` nothing is close enough and
the answer is `default`, as it is on timeout or error: a classifier outage never fails a request.

When the embedding provider is down at start, the classifier answers `default` (source
"unprepared") and retries `prepare()` in the background, at most once per `retry_interval`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from hashlib import blake2b
from typing import Any, Awaitable, Callable

from ..config.model import ClassifierConfig
from ..router.plan import RoutingRequest
from .bounded import BoundedCache
from .result import ClassResult
from .vectors import centroid, dot, normalize

log = logging.getLogger("routecar.content")

# embed(model slug, texts) -> one vector per text; provided by the server, through the
# dispatcher, and may raise.
EmbedCall = Callable[[str, list[str]], Awaitable[list[list[float]]]]

# Embedding models read a few thousand tokens at most; the start of a prompt carries its topic.
MAX_TEXT_CHARS = 8000
RETRY_INTERVAL = 30.0
# Embedding every example at start may take longer than one classification may.
PREPARE_TIMEOUT = 10.0
MEMO_ENTRIES = 10_000
MEMO_TTL = 600.0


class EmbeddingClassifier:
    """One `type: embedding` classifier."""

    def __init__(self, cfg: ClassifierConfig, embed: EmbedCall, *,
                 clock: Callable[[], float] = time.monotonic,
                 prepare_timeout: float = PREPARE_TIMEOUT, retry_interval: float = RETRY_INTERVAL,
                 memo_entries: int = MEMO_ENTRIES, memo_ttl: float = MEMO_TTL) -> None:
        if not cfg.model:
            raise ValueError(f"classifier {cfg.name!r} has no model")
        self.cfg = cfg
        self.name = cfg.name
        self.default = cfg.default or ""
        examples: Any = cfg.labels or {}
        self._examples: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
            (str(label), tuple(texts)) for label, texts in examples.items()
        )
        self._embed = embed
        self._clock = clock
        self._prepare_timeout = prepare_timeout
        self._retry_interval = retry_interval
        self._centroids: tuple[tuple[str, list[float]], ...] | None = None
        self._last_attempt: float | None = None
        self._retry: asyncio.Task[bool] | None = None
        self._memo: BoundedCache[bytes, tuple[str, float]] = BoundedCache(memo_entries, ttl=memo_ttl, clock=clock)

    @property
    def prepared(self) -> bool:
        return self._centroids is not None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for label, _ in self._examples)

    def _build_centroids(self, vectors: Any) -> tuple[tuple[str, list[float]], ...] | None:
        count = sum(len(texts) for _, texts in self._examples)
        if not isinstance(vectors, list) or len(vectors) != count:
            return None
        out: list[tuple[str, list[float]]] = []
        i = 0
        for label, texts in self._examples:
            c = centroid(vectors[i:i + len(texts)])
            i += len(texts)
            if c is None:
                return None
            out.append((label, c))
        if len({len(c) for _, c in out}) > 1:
            return None
        return tuple(out)

    async def prepare(self) -> bool:
        """Embed the label examples; False (and the old centroids kept) when that fails."""
        self._last_attempt = self._clock()
        texts = [text for _, examples in self._examples for text in examples]
        if not texts:
            return False
        try:
            async with asyncio.timeout(self._prepare_timeout):
                vectors = await self._embed(self.cfg.model or "", texts)
        except Exception as exc:  # noqa: BLE001 - includes TimeoutError; retried later
            log.warning("classifier %s: cannot embed label examples (%s); answering %r until it can",
                        self.name, type(exc).__name__, self.default)
            return False
        centroids = self._build_centroids(vectors)
        if centroids is None:
            log.warning("classifier %s: embedding model returned unusable vectors for the label examples",
                        self.name)
            return False
        self._centroids = centroids
        self._memo.clear()
        return True

    def _retry_prepare_soon(self) -> None:
        if self._retry is not None and not self._retry.done():
            return
        now = self._clock()
        if self._last_attempt is not None and now - self._last_attempt < self._retry_interval:
            return
        self._last_attempt = now
        self._retry = asyncio.get_running_loop().create_task(self.prepare(), name=f"prepare-{self.name}")

    async def close(self) -> None:
        """Cancel a background prepare still running (on shutdown or when replaced by a reload)."""
        task, self._retry = self._retry, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def _result(self, label: str, start: float, source: str, score: float | None = None) -> ClassResult:
        return ClassResult(label, (self._clock() - start) * 1000.0, None, source, score)

    def nearest(self, vector: list[float]) -> tuple[str, float] | None:
        """(label, cosine) of the closest centroid to a normalized vector, or None (no centroids
        or a vector of another dimension)."""
        centroids = self._centroids
        if not centroids or len(vector) != len(centroids[0][1]):
            return None
        best_label, best = centroids[0][0], dot(vector, centroids[0][1])
        for label, c in centroids[1:]:
            similarity = dot(vector, c)
            if similarity > best:
                best_label, best = label, similarity
        return best_label, best

    async def classify(self, req: RoutingRequest) -> ClassResult:
        start = self._clock()
        if self._centroids is None:
            self._retry_prepare_soon()
            return self._result(self.default, start, "unprepared")
        text = req.last_user_text[:MAX_TEXT_CHARS]
        if not text.strip():
            return self._result(self.default, start, "default")
        key = blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        remembered = self._memo.get(key)
        if remembered is not None:
            return self._result(remembered[0], start, "cache", remembered[1])
        try:
            async with asyncio.timeout(self.cfg.timeout):
                vectors = await self._embed(self.cfg.model or "", [text])
        except TimeoutError:
            return self._result(self.default, start, "timeout")
        except Exception as exc:  # noqa: BLE001 - any failure means "no label"
            log.debug("classifier %s: embedding failed (%s)", self.name, type(exc).__name__)
            return self._result(self.default, start, "error")
        vector = normalize(vectors[0]) if isinstance(vectors, list) and len(vectors) == 1 else None
        found = self.nearest(vector) if vector is not None else None
        if found is None:
            return self._result(self.default, start, "error")
        label, similarity = found
        if similarity < self.cfg.min_similarity:
            label, source = self.default, "default"
        else:
            source = "model"
        self._memo.put(key, (label, similarity))
        return self._result(label, start, source, similarity)
