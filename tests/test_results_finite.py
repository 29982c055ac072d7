"""Hypothesis: whatever valid scenario goes in, ``evaluate`` gives numbers physics allows.

Random but valid scenarios (a dense multi-head, a grouped-query, a mixture-of-experts and an MLA
model; several accelerators; weight formats; prompt and output lengths within the model's
context; a load given as requests/s, as a closed loop of clients, or not at all; SLOs, fixed
replicas and the batching mode sometimes set) must give, when feasible, results in which every
number is finite and non-negative, busy and load fractions in [0, 1] (the load may pass 1 only
when saturated), latencies no shorter than the work inside them, and the fleet the product of
its parts. An infeasible result carries a reason.

The check reads the record itself (``dataclasses.asdict``): ``Evaluation.to_dict()`` turns NaN
and inf into None for JSON, which would hide exactly what this test looks for; it also checks
that ``to_dict()`` keeps every number the record has.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokencost import Evaluation, Scenario, TokenCostWarning, evaluate
from tokencost.results import flatten

# model preset -> its max_context (tokens), from tokencost/scenario/presets/models/*.yaml
MODELS = {
    "llama-2-7b": 4096,  # dense, multi-head attention (32 query heads, 32 KV heads)
    "llama-3.1-70b": 131072,  # dense, grouped-query attention (64/8)
    "mixtral-8x7b": 32768,  # mixture of experts (2 of 8)
    "deepseek-v3": 163840,  # multi-head latent attention (MLA), mixture of experts (8 of 256)
}
HARDWARE = ["h100-sxm", "h200", "a100-80gb-sxm", "l4", "mi300x", "b200"]
WEIGHTS = ["bf16", "fp8", "int8", "int4"]
MAX_LENGTH = 32_768  # tokens, prompt plus output

# Numbers that may be negative by definition: a loss is a negative margin, buying the tokens from an
# API can be cheaper than serving them.
SIGNED = {"margin_usd_per_day", "gross_margin_fraction", "savings_vs_api_usd_per_day"}
RELATIVE = 1e-9  # float slack on the inequalities (the model sums and divides SI floats)

# Known bug, see test_poisson_weights_do_not_overflow_at_a_large_mean below: numpy warnings from
# tokencost.model.queueing.poisson_pmf on overloaded replicas. Ignored here so that the property
# test keeps checking everything else; delete this with the fix (the xfail example then passes).
KNOWN_NUMPY_WARNINGS: tuple[str, ...] = ()  # poisson_pmf now sums in log space: none are known

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def scenario_data(draw: st.DrawFn) -> dict[str, Any]:
    """The keyword sections of a valid :class:`Scenario`."""
    model = draw(st.sampled_from(sorted(MODELS)))
    longest = min(MAX_LENGTH, MODELS[model])
    prompt = draw(st.integers(min_value=1, max_value=longest - 1))
    out = draw(st.integers(min_value=1, max_value=longest - prompt))
    workload: dict[str, Any] = {"input_tokens": prompt, "output_tokens": out}
    load = draw(st.sampled_from(["requests_per_second", "concurrency", "none"]))
    if load == "requests_per_second":
        exponent = draw(st.floats(min_value=-3.0, max_value=4.0))  # 1e-3 to 1e4 requests/s
        workload["requests_per_second"] = 10.0**exponent
    elif load == "concurrency":
        workload["concurrency"] = draw(st.integers(min_value=1, max_value=100_000))
    data: dict[str, Any] = {
        "name": "property",
        "model": {"preset": model},
        "hardware": {"preset": draw(st.sampled_from(HARDWARE)), "count": draw(st.sampled_from([1, 2, 4, 8]))},
        "precision": {"weights": draw(st.sampled_from(WEIGHTS))},
        "workload": workload,
    }
    slo = {}
    if draw(st.booleans()):
        slo["ttft_s"] = 10.0 ** draw(st.floats(min_value=-2.0, max_value=1.5))  # 10 ms to 32 s
    if draw(st.booleans()):
        slo["tpot_s"] = 10.0 ** draw(st.floats(min_value=-3.0, max_value=0.0))  # 1 ms to 1 s
    if slo:
        data["slo"] = slo
    serving: dict[str, Any] = {"batching": draw(st.sampled_from(["continuous", "static"]))}
    if draw(st.booleans()):
        serving["replicas"] = draw(st.integers(min_value=1, max_value=64))
    data["serving"] = serving
    return data


def run(data: dict[str, Any]) -> Evaluation:
    """``evaluate`` with every warning an error, but the doubtful-input warnings of tokencost
    (valid by definition) and the known numpy warnings above."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", TokenCostWarning)
        for message in KNOWN_NUMPY_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=RuntimeWarning)
        return evaluate(Scenario(**data))


def numbers(ev: Evaluation) -> dict[str, float]:
    """Every int or float field of the record (nested ones dotted), None left out, bools too."""
    return {
        key: value
        for key, value in flatten(dataclasses.asdict(ev)).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def at_least(value: float | None, floor: float | None) -> bool:
    return value is None or floor is None or value >= floor * (1.0 - RELATIVE)


def check_numbers(ev: Evaluation) -> None:
    found = numbers(ev)
    for key, value in found.items():
        assert math.isfinite(value), (key, value)
        if key not in SIGNED:
            assert value >= 0, (key, value)
    exported = flatten(ev.to_dict())
    for key in found:
        assert exported[key] is not None, f"to_dict() lost {key}"


def check_feasible(ev: Evaluation, data: dict[str, Any]) -> None:
    assert ev.utilization is not None and 0.0 <= ev.utilization <= 1.0 + RELATIVE, ev.utilization
    load = ev.load_fraction_of_capacity
    assert load is not None and (ev.saturated or load <= 1.0 + RELATIVE), (load, ev.saturated)
    assert ev.prefill.time_s is not None and ev.prefill.time_s > 0
    assert at_least(ev.ttft_s, ev.prefill.time_s), (ev.ttft_s, ev.prefill.time_s)
    assert at_least(ev.ttft_p99_s, ev.prefill.time_s), (ev.ttft_p99_s, ev.prefill.time_s)
    assert at_least(ev.e2e_latency_s, ev.ttft_s), (ev.e2e_latency_s, ev.ttft_s)
    if ev.batching == "continuous":  # static: test_static_decode_step_is_the_batch_that_decodes
        assert at_least(ev.tpot_s, ev.decode.step_time_s), (ev.tpot_s, ev.decode.step_time_s)
    assert ev.replicas is not None and ev.replicas >= 1
    assert ev.gpus_required == ev.replicas * ev.accelerators_per_replica
    if "replicas" in data["serving"]:
        assert ev.replicas == data["serving"]["replicas"]
    assert ev.batch_size is not None and ev.batch_cap is not None
    assert ev.batch_size <= ev.batch_cap * (1.0 + RELATIVE) and ev.batch_cap <= ev.max_batch
    assert ev.memory_used_bytes is not None and ev.memory_bytes_per_replica is not None
    assert ev.memory_used_bytes <= ev.memory_bytes_per_replica * (1.0 + RELATIVE)


@SETTINGS
@given(scenario_data())
def test_results_are_finite_and_physical(data):
    ev = run(data)
    check_numbers(ev)
    if ev.feasible:
        assert ev.infeasible_reason is None
        check_feasible(ev, data)
    else:
        assert isinstance(ev.infeasible_reason, str) and ev.infeasible_reason.strip(), data
        assert any(character.isdigit() for character in ev.infeasible_reason), ev.infeasible_reason


def test_a_known_scenario_passes_the_checks():
    # The properties are not vacuous: the Quick start scenario (feasible) meets each of them.
    data = {
        "name": "property",
        "model": {"preset": "llama-3.1-8b"},
        "hardware": {"preset": "h100-sxm"},
        "workload": {"input_tokens": 1000, "output_tokens": 300, "requests_per_second": 6.94},
        "slo": {"ttft_s": 0.5, "tpot_s": 0.05},
        "serving": {"batching": "continuous"},
    }
    ev = run(data)
    assert ev.feasible
    check_numbers(ev)
    check_feasible(ev, data)
    assert ev.tpot_s is not None and ev.decode.step_time_s is not None
    assert ev.tpot_s >= ev.decode.step_time_s  # prefill interference makes TPOT longer than a step


# Bugs the property test found (both fixed since): each is kept as a regression example.

STATIC_AT_LOW_LOAD = {
    "name": "static",
    "model": {"preset": "llama-3.1-8b"},
    "hardware": {"preset": "mi300x", "count": 4},
    "precision": {"weights": "int8"},
    "workload": {"input_tokens": 30518, "output_tokens": 897, "requests_per_second": 0.2407},
    "serving": {"batching": "static"},
}


def test_static_decode_step_is_the_batch_that_decodes():
    ev = run(STATIC_AT_LOW_LOAD)
    assert ev.feasible and ev.tpot_s is not None and ev.decode.step_time_s is not None
    # At 0.24 requests/s each static batch is one request: the step is the step at batch 1, and a
    # token takes exactly one step (no prefill interrupts a static batch's decode).
    assert ev.tpot_s >= ev.decode.step_time_s * (1.0 - RELATIVE), (ev.tpot_s, ev.decode.step_time_s)


OVERLOADED_ONE_TOKEN = {
    "name": "overloaded",
    "model": {"preset": "llama-2-7b"},
    "hardware": {"preset": "h200", "count": 2},
    "workload": {"input_tokens": 3758, "output_tokens": 1, "requests_per_second": 409.4},
    "serving": {"replicas": 1, "batching": "continuous"},
}


def test_poisson_weights_do_not_overflow_at_a_large_mean():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev = evaluate(Scenario(**OVERLOADED_ONE_TOKEN))
    assert not ev.feasible and ev.infeasible_reason  # 409 requests/s on one replica of ~22/s
