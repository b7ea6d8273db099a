"""Any body at all gets a model or a Daraja error from every wire parser: no other exception ever escapes.

Bodies start from each API's valid sample; fields are dropped or replaced with arbitrary JSON-ish
values (wrong types, bools, huge numbers and strings, NaN and infinities a Python caller could
pass), and stray keys are added.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.flows.b2c import wire as b2c
from server.flows.balance import wire as balance
from server.flows.c2b import wire as c2b
from server.flows.checks import WireError
from server.flows.reversal import wire as reversal
from server.flows.status import wire as status
from tests.server import test_wire_b2c, test_wire_balance, test_wire_c2b, test_wire_reversal, test_wire_status

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.text(alphabet="0123456789", min_size=1, max_size=40),
    st.just("x" * 100_000),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


def _bodies(sample: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The sample with each field kept, dropped or replaced, plus stray keys; or not an object at all."""

    def build(choices: list[tuple[int, Any]], extra: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for (key, value), (how, other) in zip(sample.items(), choices, strict=True):
            if how == 0:
                body[key] = value
            elif how == 1:
                body[key] = other
        return {**body, **extra}

    per_field = st.tuples(st.integers(0, 2), _values)
    mutated = st.builds(
        build,
        st.lists(per_field, min_size=len(sample), max_size=len(sample)),
        st.dictionaries(st.text(max_size=12), _values, max_size=2),
    )
    return st.one_of(mutated, _values)


PARSERS: list[tuple[Callable[..., Any], dict[str, Any], dict[str, Any]]] = [
    (c2b.parse_register_url, test_wire_c2b.REGISTER, {}),
    (c2b.parse_register_url, test_wire_c2b.REGISTER, {"strict_words": True, "https_only": True}),
    (c2b.parse_simulate, test_wire_c2b.SIMULATE, {}),
    (b2c.parse_b2c, test_wire_b2c.SAMPLE, {}),
    (b2c.parse_b2c, test_wire_b2c.SAMPLE, {"version": 1}),
    (b2c.parse_b2c, {**test_wire_b2c.SAMPLE, "CommandID": "BusinessPayToPochi"}, {"pochi": True}),
    (status.parse_status, test_wire_status.QUERY, {}),
    (balance.parse_balance, test_wire_balance.QUERY, {}),
    (reversal.parse_reversal, test_wire_reversal.REQUEST, {}),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parsers_answer_a_model_or_a_daraja_error(data: st.DataObject) -> None:
    for parse, sample, options in PARSERS:
        body = data.draw(_bodies(sample), label=parse.__qualname__)
        try:
            parse(body, **options)
        except WireError as rejected:
            assert rejected.error.status in (400, 500) and rejected.error.code and rejected.error.message
            assert rejected.reason


@settings(max_examples=200, deadline=None)
@given(
    status_code=st.one_of(st.none(), st.integers(100, 599)),
    body=st.one_of(
        st.none(), st.binary(max_size=200), st.text(max_size=200), _values.map(lambda v: json.dumps(v, allow_nan=True))
    ),
)
def test_validation_answers_never_raise(status_code: int | None, body: Any) -> None:
    answer = c2b.parse_validation_answer(status_code, body)
    assert answer.reason
    assert answer.completes("Completed") in (True, False)
