"""Fuzz the response decoding: only a value or a typed error, in bounded memory.

Hypothesis feeds :func:`tests.reliability._fuzz.decode` mutated recorded
responses and generated envelopes; every input must end in a return value
or a ``CRMEWSError``, and its Python memory peak must stay within
:func:`~tests.reliability._fuzz.peak_allowed`.  CI tries a few hundred
inputs with a fixed seed; the soak (``CRM_EWS_SOAK=1``) tries thousands
with fresh randomness.
"""

from __future__ import annotations

import tracemalloc
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from crm_ews.errors import CRMEWSError
from tests.reliability import _fuzz
from tests.reliability import _support as s

EXAMPLES = s.scaled(ci=400, soak=8_000)

#: Outcomes of every input tried in this session, by result.
OUTCOMES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _traced() -> Iterator[None]:
    """Trace Python allocations for the whole module; report the outcomes."""
    _fuzz.warm_up()
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()
    s.FIGURES["fuzz.inputs"] += sum(OUTCOMES.values())
    for name, count in OUTCOMES.items():
        s.FIGURES[f"fuzz.outcome.{name}"] += count


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not s.SOAK,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=_fuzz.FUZZ_INPUTS)
def test_decoding_any_response_gives_a_value_or_a_typed_error(
    case: tuple[str, int, bytes],
) -> None:
    """Mutated and generated responses: a result or CRMEWSError, bounded peak."""
    operation, shape, data = case

    outcome = _fuzz.run_one(operation, shape, data)

    OUTCOMES[outcome.result] += 1
    assert outcome.peak <= _fuzz.peak_allowed(data), (len(data), outcome.peak)


def test_every_seed_decodes_cleanly_for_its_operation() -> None:
    """Unmutated, each recorded response decodes (or faults typed) as recorded."""
    results = {
        seed.name: _fuzz.run_one(seed.operation, seed.shape, seed.data).result
        for seed in _fuzz.seeds()
    }

    faults = {name: results.pop(name) for name in list(results) if "Faults/" in name}
    assert len(results) + len(faults) >= 25
    assert "ok" not in faults.values(), faults
    assert results.pop("SyncFolderItems/invalid_sync_state") == "InvalidSyncStateError"
    assert {name: result for name, result in results.items() if result != "ok"} == {}


def test_the_mutations_reach_past_the_envelope() -> None:
    """The fuzzer is not stuck at the parser: many inputs decode to models."""
    if sum(OUTCOMES.values()) < 100:
        pytest.skip("runs after the fuzz test in the same session only")

    assert OUTCOMES["ok"] >= sum(OUTCOMES.values()) // 20, OUTCOMES
    assert OUTCOMES["ResponseDecodeError"] > 0, OUTCOMES


#: Values put into every leaf and attribute of every recorded response: empty,
#: not a number, not a date, out of range, and plain words where enums go.
WRONG_VALUES = ("", "garbage", "-1", "99999999999999999999", "2026-02-30T25:61:61Z")


def _variants(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Each element dropped, each child list reversed, each value made wrong."""
    count = sum(1 for _ in etree.fromstring(data).iter())
    for index in range(count):
        copy = etree.fromstring(data)
        element = list(copy.iter())[index]
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)
            yield "missing", etree.tostring(copy)

        copy = etree.fromstring(data)
        element = list(copy.iter())[index]
        if len(element) > 1:
            element[:] = list(element)[::-1]
            yield "reordered", etree.tostring(copy)

        for value in WRONG_VALUES:
            copy = etree.fromstring(data)
            element = list(copy.iter())[index]
            if len(element) == 0:
                element.text = value
                yield "wrong_text", etree.tostring(copy)
            for name in element.attrib:
                element.set(name, value)
                yield "wrong_attribute", etree.tostring(copy)


def test_every_missing_element_order_and_value_is_typed_or_tolerated() -> None:
    """Drop each element, reverse each child list, put wrong values everywhere."""
    outcomes: Counter[str] = Counter()

    for seed in _fuzz.seeds():
        for kind, data in _variants(seed.data):
            try:
                _fuzz.decode(seed.operation, seed.shape, data)
            except CRMEWSError:
                outcomes[f"{kind}.typed_error"] += 1
            else:
                outcomes[f"{kind}.tolerated"] += 1

    for kind in ("missing", "reordered", "wrong_text", "wrong_attribute"):
        assert outcomes[f"{kind}.typed_error"] > 10, outcomes
        assert outcomes[f"{kind}.tolerated"] > 10, outcomes
    s.FIGURES["hostile.structural_variants"] += sum(outcomes.values())
    for key, value in outcomes.items():
        s.FIGURES[f"hostile.structural.{key}"] += value
