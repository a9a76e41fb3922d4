"""The Bedrock (Converse) adapter: request translation, answers, event-stream decoding, errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from routecar.config.model import ProviderConfig, RetryConfig
from routecar.dispatch.values import AttemptFailure, fails_over
from routecar.providers import bedrock
from routecar.providers.base import ChatCall, StreamFramingError, Translation, UnsupportedParam, UpstreamStreamError
from routecar.providers.eventstream import EventStreamFramer
from tests.providers.eventstream_frames import CONVERSE_STREAM, event, exception, frame

PROVIDER = ProviderConfig(name="b", type="bedrock", base_url="https://bedrock-runtime.us-east-1.amazonaws.com",
                          region="us-east-1")
ADAPTER = bedrock.BedrockAdapter(clock=lambda: 1700000000, new_id=lambda prefix: prefix + "id1")
MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


def build(body: dict[str, Any], stream: bool = False, model: str = MODEL) -> tuple[Any, dict[str, Any]]:
    call = ChatCall(PROVIDER, model, {"messages": [{"role": "user", "content": "hi"}], **body}, stream, 1024)
    req = ADAPTER.chat_request(call, Translation())
    return req, orjson.loads(req.body)


def test_url_encodes_the_whole_model_id_and_picks_the_action() -> None:
    req, _ = build({})
    assert req.url == ("https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                       "us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse")
    assert req.framer is None and "authorization" not in req.headers
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0"
    req, _ = build({}, stream=True, model=arn)
    assert req.url.endswith("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile"
                            "%2Fus.amazon.nova-pro-v1%3A0/converse-stream")
    assert isinstance(req.framer(1024), EventStreamFramer)


def test_messages_system_images_and_inference_config() -> None:
    _, body = build({
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}]},
            {"role": "assistant", "content": "A cat."},
            {"role": "user", "content": "Sure?"},
            {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "Really?"}]},
        ],
        "temperature": 0.2, "top_p": 0.9, "max_tokens": 50, "stop": "END",
    })
    assert body == {
        "messages": [
            {"role": "user", "content": [{"text": "What is this?"},
                                         {"image": {"format": "png", "source": {"bytes": "iVBOR"}}}]},
            {"role": "assistant", "content": [{"text": "A cat."}]},
            {"role": "user", "content": [{"text": "Sure?"}, {"text": "Really?"}]},
        ],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
    }


def test_catalog_output_cap_is_the_default_max_tokens() -> None:
    assert build({})[1]["inferenceConfig"] == {"maxTokens": 1024}


def test_http_image_urls_are_refused_naming_the_part() -> None:
    with pytest.raises(UnsupportedParam) as err:
        build({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]})
    assert err.value.param == "messages[0].content[0]"


def test_openai_extras_are_refused_by_name() -> None:
    with pytest.raises(UnsupportedParam) as err:
        build({"logit_bias": {"1": 2}})
    assert err.value.param == "logit_bias"


def test_tools_tool_calls_and_results() -> None:
    tool = {"type": "function", "function": {"name": "weather", "description": "Weather in a city",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    _, body = build({
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "tooluse_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
            {"role": "tool", "tool_call_id": "tooluse_1", "content": '{"temp": 21}'},
            {"role": "tool", "tool_call_id": "tooluse_2", "content": "sunny"},
        ],
        "tools": [tool], "tool_choice": {"type": "function", "function": {"name": "weather"}},
    })
    assert body["messages"][1:] == [
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "weather",
                                                       "input": {"city": "Paris"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"temp": 21}}]}},
                                     {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "sunny"}]}}]},
    ]
    assert body["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "weather", "description": "Weather in a city", "inputSchema": {
            "json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}],
        "toolChoice": {"tool": {"name": "weather"}},
    }
    assert build({"tools": [tool], "tool_choice": "required"})[1]["toolConfig"]["toolChoice"] == {"any": {}}
    assert "toolConfig" not in build({"tools": [tool], "tool_choice": "none"})[1]


def test_unary_answer_with_tool_use_and_usage() -> None:
    payload = orjson.dumps({
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "s"}}},
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "tu1", "name": "weather", "input": {"city": "Paris"}}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, "cacheReadInputTokens": 100,
                  "cacheWriteInputTokens": 20},
        "metrics": {"latencyMs": 300},
    })
    out = ADAPTER.chat_response(payload, MODEL)
    assert out["model"] == MODEL and out["created"] == 1700000000
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking." and choice["message"]["reasoning_content"] == "Think."
    assert choice["message"]["tool_calls"] == [
        {"id": "tu1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]
    assert out["usage"] == {"prompt_tokens": 130, "completion_tokens": 5, "total_tokens": 135,
                            "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 20}}


def test_a_body_that_is_not_a_converse_answer_is_malformed() -> None:
    with pytest.raises(ValueError):
        ADAPTER.chat_response(b'{"foo": 1}', MODEL)


def decode(frames: list[bytes], piece: int = 7) -> tuple[Any, list[dict[str, Any]]]:
    """Frames through the framer in small pieces (frames split anywhere), then the decoder."""
    framer = EventStreamFramer(1 << 20)
    decoder = ADAPTER.stream_decoder(MODEL)
    data = b"".join(frames)
    chunks = []
    for i in range(0, len(data), piece):
        for ev in framer.feed(data[i:i + piece]):
            chunks.extend(c.data for c in decoder.feed(ev))
    return decoder, chunks


def test_stream_of_event_stream_frames_becomes_chunks_then_usage() -> None:
    decoder, chunks = decode(CONVERSE_STREAM)
    assert decoder.done
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "Hello"}, {"content": " there"}, {}]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 16
    assert {c["id"] for c in chunks} == {"chatcmpl-id1"}


def test_streamed_tool_calls_are_indexed_among_tool_calls() -> None:
    _, chunks = decode([
        event("messageStart", {"role": "assistant"}),
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Let me check."}}),
        event("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tu1", "name": "w"}}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ' "Paris"}'}}}),
        event("messageStop", {"stopReason": "tool_use"}),
    ], piece=1000)
    calls = [c["choices"][0]["delta"]["tool_calls"] for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert calls == [
        [{"index": 0, "id": "tu1", "type": "function", "function": {"name": "w", "arguments": ""}}],
        [{"index": 0, "function": {"arguments": '{"city":'}}],
        [{"index": 0, "function": {"arguments": ' "Paris"}'}}],
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_in_stream_exception_is_an_upstream_stream_error() -> None:
    framer = EventStreamFramer(1 << 20)
    decoder = ADAPTER.stream_decoder(MODEL)
    (ev,) = framer.feed(exception("throttlingException", "Too many requests"))
    with pytest.raises(UpstreamStreamError) as err:
        decoder.feed(ev)
    assert err.value.retryable and err.value.error_type == "throttlingException"
    assert str(err.value) == "Too many requests"


def test_framer_refuses_a_frame_over_the_budget_before_buffering_it() -> None:
    big = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x" * 5000}})
    framer = EventStreamFramer(4096)
    with pytest.raises(StreamFramingError):
        framer.feed(big[:12])  # the prelude alone says it is too large


def test_framer_refuses_a_bad_checksum() -> None:
    good = frame({":message-type": "event", ":event-type": "messageStart"}, b'{"role":"assistant"}')
    bad = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(StreamFramingError):
        EventStreamFramer(1 << 20).feed(bad)


def test_framer_accepts_only_event_stream_content() -> None:
    assert EventStreamFramer.accepts("application/vnd.amazon.eventstream")
    assert not EventStreamFramer.accepts("application/json")


@pytest.mark.parametrize("status,body,err_type,context", [
    (429, b'{"message":"Too many requests, please wait before trying again."}', "rate_limit_error", False),
    (400, b'{"message":"Input is too long for requested model."}', "invalid_request_error", True),
    (400, b'{"message":"Malformed input request"}', "invalid_request_error", False),
    (403, b'{"Message":"User is not authorized"}', "permission_error", False),
    (503, b"<html>bad gateway</html>", "api_error", False),
])
def test_errors(status: int, body: bytes, err_type: str, context: bool) -> None:
    err = ADAPTER.parse_error(status, body)
    assert (err.type, err.context_length) == (err_type, context)
    assert err.message


@pytest.mark.parametrize("status,error_type,body,exception,err_type,counts_as", [
    # A quota refusal comes as 400 but is the account's rate: handled as a 429.
    (400, "ServiceQuotaExceededException:http://internal.amazon.com/coral/com.amazon.bedrock/",
     b'{"message":"Your request exceeded the service quota for your account."}',
     "ServiceQuotaExceededException", "rate_limit_error", 429),
    (429, "ThrottlingException", b'{"message":"Too many requests"}', "ThrottlingException", "rate_limit_error", None),
    (408, "ModelTimeoutException", b'{"message":"Model has timed out"}', "ModelTimeoutException", "timeout_error", 504),
    (424, "ModelErrorException", b'{"message":"The model failed"}', "ModelErrorException", "api_error", 502),
    (400, "ValidationException", b'{"message":"Malformed input request"}', "ValidationException",
     "invalid_request_error", None),
    # No header (a proxy dropped it): the body's `__type` names the exception.
    (400, None, b'{"__type":"com.amazon.coral.service#ServiceQuotaExceededException","message":"quota"}',
     "ServiceQuotaExceededException", "rate_limit_error", 429),
    # A header that is not a plain exception name is ignored; the status decides.
    (400, "<script>alert(1)</script>", b'{"message":"Malformed input request"}', None, "invalid_request_error", None),
])
def test_the_exception_name_decides_how_an_error_is_handled(status: int, error_type: str | None, body: bytes,
                                                            exception: str | None, err_type: str,
                                                            counts_as: int | None) -> None:
    headers = CIMultiDictProxy(CIMultiDict({"X-Amzn-ErrorType": error_type} if error_type else {}))
    err = ADAPTER.parse_error(status, body, headers)
    assert (err.code, err.type, err.counts_as) == (exception, err_type, counts_as)
    assert err.message.startswith(f"{exception}: ") if exception else "<script>" not in err.message
    assert not err.context_length


def test_a_quota_refusal_fails_over_as_a_rate_limit_and_the_row_keeps_its_status() -> None:
    headers = CIMultiDictProxy(CIMultiDict({"x-amzn-errortype": "ServiceQuotaExceededException"}))
    err = ADAPTER.parse_error(400, b'{"message":"quota"}', headers)
    failure = AttemptFailure("http", status=400, error=err, headers=headers)
    assert fails_over(failure, RetryConfig().retry_on)
    assert (failure.status, failure.error_class, failure.health_kind, failure.retry_class) == \
        (400, "http_429", "rate_limited", "429")
    # A plain 400 stays the request's fault: no failover, health untouched.
    plain = AttemptFailure("http", status=400, error=ADAPTER.parse_error(400, b'{"message":"Malformed input"}'))
    assert not fails_over(plain, RetryConfig().retry_on)
    assert (plain.error_class, plain.health_kind) == ("http_400", "neutral")


def test_health_request_is_a_signed_able_get_on_the_runtime_host() -> None:
    req = ADAPTER.health_request(PROVIDER)
    assert (req.method, req.body) == ("GET", b"")
    assert req.url == "https://bedrock-runtime.us-east-1.amazonaws.com/async-invoke?maxResults=1"


TITAN = "amazon.titan-embed-text-v2:0"
COHERE_V3 = "cohere.embed-multilingual-v3"
COHERE_V4 = "us.cohere.embed-v4:0"


def test_titan_embeddings_invoke_the_model_with_one_text() -> None:
    req = ADAPTER.embeddings_request(PROVIDER, TITAN, {"input": "hello", "dimensions": 256})
    assert req.url == "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.titan-embed-text-v2%3A0/invoke"
    assert orjson.loads(req.body) == {"inputText": "hello", "dimensions": 256}
    out = ADAPTER.embeddings_response(b'{"embedding":[0.5,-0.5],"inputTextTokenCount":2}', TITAN,
                                      request_body={"input": "hello"})
    assert out["data"] == [{"object": "embedding", "index": 0, "embedding": [0.5, -0.5]}]
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    with pytest.raises(UnsupportedParam) as err:  # never fanned out behind the app's back
        ADAPTER.embeddings_request(PROVIDER, TITAN, {"input": ["a", "b"]})
    assert err.value.param == "input" and "one input per request" in str(err.value)


def test_cohere_embeddings_batch_with_an_input_type_and_estimated_tokens() -> None:
    req = ADAPTER.embeddings_request(PROVIDER, COHERE_V3, {"input": ["abcd", "efghijkl"]})
    assert orjson.loads(req.body) == {"texts": ["abcd", "efghijkl"], "input_type": "search_document"}
    asked = ADAPTER.embeddings_request(PROVIDER, COHERE_V4, {"input": "q", "input_type": "search_query",
                                                            "dimensions": 512})
    assert orjson.loads(asked.body) == {"texts": ["q"], "input_type": "search_query", "embedding_types": ["float"],
                                        "output_dimension": 512}
    v3 = ADAPTER.embeddings_response(b'{"id":"x","embeddings":[[1.0],[2.0]],"response_type":"embeddings_floats"}',
                                     COHERE_V3, request_body={"input": ["abcd", "efghijkl"]})
    assert [d["embedding"] for d in v3["data"]] == [[1.0], [2.0]]
    assert v3["usage"]["prompt_tokens"] == 3  # estimated: 4 and 8 characters
    v4 = ADAPTER.embeddings_response(b'{"embeddings":{"float":[[0.25]]}}', COHERE_V4,
                                     request_body={"input": "q", "encoding_format": "base64"})
    assert isinstance(v4["data"][0]["embedding"], str)


@pytest.mark.parametrize("model,body,param", [
    (MODEL, {"input": "x"}, "model"),  # a chat model: no embeddings body known
    (COHERE_V3, {"input": "x", "dimensions": 256}, "dimensions"),
    (COHERE_V3, {"input": ["x"] * 97}, "input"),
    (COHERE_V3, {"input": "x", "input_type": "poetry"}, "input_type"),
    (TITAN, {"input": [[1, 2]]}, "input"),
])
def test_what_bedrock_cannot_embed_is_refused_by_name(model: str, body: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedParam) as err:
        ADAPTER.embeddings_request(PROVIDER, model, body)
    assert err.value.param == param


def test_an_answer_without_embeddings_is_malformed() -> None:
    with pytest.raises(ValueError):
        ADAPTER.embeddings_response(b'{"message":"ok"}', COHERE_V3, request_body={"input": "x"})


def _messages_call(stream: bool, app_stream: bool | None = None) -> ChatCall:
    from routecar.providers.anthropic_inbound import messages_to_canonical

    raw = orjson.dumps({"model": "sonnet", "max_tokens": 64, "stream": stream if app_stream is None else app_stream,
                        "thinking": {"type": "enabled", "budget_tokens": 32},
                        "messages": [{"role": "user", "content": "hi"}]})
    return ChatCall(PROVIDER, MODEL, messages_to_canonical(orjson.loads(raw), raw), stream, 1024)


@pytest.mark.parametrize("stream,app_stream,path,native", [
    (False, None, "/invoke", False),
    (True, None, "/invoke-with-response-stream", True),
    (False, True, "/invoke", False),  # a cascade fetching a whole answer for a streaming app
])
def test_an_anthropic_app_goes_to_claude_through_invoke_model(stream: bool, app_stream: bool | None, path: str,
                                                              native: bool) -> None:
    req = ADAPTER.chat_request(_messages_call(stream, app_stream), Translation())
    assert req.url == f"https://bedrock-runtime.us-east-1.amazonaws.com/model/{MODEL.replace(':', '%3A')}{path}"
    body = orjson.loads(req.body)
    assert body == {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                    "thinking": {"type": "enabled", "budget_tokens": 32},
                    "messages": [{"role": "user", "content": "hi"}]}
    assert req.native_events is native and (req.framer is not None) is stream


def test_claude_invoke_answers_and_chunk_frames_decode_as_anthropic() -> None:
    from tests.providers.eventstream_frames import CLAUDE_INVOKE_STREAM

    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
               "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 3, "output_tokens": 1}}
    assert ADAPTER.chat_response(orjson.dumps(message), MODEL)["choices"][0]["message"]["content"] == "ok"
    framer = EventStreamFramer(1 << 20)
    decoder = ADAPTER.stream_decoder(MODEL)
    chunks = [c for ev in framer.feed(b"".join(CLAUDE_INVOKE_STREAM)) for c in decoder.feed(ev)]
    text = "".join((c.data.get("choices") or [{}])[0].get("delta", {}).get("content") or "" for c in chunks
                   if c.data.get("choices"))
    assert text == "Hi!" and decoder.done
    assert chunks[-1].data["usage"]["completion_tokens"] == 5


def test_a_chunk_frame_without_an_event_is_malformed() -> None:
    framer = EventStreamFramer(1 << 20)
    decoder = ADAPTER.stream_decoder(MODEL)
    for payload in ({"bytes": "%%%not-base64"}, {"nothing": 1}):
        (ev,) = framer.feed(event("chunk", payload))
        with pytest.raises(ValueError):
            decoder.feed(ev)
