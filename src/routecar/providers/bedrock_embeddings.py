"""OpenAI's /v1/embeddings on Bedrock: InvokeModel (`POST /model/{id}/invoke`) with each model
family's own body, since Bedrock has no embeddings API common to its models.

- Amazon Titan Text Embeddings (v1, v2): one text per request, `{"inputText", "dimensions"}` ->
  `{"embedding", "inputTextTokenCount"}`. Several inputs are refused (400 naming `input`) rather
  than sent as many requests behind the app's back: batch on a Cohere model instead.
- Cohere Embed (v3 English and multilingual, v4): up to 96 texts per request, `{"texts",
  "input_type"}` -> `{"embeddings": [[...]]}` (v3) or `{"embeddings": {"float": [[...]]}}` (v4).
  `input_type` defaults to `search_document`; an app sets it with the OpenAI SDK's
  `extra_body={"input_type": "search_query"}`. Cohere reports no token counts: estimated, about
  four characters a token, as for Gemini.
"""

from __future__ import annotations

from typing import Any

from .gemini import embedding_inputs, vector
from .request_translation import TranslationError

COHERE_MAX_TEXTS = 96
_COHERE_INPUT_TYPES = frozenset({"search_document", "search_query", "classification", "clustering"})


def family(upstream_model: str) -> str | None:
    """`titan` or `cohere` from a model id, an inference profile id (`us.cohere...`) or an ARN."""
    name = upstream_model.rsplit("/", 1)[-1].lower()
    if "titan-embed" in name:
        return "titan"
    if "cohere.embed" in name:
        return "cohere"
    return None


def request_body(upstream_model: str, body: dict[str, Any]) -> dict[str, Any]:
    kind = family(upstream_model)
    texts = embedding_inputs(body.get("input"), "bedrock")
    dims = body.get("dimensions")
    if kind == "titan":
        if len(texts) != 1:
            raise TranslationError("input", "Titan embedding models on bedrock take one input per request; "
                                            "send one, or use a Cohere embed model for batches")
        out: dict[str, Any] = {"inputText": texts[0]}
        if dims:
            out["dimensions"] = dims
        return out
    if kind == "cohere":
        if len(texts) > COHERE_MAX_TEXTS:
            raise TranslationError("input", f"Cohere embed models on bedrock take at most {COHERE_MAX_TEXTS} inputs")
        input_type = body.get("input_type", "search_document")
        if input_type not in _COHERE_INPUT_TYPES:
            raise TranslationError("input_type", f"'input_type' must be one of {sorted(_COHERE_INPUT_TYPES)}")
        out = {"texts": texts, "input_type": input_type}
        if "embed-v4" in upstream_model:
            out["embedding_types"] = ["float"]
            if dims:
                out["output_dimension"] = dims
        elif dims:
            raise TranslationError("dimensions", "Cohere embed v3 models on bedrock have a fixed size")
        return out
    raise TranslationError("model", f"bedrock embeddings support Amazon Titan and Cohere embed models, "
                                    f"not '{upstream_model}'")


def to_openai(data: Any, upstream_model: str, request: dict[str, Any] | None) -> dict[str, Any]:
    """An InvokeModel answer as OpenAI's embeddings list; ValueError when it is not one."""
    if not isinstance(data, dict):
        raise ValueError("response is not an embeddings answer")
    as_base64 = request is not None and request.get("encoding_format") == "base64"
    tokens: int | None = None
    if isinstance(data.get("embedding"), list):  # Titan
        vectors = [data["embedding"]]
        count = data.get("inputTextTokenCount")
        tokens = count if isinstance(count, int) and not isinstance(count, bool) else None
    else:  # Cohere: a list of vectors (v3) or one list per embedding type (v4)
        found = data.get("embeddings")
        vectors = found.get("float") if isinstance(found, dict) else found
        if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
            raise ValueError("response has no embeddings")
    if tokens is None:
        texts = embedding_inputs(request.get("input"), "bedrock") if request is not None else []
        tokens = sum(-(-len(t) // 4) for t in texts)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": vector(v, as_base64)} for i, v in enumerate(vectors)],
        "model": upstream_model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
