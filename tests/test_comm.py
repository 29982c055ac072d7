"""All-reduce cost at small and large sizes, PCIe cards, and llama.cpp's layer split (issue 9, item 3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tokencost as tc
import tokencost.api
from tokencost.model import parallelism as par
from tokencost.scenario.hardware import HardwareSpec
from tokencost.scenario.scenario import Scenario

PCIE_CARDS = (
    "rtx-3090",
    "rtx-4080",
    "rtx-4090",
    "rtx-6000-ada",
    "rtx-pro-6000",
    "l4",
    "l40",
    "l40s",
    "a10",
    "a10g",
    "rtx-5090",
)
PCIE_GEN4_PER_DIRECTION = 32e9  # PCIe 4.0 x16: 64 GB/s both ways
PCIE_GEN5_PER_DIRECTION = 64e9  # PCIe 5.0 x16: 128 GB/s both ways


def _preset_time(preset: str, message: float, ranks: float, efficiency: float = 0.77) -> float:
    hw = HardwareSpec(preset=preset)
    algorithm = "auto" if hw.interconnect_topology == "switched" else "ring"
    return float(
        par.all_reduce_time_s(
            message,
            ranks,
            float(hw.interconnect_bandwidth or 0.0),
            efficiency,
            float(hw.interconnect_latency or 0.0),
            float(hw.interconnect_hop_latency or 0.0),
            algorithm,
        )
    )


def test_hand_8_way_16_kb_on_pcie_costs_its_latency() -> None:
    # l40s preset: α₀ = 6.6 µs, α_hop = 1.0 µs (NCCL tuning.cc, ring LL), PCIe 32 GB/s, η = 0.77, ring.
    # α(8) = 6.6 + 2·7·1.0 = 20.6 µs; bandwidth term 2·7/8·16384 / (32e9·0.77) = 28672 / 24.64e9
    # = 1.164 µs (5.6 % of α); total 21.76 µs.
    got = _preset_time("l40s", 16384.0, 8.0)
    latency = 6.6e-6 + 14 * 1.0e-6
    bandwidth = 2 * 7 / 8 * 16384 / (32e9 * 0.77)
    assert got == pytest.approx(latency + bandwidth, rel=1e-9)
    assert got == pytest.approx(21.76e-6, rel=1e-3)
    assert bandwidth < 0.1 * latency


def test_hand_8_way_16_kb_on_nvswitch_costs_its_latency() -> None:
    # h100-sxm preset: α₀ = 6.6 µs, α_hop = 0.6 µs, NVLink 450 GB/s, η = 0.77, switched (auto).
    # one-shot: 6.6 + 0.6 = 7.2 µs + 7·16384/(450e9·0.77) = 114688/346.5e9 = 0.331 µs → 7.531 µs;
    # two-shot: 6.6 + 1.2 = 7.8 µs + 0.083 µs = 7.883 µs; ring: 6.6 + 8.4 + 0.083 = 15.08 µs.
    # The quickest, one-shot, 7.53 µs: inside the measured 5.6–10.1 µs of small TP8 all-reduces
    # (calibration.yaml: SGLang 5.9 µs, vLLM 10.1 µs custom all-reduce on 8×H100).
    got = _preset_time("h100-sxm", 16384.0, 8.0)
    assert got == pytest.approx(7.531e-6, rel=1e-3)
    bandwidth = 7 * 16384 / (450e9 * 0.77)
    assert bandwidth < 0.1 * (got - bandwidth)
    assert 5.56e-6 <= got <= 10.1e-6


def test_large_message_is_bandwidth_bound() -> None:
    # 1 GB over 8 ranks at 100 GB/s, η = 1, α₀ = 10 µs, α_hop = 1 µs (ring):
    # 10 + 14 = 24 µs + 2·7/8·1e9/1e11 = 17.5 ms → latency is 0.14 % of the total.
    got = float(par.all_reduce_time_s(1e9, 8, 1e11, 1.0, 10e-6, 1e-6, "ring"))
    assert got == pytest.approx(17.5e-3 + 24e-6)
    # auto on a switch never takes one-shot's 7/1 bytes for large messages: it is the 2(n−1)/n volume.
    auto = float(par.all_reduce_time_s(1e9, 8, 1e11, 1.0, 10e-6, 1e-6, "auto"))
    assert auto == pytest.approx(17.5e-3 + 12e-6)


def test_hops_by_algorithm() -> None:
    # ring 2(n−1); tree 2·⌈log2 n⌉; one-/two-shot 1 and 2 whatever n; one rank: none.
    assert par.all_reduce_hops(8, "ring") == 14
    assert par.all_reduce_hops(8, "tree") == 6
    assert par.all_reduce_hops(6, "tree") == 6
    assert par.all_reduce_hops(64, "one_shot") == 1
    assert par.all_reduce_hops(64, "two_shot") == 2
    assert par.all_reduce_hops(1, "ring") == 0
    with pytest.raises(ValueError, match="unknown all-reduce algorithm"):
        par.all_reduce_hops(8, "butterfly")


def test_scalar_and_array_paths_agree() -> None:
    sizes = [64.0, 16384.0, 1e6, 1e9]
    for algorithm in par.ALL_REDUCE_ALGORITHMS:
        arr = par.all_reduce_time_s(np.array(sizes), 8, 450e9, 0.77, 6.6e-6, 0.6e-6, algorithm)
        one = [par.all_reduce_time_s(s, 8, 450e9, 0.77, 6.6e-6, 0.6e-6, algorithm) for s in sizes]
        assert isinstance(one[0], float)
        np.testing.assert_allclose(arr, one, rtol=1e-12)
    assert par.all_reduce_time_s(np.array([1e6]), np.array([1.0]), 1e11, 1.0, 1e-5, 1e-6)[0] == 0.0


sizes = st.floats(min_value=1.0, max_value=1e10)
ranks = st.integers(min_value=1, max_value=256)
algorithms = st.sampled_from(par.ALL_REDUCE_ALGORITHMS)


@given(sizes, sizes, ranks, algorithms)
def test_monotone_in_size(a: float, b: float, n: int, algorithm: str) -> None:
    small, large = sorted((a, b))
    t_small = par.all_reduce_time_s(small, n, 450e9, 0.77, 6.6e-6, 0.6e-6, algorithm)
    t_large = par.all_reduce_time_s(large, n, 450e9, 0.77, 6.6e-6, 0.6e-6, algorithm)
    assert t_small <= t_large


@given(sizes, ranks, ranks, st.sampled_from(("ring", "tree", "two_shot", "auto")))
def test_monotone_in_ranks(size: float, a: int, b: int, algorithm: str) -> None:
    # One-shot alone moves (n−1)·S and grows too; the 2(n−1)/n volume and the hop counts grow with n.
    few, many = sorted((a, b))
    t_few = par.all_reduce_time_s(size, few, 32e9, 0.77, 6.6e-6, 1.0e-6, algorithm)
    t_many = par.all_reduce_time_s(size, many, 32e9, 0.77, 6.6e-6, 1.0e-6, algorithm)
    assert t_few <= t_many * (1 + 1e-12)


@given(sizes, st.integers(min_value=2, max_value=256))
def test_auto_is_never_slower_than_ring(size: float, n: int) -> None:
    ring = par.all_reduce_time_s(size, n, 450e9, 0.77, 6.6e-6, 0.6e-6, "ring")
    assert par.all_reduce_time_s(size, n, 450e9, 0.77, 6.6e-6, 0.6e-6, "auto") <= ring


@pytest.mark.parametrize("preset", PCIE_CARDS)
def test_pcie_card_uses_pcie_rates(preset: str) -> None:
    hw = HardwareSpec(preset=preset)
    gen5 = preset in ("rtx-pro-6000", "rtx-5090")
    assert hw.interconnect_bandwidth == (PCIE_GEN5_PER_DIRECTION if gen5 else PCIE_GEN4_PER_DIRECTION)
    assert hw.interconnect_topology == "ring"
    assert hw.interconnect_hop_latency == pytest.approx(1.0e-6)  # NCCL's PCIe hop, not NVLink's 0.6 µs


@pytest.mark.parametrize(
    ("preset", "algorithm", "hop_s"), [("l40s", "ring", 1.0e-6), ("h100-sxm", "auto", 0.6e-6)]
)
def test_deployment_carries_the_topology(preset: str, algorithm: str, hop_s: float) -> None:
    scenario = Scenario(
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": preset, "count": 8},
        precision={"weights": "fp8"},
        workload={"input_tokens": 128, "output_tokens": 16},
    )
    dep = tc.api.deployment(scenario)
    assert dep.all_reduce_algorithm == algorithm
    assert dep.interconnect_hop_latency_s == pytest.approx(hop_s)


def _llama_cpp(**extra: object) -> Scenario:
    return Scenario(
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": "rtx-4090", "count": 4},
        precision={"weights": "q4_k_m"},
        engine="llama.cpp",
        workload={"input_tokens": 512, "output_tokens": 128},
        **extra,  # type: ignore[arg-type]
    )


def test_llama_cpp_multi_gpu_is_a_layer_split() -> None:
    scenario = _llama_cpp()
    assert (scenario.parallelism.tensor, scenario.parallelism.pipeline) == (1, 4)
    result = tc.evaluate(scenario)
    assert any("splits layers" in note for note in result.notes)
    # A layer split has no all-reduce (tensor = 1): only 3 stage hops of the activations.
    assert tc.api.deployment(scenario).tensor == 1.0
    again = Scenario.model_validate(scenario.model_dump())
    assert again.parallelism.pipeline == 4


def test_llama_cpp_explicit_tensor_parallelism_is_kept() -> None:
    scenario = _llama_cpp(parallelism={"tensor": 4})
    assert (scenario.parallelism.tensor, scenario.parallelism.pipeline) == (4, 1)
    assert not any("splits layers" in note for note in tc.evaluate(scenario).notes)


def test_other_engines_default_to_tensor_parallelism() -> None:
    scenario = Scenario(
        model={"preset": "llama-3.1-70b"},
        hardware={"preset": "rtx-4090", "count": 4},
        precision={"weights": "int4"},
        engine="vllm",
        workload={"input_tokens": 512, "output_tokens": 128},
    )
    assert (scenario.parallelism.tensor, scenario.parallelism.pipeline) == (4, 1)


def test_every_algorithm_is_the_one_alpha_beta_formula_on_every_path() -> None:
    """``α₀ + h(n)·α_hop + f(n)·S/(β·η)`` by hand (h from all_reduce_hops, f = 2(n−1)/n, one-shot
    n − 1; auto the least of ring, one-shot and two-shot): the floats' path, an array of messages
    over one rank count, and arrays of both give it bit for bit."""
    link, efficiency, latency, hop = 450e9, 0.77, 6.6e-6, 0.6e-6
    rate = link * efficiency
    for algorithm in par.ALL_REDUCE_ALGORITHMS:
        names = ("ring", "one_shot", "two_shot") if algorithm == "auto" else (algorithm,)
        for ranks in (2.0, 3.0, 8.0, 72.0):
            for message in (64.0, 16384.0, 1e6, 3.3e9):
                volumes = {
                    name: ranks - 1.0 if name == "one_shot" else 2.0 * (ranks - 1.0) / ranks for name in names
                }
                expected = min(
                    latency + par.all_reduce_hops(ranks, name) * hop + volumes[name] * message / rate
                    for name in names
                )
                plain = par.all_reduce_time_s(message, ranks, link, efficiency, latency, hop, algorithm)
                over_one = par.all_reduce_time_s(
                    np.array([message]), ranks, link, efficiency, latency, hop, algorithm
                )
                every = par.all_reduce_time_s(
                    np.array([message]), np.array([ranks]), link, efficiency, latency, hop, algorithm
                )
                assert type(plain) is float and plain == expected, (algorithm, ranks, message)
                assert np.asarray(over_one)[0] == expected and np.asarray(every)[0] == expected
