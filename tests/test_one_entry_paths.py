"""Step functions at a one-entry batch (the operating point at one rate) take the floats' path
(:func:`tokencost.model.serving.one_entry`) and give bit for bit, and in the same shapes, what
the array path gives: on every deployment of the golden scenarios, at random batches, contexts
and prompt lengths."""

from __future__ import annotations

import json
import struct
import warnings
from typing import Any

import numpy as np
import pytest
from golden_cases import FIXTURE

from tokencost import Scenario
from tokencost.api import deployment
from tokencost.model import routed, serving
from tokencost.model import steady as st


def _scenarios() -> list[Scenario]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [Scenario.model_validate(case["scenario"]) for case in json.loads(FIXTURE.read_text())]


def _bits(values: Any) -> tuple[tuple[int, ...], bytes]:
    array = np.asarray(values, dtype=float)
    return array.shape, b"".join(struct.pack("<d", v) for v in array.reshape(-1))


def _calls(dep: serving.Deployment, rng: np.random.Generator) -> list[Any]:
    """Results of each lifted function at a few random one-entry batches (fields as bits)."""
    found = []
    for _ in range(4):
        batch = np.array([float(rng.choice([1.0, rng.integers(1, 1024), rng.uniform(0.3, 700.0)]))])
        context, prompt = float(rng.integers(0, 20_000)), float(rng.integers(1, 8_000))
        out = float(rng.choice([1.0, 2.0, rng.integers(2, 4_000)]))
        traffic = st.Traffic(prompt, out, 256.0, cached_tokens=float(rng.choice([0.0, prompt / 2])))
        terms = [
            serving.decode_step(dep, batch, context),
            serving.prefill(dep, prompt, batch),
            st.prompt_prefill(dep, traffic, batch),
        ]
        found += [[_bits(field) for field in part] for part in terms]
        found.append(_bits(serving.decode_total_time_s(dep, batch, prompt, out)))
    return found


def test_one_entry_batches_give_the_array_paths_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    scenarios = _scenarios()
    lifted, taken = [], 0
    for index, scenario in enumerate(scenarios):
        dep = deployment(scenario)
        taken += serving.one_entry(dep, np.ones(1)) is not None
        lifted.append(_calls(dep, np.random.default_rng(index)))
    monkeypatch.setattr(serving, "one_entry", lambda dep, value: None)
    monkeypatch.setattr(st, "one_entry", lambda dep, value: None, raising=False)
    for index, scenario in enumerate(scenarios):
        assert _calls(deployment(scenario), np.random.default_rng(index)) == lifted[index], scenario.name
    assert taken >= len(scenarios) // 2  # most golden deployments are dense: the path is exercised


def test_one_entry_keeps_mixtures_structs_and_odd_values_on_the_array_path() -> None:
    scenarios = _scenarios()
    kinds = {routed.is_dense(deployment(s)) for s in scenarios}
    assert kinds == {True, False}
    for scenario in scenarios:
        dep = deployment(scenario)
        if not routed.is_dense(dep):
            assert serving.one_entry(dep, np.ones(1)) is None
    dense = next(deployment(s) for s in scenarios if routed.is_dense(deployment(s)))
    assert serving.one_entry(dense, np.array([3.0])) == 3.0
    for value in (np.array([np.nan]), np.array([np.inf]), np.ones(2), np.ones((1, 1)), np.ones(1, int), 3.0):
        assert serving.one_entry(dense, value) is None


def test_the_operating_point_at_one_rate_is_that_at_two_equal_rates() -> None:
    """Every field of the operating point at ``[λ]`` (one-entry arrays: the floats' path) is bit
    for bit the first entry at ``[λ, λ]`` (the array path), from light load to saturation."""
    from tokencost.api import traffic_for
    from tokencost.model import operating as op

    checked = 0
    for scenario in _scenarios()[::9]:
        dep = deployment(scenario)
        traffic = traffic_for(scenario, int(np.clip(serving.max_batch(dep, 4000.0), 1, 256)))
        capacity = float(op.capacity_requests_per_s(dep, traffic.batch_cap, traffic))
        for share in (0.05, 0.6, 0.97, 1.2):
            one = op.solve(dep, [share * capacity], traffic, 99.0)
            two = op.solve(dep, [share * capacity] * 2, traffic, 99.0)
            for name, a, b in zip(one._fields, one, two, strict=True):
                assert _bits(np.asarray(a).reshape(-1)[:1]) == _bits(np.asarray(b).reshape(-1)[:1]), (
                    scenario.name,
                    share,
                    name,
                )
            checked += 1
    assert checked >= 100


def test_a_held_batch_of_floats_is_fixed_batchs_one_entry_bit_for_bit() -> None:
    """``op.fixed_batch_floats`` (what :func:`tokencost.evaluate` reads) holds, field by field,
    the one entry of each array :func:`tokencost.model.operating.fixed_batch` gives, with or
    without the capacity handed in, under continuous and static batching."""
    from tokencost.model import operating as op

    for index, scenario in enumerate(_scenarios()):
        dep = deployment(scenario)
        rng = np.random.default_rng(index)
        for batching in ("continuous", "static"):
            prompt, out = float(rng.integers(1, 8_000)), float(rng.choice([1.0, rng.integers(2, 4_000)]))
            traffic = st.Traffic(prompt, out, 256.0, batching=batching, cached_tokens=prompt / 4)
            batch = float(rng.integers(1, 256))
            arrays = op.fixed_batch(dep, batch, traffic)
            capacity = float(op.capacity_requests_per_s(dep, batch, traffic))
            for floats in (
                op.fixed_batch_floats(dep, batch, traffic),
                op.fixed_batch_floats(dep, batch, traffic, capacity),
            ):
                assert all(type(value) is float for value in floats if type(value) is not bool)
                assert [_bits(value) for value in floats] == [_bits(value[0]) for value in arrays]
                assert floats.saturated is False
