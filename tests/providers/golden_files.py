"""What the golden-file tests share: the cases of one kind, the byte-exact check, providers.

Each JSON file under golden/<protocol> holds an input and the exact expected output. The check
compares the output as serialized, key order included, so a wire format stays byte-for-byte
what it was. Regenerate after a deliberate change with ROUTECAR_UPDATE_GOLDEN=1 and review the
diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson
from openai.types.chat import ChatCompletionChunk

from routecar.config.model import ProviderConfig
from routecar.providers.base import SSEEvent, StreamDecoder

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("ROUTECAR_UPDATE_GOLDEN") == "1"


def cases(protocol: str, kind: str) -> list[Path]:
    return sorted((GOLDEN / protocol).glob(f"{kind}_*.json"))


def case_input(path: Path) -> Any:
    return json.loads(path.read_text())["input"]


def check(path: Path, actual: Any) -> None:
    case = json.loads(path.read_text())
    actual = json.loads(orjson.dumps(actual))  # tuples and dataclass fields as JSON holds them
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
    # Serialized, not compared as dicts: dict equality would let the key order drift.
    assert json.dumps(actual, ensure_ascii=False) == json.dumps(case["expected"], ensure_ascii=False)


def provider(spec: dict[str, Any], type_: str) -> ProviderConfig:
    return ProviderConfig(
        name="p",
        type=type_,
        base_url=spec["base_url"],
        api_key=spec.get("api_key"),
        headers=spec.get("headers") or {},
        drop_unsupported_params=spec.get("drop_unsupported_params", False),
    )


def decode_stream(decoder: StreamDecoder, events: list[dict[str, Any]]) -> dict[str, Any]:
    """A golden stream through `decoder`: its chunks (each one the OpenAI SDK accepts, all of
    one answer) and whether the decoder saw the end."""
    chunks = []
    for ev in events:
        assert not decoder.done
        chunks.extend(c.data for c in decoder.feed(SSEEvent(orjson.dumps(ev["data"]), ev["event"])))
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    return {"chunks": chunks, "done": decoder.done}


def error_payload(case: dict[str, Any]) -> bytes:
    """A golden error body: a string as is (HTML, text), anything else as JSON."""
    payload = case["payload"]
    return payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
