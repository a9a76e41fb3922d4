"""Setting `model` in a JSON body's bytes without touching any other byte."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=20))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(before=st.dictionaries(st.text(max_size=8).filter(lambda k: k != "model"), _VALUES, max_size=4),
       after=st.dictionaries(st.text(max_size=8).filter(lambda k: k != "model"), _VALUES, max_size=4),
       old=st.text(max_size=12), new=st.text(max_size=12), indent=st.booleans())
def test_any_object_gets_exactly_its_top_level_model_replaced(before, after, old, new, indent):
    """Whatever comes before `model` (scalars: the one-match path; nested values: the scan),
    the result parses to the same object with only `model` changed, and is as long as the
    change accounts for (no other byte added or lost)."""
    obj = {**before, "model": old, **{k: v for k, v in after.items() if k not in before}}
    raw = orjson.dumps(obj, option=orjson.OPT_INDENT_2 if indent else 0)
    out = set_string_member(raw, "model", new)
    assert out is not None
    assert orjson.loads(out) == {**obj, "model": new}
    assert len(out) - len(raw) == len(orjson.dumps(new)) - len(orjson.dumps(old))
