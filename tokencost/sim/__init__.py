"""A discrete-event simulator of LLM serving that takes its step times from the analytic model.

>>> from tokencost import Scenario
>>> from tokencost.sim import simulate
>>> scenario = Scenario(model={"preset": "llama-3.1-8b"}, hardware={"preset": "h100-sxm"},
...                     workload={"input_tokens": 500, "output_tokens": 100, "requests_per_second": 5})
>>> result = simulate(scenario, requests=50, seed=1)
>>> result.to_dict()["requests_completed"]
50
"""

from typing import TYPE_CHECKING, Any

from tokencost.scenario.traffic import (
    DiurnalTraffic,
    FixedLengths,
    GammaTraffic,
    LognormalLengths,
    PoissonTraffic,
    ServingSpec,
    SimSections,
    TraceLengths,
    TraceTraffic,
    UniformLengths,
)

if TYPE_CHECKING:
    from tokencost.sim.engine import Simulation
    from tokencost.sim.metrics import RequestRecords, SimulationResult, TimeSeries
    from tokencost.sim.run import SimulationSetup, prepare, simulate

# The engine and simulate() are imported on first use: tokencost.scenario.traffic must be importable by
# tokencost.scenario.specs (to carry these sections) without importing the API back.
_LAZY = {
    "Simulation": "tokencost.sim.engine",
    "RequestRecords": "tokencost.sim.metrics",
    "SimulationResult": "tokencost.sim.metrics",
    "TimeSeries": "tokencost.sim.metrics",
    "SimulationSetup": "tokencost.sim.run",
    "prepare": "tokencost.sim.run",
    "simulate": "tokencost.sim.run",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tokencost.sim' has no attribute {name!r}")


__all__ = [
    "DiurnalTraffic",
    "FixedLengths",
    "GammaTraffic",
    "LognormalLengths",
    "PoissonTraffic",
    "RequestRecords",
    "ServingSpec",
    "SimSections",
    "Simulation",
    "SimulationResult",
    "SimulationSetup",
    "TimeSeries",
    "TraceLengths",
    "TraceTraffic",
    "UniformLengths",
    "prepare",
    "simulate",
]
