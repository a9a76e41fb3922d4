"""Responses API streams: typed events (`response.created`, `response.output_text.delta`, ...,
`response.completed`).

`ResponsesStreamEncoder` writes them for the app: from canonical chunks when a non-OpenAI
upstream answered (items open and close as the kind of delta changes, the closing
`response.completed` carries the whole response and its usage), or, for an OpenAI upstream,
the upstream's own events as they came (`Chunk.event`), only `response.model` set by the
model-field rule. `ResponsesStreamDecoder` reads an OpenAI upstream's events into canonical
chunks (content for the first-byte rule, usage for cost), each carrying its event.
"""

from __future__ import annotations

from typing import Any

import orjson

from . import canonical
from .base import Chunk, SSEEvent, UpstreamStreamError
from .responses_answer import (
    canonical_usage,
    finish_status,
    function_item,
    message_item,
    output_text,
    response_shell,
    responses_usage,
)
from .sse import encode_data, encode_event

# Events whose payload carries the whole `response` (and so its `model`).
_WITH_RESPONSE = frozenset({"response.created", "response.in_progress", "response.completed", "response.incomplete",
                            "response.failed", "response.queued"})


class ResponsesStreamEncoder:
    __slots__ = ("_model", "_seq", "_resp", "_closed", "_text", "_text_item", "_calls", "_open_call", "_output",
                 "_finish", "_usage", "_native")

    def __init__(self, model: str) -> None:
        self._model = model
        self._seq = 0
        self._resp: dict[str, Any] | None = None  # the response shell, once started
        self._closed = False
        self._text: list[str] = []
        self._text_item: dict[str, Any] | None = None  # the open message item
        self._calls: dict[int, dict[str, Any]] = {}  # canonical tool call index -> function_call item
        self._open_call: int | None = None
        self._output: list[dict[str, Any]] = []  # finished items, in order
        self._finish: Any = None
        self._usage: Any = None
        self._native = False

    # -- events -------------------------------------------------------------------------------

    def _event(self, name: str, payload: dict[str, Any]) -> bytes:
        payload["sequence_number"] = self._seq
        self._seq += 1
        return encode_event(name, orjson.dumps({"type": name, **payload}))

    def encode(self, chunk: Chunk) -> bytes:
        if self._closed:
            return b""
        if chunk.event is not None:
            return self._passthrough(chunk.event)
        data = chunk.data
        out: list[bytes] = []
        self._start(data, out)
        if data.get("usage"):
            self._usage = data["usage"]
        for choice in data.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if text:
                self._text_delta(text, out)
            for call in delta.get("tool_calls") or ():
                self._call_delta(call, out)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        if self._finish is not None and self._usage is not None:
            self._complete(out)
        return b"".join(out)

    def finish(self) -> bytes:
        if self._closed:
            return b""
        out: list[bytes] = []
        self._start({}, out)
        self._complete(out)
        return b"".join(out)

    def error(self, message: str, error_type: str = "api_error") -> bytes:
        """The Responses API's `error` event; the nested `error` object is what makes the
        openai SDK raise instead of yielding the event, so a broken answer is never taken for
        a complete one."""
        self._closed = True
        return self._event("error", {"code": "stream_broken", "message": message, "param": None,
                                     "error": {"message": message, "type": error_type, "code": "stream_broken"}})

    # -- passthrough --------------------------------------------------------------------------

    def _passthrough(self, event: SSEEvent) -> bytes:
        name = event.event
        data = event.data
        if name in _WITH_RESPONSE:
            payload = orjson.loads(data)
            resp = payload.get("response") if isinstance(payload, dict) else None
            if isinstance(resp, dict) and "model" in resp:
                resp["model"] = self._model
                data = orjson.dumps(payload)
        if name in ("response.completed", "response.incomplete", "response.failed"):
            self._closed = True
        return encode_event(name, data) if name else encode_data(data)

    # -- translation --------------------------------------------------------------------------

    def _start(self, data: dict[str, Any], out: list[bytes]) -> None:
        if self._resp is not None:
            return
        base = str(data.get("id") or canonical.random_id("")).removeprefix("chatcmpl-")
        self._resp = response_shell("resp_" + base, int(data.get("created") or 0), self._model, "in_progress")
        out.append(self._event("response.created", {"response": dict(self._resp)}))
        out.append(self._event("response.in_progress", {"response": dict(self._resp)}))

    def _text_delta(self, text: str, out: list[bytes]) -> None:
        self._close_call(out)
        if self._text_item is None:
            assert self._resp is not None
            self._text_item = message_item(f"msg_{self._resp['id']}_{len(self._output)}", "", "in_progress")
            self._text = []
            index = len(self._output)
            out.append(self._event("response.output_item.added", {"output_index": index, "item": self._text_item}))
            out.append(self._event("response.content_part.added", {
                "item_id": self._text_item["id"], "output_index": index, "content_index": 0, "part": output_text("")}))
        self._text.append(text)
        out.append(self._event("response.output_text.delta", {
            "item_id": self._text_item["id"], "output_index": len(self._output), "content_index": 0, "delta": text,
            "logprobs": []}))

    def _close_text(self, out: list[bytes]) -> None:
        item = self._text_item
        if item is None:
            return
        index, text = len(self._output), "".join(self._text)
        out.append(self._event("response.output_text.done", {
            "item_id": item["id"], "output_index": index, "content_index": 0, "text": text, "logprobs": []}))
        out.append(self._event("response.content_part.done", {
            "item_id": item["id"], "output_index": index, "content_index": 0, "part": output_text(text)}))
        done = message_item(item["id"], text)
        out.append(self._event("response.output_item.done", {"output_index": index, "item": done}))
        self._output.append(done)
        self._text_item = None

    def _call_delta(self, call: dict[str, Any], out: list[bytes]) -> None:
        index = call.get("index", 0)
        fn = call.get("function") or {}
        if index not in self._calls:
            self._close_text(out)
            self._close_call(out)
            assert self._resp is not None
            item = function_item(f"fc_{self._resp['id']}_{len(self._output)}", str(call.get("id") or ""),
                                 str(fn.get("name") or ""), "", "in_progress")
            self._calls[index] = item
            self._open_call = index
            out.append(self._event("response.output_item.added", {"output_index": len(self._output), "item": dict(item)}))
        item = self._calls[index]
        arguments = fn.get("arguments")
        if arguments:
            item["arguments"] += arguments
            out.append(self._event("response.function_call_arguments.delta", {
                "item_id": item["id"], "output_index": len(self._output), "delta": arguments}))

    def _close_call(self, out: list[bytes]) -> None:
        if self._open_call is None:
            return
        item = self._calls[self._open_call]
        index = len(self._output)
        out.append(self._event("response.function_call_arguments.done", {
            "item_id": item["id"], "output_index": index, "arguments": item["arguments"]}))
        item["status"] = "completed"
        out.append(self._event("response.output_item.done", {"output_index": index, "item": item}))
        self._output.append(item)
        self._open_call = None

    def _complete(self, out: list[bytes]) -> None:
        self._close_text(out)
        self._close_call(out)
        assert self._resp is not None
        status, details = finish_status(self._finish)
        final = {**self._resp, "status": status, "incomplete_details": details, "output": self._output,
                 "usage": responses_usage(self._usage)}
        name = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(name, {"response": final}))
        self._closed = True


class ResponsesStreamDecoder:
    """An OpenAI upstream's Responses events -> canonical chunks, one or more per event, the
    first carrying the event itself for the passthrough encoder."""

    __slots__ = ("done", "_header", "_model", "_calls")

    def __init__(self, upstream_model: str) -> None:
        self.done = False
        self._model = upstream_model
        self._header = canonical.ChunkHeader(canonical.random_id("chatcmpl-"), 0, upstream_model)
        self._calls: dict[int, int] = {}  # output_index -> canonical tool call index

    def feed(self, event: SSEEvent) -> list[Chunk]:
        data = orjson.loads(event.data)
        if not isinstance(data, dict):
            raise ValueError("stream event is not a JSON object")
        kind = data.get("type") or event.event
        chunk = Chunk(self._translate(kind, data), event=event)
        return [chunk]

    def _translate(self, kind: Any, data: dict[str, Any]) -> dict[str, Any]:
        head = self._header
        if kind == "response.output_text.delta" and data.get("delta"):
            return head.chunk({"content": data["delta"]})
        if kind == "response.output_item.added":
            item = data.get("item") or {}
            if item.get("type") == "function_call":
                index = self._calls.setdefault(data.get("output_index", -1), len(self._calls))
                return head.chunk({"tool_calls": [{"index": index, "id": item.get("call_id"), "type": "function",
                                                   "function": {"name": item.get("name"), "arguments": ""}}]})
        if kind == "response.function_call_arguments.delta" and data.get("delta"):
            index = self._calls.get(data.get("output_index", -1))
            if index is not None:
                return head.chunk({"tool_calls": [{"index": index, "function": {"arguments": data["delta"]}}]})
        if kind == "response.reasoning_summary_text.delta" and data.get("delta"):
            return head.chunk({"reasoning_content": data["delta"]})
        if kind in ("response.completed", "response.incomplete"):
            self.done = True
            resp = data.get("response") or {}
            finish = "length" if kind == "response.incomplete" else ("tool_calls" if self._calls else "stop")
            return {**head.chunk({}, finish), "usage": canonical_usage(resp.get("usage"))}
        if kind in ("response.failed", "error"):
            err = (data.get("response") or {}).get("error") if kind == "response.failed" else data
            err = err if isinstance(err, dict) else {}
            raise UpstreamStreamError(str(err.get("message") or "upstream stream error"),
                                      str(err.get("code") or "api_error"))
        return {}
