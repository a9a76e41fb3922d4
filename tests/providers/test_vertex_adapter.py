"""The Vertex AI adapter: the Gemini wire format at Vertex's URLs, no API key anywhere."""

from __future__ import annotations

from types import MappingProxyType

import orjson
import pytest

from routecar.config.model import ProviderConfig
from routecar.providers import gemini, vertex
from routecar.providers.base import ChatCall, Translation
from routecar.providers.request_translation import TranslationError

PROVIDER = ProviderConfig(name="v", type="vertex", base_url="https://us-central1-aiplatform.googleapis.com",
                          project="proj-1", location="us-central1", headers=MappingProxyType({"x-team": "t"}))
BODY = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "temperature": 0.3, "max_tokens": 20}


@pytest.mark.parametrize("stream,method", [(False, ":generateContent"), (True, ":streamGenerateContent?alt=sse")])
def test_vertex_url_and_the_gemini_body(stream: bool, method: str) -> None:
    req = vertex.ADAPTER.chat_request(ChatCall(PROVIDER, "gemini-2.0-flash-001", BODY, stream), Translation())
    assert req.url == ("https://us-central1-aiplatform.googleapis.com/v1/projects/proj-1/locations/us-central1"
                       "/publishers/google/models/gemini-2.0-flash-001" + method)
    assert req.headers == {"content-type": "application/json", "x-team": "t"}  # the token comes at send time
    same = gemini.ADAPTER.chat_request(ChatCall(PROVIDER, "gemini-2.0-flash-001", BODY, stream), Translation())
    assert orjson.loads(req.body) == orjson.loads(same.body)


def test_an_api_key_is_never_sent_to_vertex() -> None:
    keyed = ProviderConfig(name="v", type="vertex", base_url="https://x.test", project="p", location="global",
                           api_key="AIza-not-for-vertex")
    req = vertex.ADAPTER.chat_request(ChatCall(keyed, "gemini-2.5-pro", BODY, False), Translation())
    assert "AIza" not in req.url + repr(req.headers)


def test_health_request_lists_one_endpoint_of_the_project() -> None:
    req = vertex.ADAPTER.health_request(PROVIDER)
    assert (req.method, req.body) == ("GET", b"")
    assert req.url == ("https://us-central1-aiplatform.googleapis.com/v1/projects/proj-1/locations/us-central1"
                       "/endpoints?pageSize=1")


def test_embeddings_go_to_predict_with_one_instance_per_input() -> None:
    req = vertex.ADAPTER.embeddings_request(PROVIDER, "text-embedding-005", {"input": ["a b", "c"], "dimensions": 256})
    assert req.url == ("https://us-central1-aiplatform.googleapis.com/v1/projects/proj-1/locations/us-central1"
                       "/publishers/google/models/text-embedding-005:predict")
    assert orjson.loads(req.body) == {"instances": [{"content": "a b"}, {"content": "c"}],
                                      "parameters": {"outputDimensionality": 256}}
    assert "authorization" not in req.headers  # the token comes at send time
    with pytest.raises(TranslationError) as err:
        vertex.ADAPTER.embeddings_request(PROVIDER, "text-embedding-005", {"input": [[1, 2, 3]]})
    assert "vertex embeddings take a string" in str(err.value)


def test_embedding_predictions_become_openais_list_with_vertexs_token_counts() -> None:
    payload = orjson.dumps({"predictions": [
        {"embeddings": {"values": [0.5, -0.25], "statistics": {"token_count": 3, "truncated": False}}},
        {"embeddings": {"values": [1.0, 0.0]}},  # no statistics: estimated from the input (8 chars -> 2)
    ], "metadata": {"billableCharacterCount": 12}})
    out = vertex.ADAPTER.embeddings_response(payload, "text-embedding-005",
                                             request_body={"input": ["one two", "12345678"]})
    assert [d["embedding"] for d in out["data"]] == [[0.5, -0.25], [1.0, 0.0]]
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert out["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
    packed = vertex.ADAPTER.embeddings_response(payload, "m", request_body={"input": ["a", "b"],
                                                                            "encoding_format": "base64"})
    assert isinstance(packed["data"][0]["embedding"], str)
    with pytest.raises(ValueError):
        vertex.ADAPTER.embeddings_response(b'{"predictions": [{"embeddings": {}}]}', "m", request_body={"input": "x"})


def test_errors_are_googles() -> None:
    err = vertex.ADAPTER.parse_error(429, b'{"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}')
    assert (err.type, err.code) == ("rate_limit_error", "RESOURCE_EXHAUSTED")


CLAUDE = "claude-sonnet-4@20250514"
CLAUDE_URL = ("https://us-central1-aiplatform.googleapis.com/v1/projects/proj-1/locations/us-central1"
              "/publishers/anthropic/models/claude-sonnet-4@20250514")


@pytest.mark.parametrize("stream,method", [(False, ":rawPredict"), (True, ":streamRawPredict")])
def test_claude_models_speak_anthropic_at_the_anthropic_publisher(stream: bool, method: str) -> None:
    req = vertex.ADAPTER.chat_request(ChatCall(PROVIDER, CLAUDE, BODY, stream), Translation())
    assert req.url == CLAUDE_URL + method
    body = orjson.loads(req.body)
    assert "model" not in body and body["anthropic_version"] == "vertex-2023-10-16"
    assert body["system"] == "Be brief." and body["messages"] == [{"role": "user", "content": "hi"}]
    assert body.get("stream", False) is stream and not req.native_events
    assert "x-api-key" not in req.headers and "anthropic-version" not in req.headers


def test_a_messages_request_goes_to_claude_on_vertex_as_the_app_wrote_it() -> None:
    from routecar.providers.anthropic_inbound import messages_to_canonical

    raw = (b'{"model":"sonnet","max_tokens":64,"stream":true,"system":[{"type":"text","text":"Policy",'
           b'"cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}')
    body = messages_to_canonical(orjson.loads(raw), raw)
    req = vertex.ADAPTER.chat_request(ChatCall(PROVIDER, CLAUDE, body, True), Translation())
    sent = orjson.loads(req.body)
    assert sent["system"] == [{"type": "text", "text": "Policy", "cache_control": {"type": "ephemeral"}}]
    assert "model" not in sent and sent["stream"] is True and req.native_events  # events pass through


def test_claude_answers_and_errors_are_anthropics() -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4",
               "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 5, "output_tokens": 1}}
    out = vertex.ADAPTER.chat_response(orjson.dumps(message), CLAUDE)
    assert out["choices"][0]["message"]["content"] == "ok" and out["usage"]["prompt_tokens"] == 5
    err = vertex.ADAPTER.parse_error(400, b'{"type":"error","error":{"type":"invalid_request_error",'
                                          b'"message":"prompt is too long: 250000 tokens > 200000 maximum"}}')
    assert err.type == "invalid_request_error" and err.context_length
    google = vertex.ADAPTER.parse_error(429, b'{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}')
    assert google.code == "RESOURCE_EXHAUSTED"
