"""Setting `model` in a JSON body's bytes without touching any other byte."""

from __future__ import annotations

import orjson
import pytest

from routecar.providers.json_splice import set_string_member


@pytest.mark.parametrize("raw,expected", [
    (b'{"model":"a"}', b'{"model":"NEW"}'),
    (b'{ "messages": [{"model": "inner"}], "x": {"model": "nested"},\n "model" :  "a\\"b", "y": 1.50 }',
     b'{ "messages": [{"model": "inner"}], "x": {"model": "nested"},\n "model" :  "NEW", "y": 1.50 }'),
    (b'{"text": "\\"model\\": \\"fake\\"", "model": "a"}', b'{"text": "\\"model\\": \\"fake\\"", "model": "NEW"}'),
    (b'{"content": "model", "model": "a"}', b'{"content": "model", "model": "NEW"}'),
])
def test_only_the_top_level_member_changes(raw, expected):
    assert set_string_member(raw, "model", "NEW") == expected


@pytest.mark.parametrize("raw", [b'{"model": 3}', b'{"other": "x"}', b'["model", "x"]', b'{"a": {"model": "x"}}'])
def test_absent_or_not_a_string_leaves_it_to_the_caller(raw):
    assert set_string_member(raw, "model", "NEW") is None


def test_the_new_value_is_escaped():
    out = set_string_member(b'{"model": "a"}', "model", 'we"ird\n')
    assert orjson.loads(out) == {"model": 'we"ird\n'}
