"""A discrete-event simulator of LLM serving that takes its step times from the analytic model.

>>> from tokencost import Scenario
>>> from tokencost.sim import simulate
>>> scenario = Scenario(model={"preset": "llama-3.1-8b"}, hardware={"preset": "h100-sxm"},
...                     workload={"input_tokens": 500, "output_tokens": 100, "requests_per_second": 5})
>>> result = simulate(scenario, requests=50, seed=1)
>>> result.to_dict()["requests_completed"]
50
"""

from tokencost.sim.engine import Simulation
from tokencost.sim.metrics import RequestRecords, SimulationResult, TimeSeries
from tokencost.sim.run import SimulationSetup, prepare, simulate
from tokencost.sim.specs import (
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
