"""tokencost: what an LLM token costs to serve, from first principles.

>>> from tokencost import load_scenario, evaluate
>>> result = evaluate(load_scenario("scenarios/chat-llama3-8b-h100.yaml"))  # doctest: +SKIP
>>> result.to_dict()["usd_per_million_output_tokens"]  # doctest: +SKIP
"""

from tokencost._version import __version__
from tokencost.api import deployment, evaluate
from tokencost.errors import PresetNotFoundError, ScenarioError, TokenCostError, TokenCostWarning
from tokencost.plan import plan
from tokencost.results import Evaluation, to_frame
from tokencost.scenario import (
    EfficiencySpec,
    HardwareSpec,
    ModelSpec,
    ParallelismSpec,
    PrecisionSpec,
    Scenario,
    SloSpec,
    WorkloadSpec,
    load_hf_config,
    load_scenario,
)
from tokencost.sim import simulate

__all__ = [
    "EfficiencySpec",
    "Evaluation",
    "HardwareSpec",
    "ModelSpec",
    "ParallelismSpec",
    "PrecisionSpec",
    "PresetNotFoundError",
    "Scenario",
    "ScenarioError",
    "SloSpec",
    "TokenCostError",
    "TokenCostWarning",
    "WorkloadSpec",
    "__version__",
    "deployment",
    "evaluate",
    "load_hf_config",
    "load_scenario",
    "plan",
    "simulate",
    "to_frame",
]
