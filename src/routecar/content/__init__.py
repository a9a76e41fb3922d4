"""Content-aware routing: request classifiers (rules read them as `class.NAME`) and answer
caches (`routes.NAME.cache`). Each piece is self-contained; the server wires them in."""

from .cache_key import cache_controls, cache_key, is_cacheable, semantic_scope
from .classifiers import NO_RESULTS, Classifiers, labels_of, records_of
from .embedding_classifier import EmbeddingClassifier
from .exact_cache import CachedAnswer, ExactCache
from .heuristic import classify_heuristic
from .llm_classifier import LLMClassifier
from .result import ClassResult
from .semantic_cache import SemanticCache

__all__ = [
    "CachedAnswer", "ClassResult", "Classifiers", "EmbeddingClassifier", "ExactCache", "LLMClassifier",
    "NO_RESULTS", "SemanticCache", "cache_controls", "cache_key", "classify_heuristic", "is_cacheable",
    "labels_of", "records_of", "semantic_scope",
]
