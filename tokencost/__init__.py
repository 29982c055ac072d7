"""tokencost: what an LLM token costs to serve, from first principles.

>>> from tokencost import load_scenario, evaluate
>>> result = evaluate(load_scenario("scenarios/chat-llama3-8b-h100.yaml"))  # doctest: +SKIP
>>> result.to_dict()["usd_per_million_output_tokens"]  # doctest: +SKIP

``import tokencost`` itself is light (the version and the error tree): each public name is imported
from its module on first use (PEP 562), so ``tokencost --help`` and code that only needs the errors
do not pay for numpy and the pydantic specs.
"""

import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tokencost._version import __version__
from tokencost.errors import PresetNotFoundError, ScenarioError, TokenCostError, TokenCostWarning

if TYPE_CHECKING:
    from tokencost.api import deployment, evaluate
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

# Where each lazily imported public name lives.
_LAZY = {
    "deployment": "tokencost.api",
    "evaluate": "tokencost.api",
    "Evaluation": "tokencost.results",
    "to_frame": "tokencost.results",
    "EfficiencySpec": "tokencost.scenario",
    "HardwareSpec": "tokencost.scenario",
    "ModelSpec": "tokencost.scenario",
    "ParallelismSpec": "tokencost.scenario",
    "PrecisionSpec": "tokencost.scenario",
    "Scenario": "tokencost.scenario",
    "SloSpec": "tokencost.scenario",
    "WorkloadSpec": "tokencost.scenario",
    "load_hf_config": "tokencost.scenario",
    "load_scenario": "tokencost.scenario",
    "simulate": "tokencost.sim",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'tokencost' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"plan"})


class _Package(types.ModuleType):
    """This module's type: ``tokencost.plan`` stays the planner function.

    ``plan`` is also the name of a subpackage, and importing ``tokencost.plan`` (which the CLI and
    the sweeps do) binds that subpackage as an attribute here; eagerly, the later ``from
    tokencost.plan import plan`` rebound the name to the function. A property keeps it so lazily.
    """

    @property
    def plan(self) -> Callable[..., Any]:
        from tokencost.plan.planner import plan

        return plan

    @plan.setter
    def plan(self, value: object) -> None:
        """The import system binding the subpackage: the public name stays the function."""


sys.modules[__name__].__class__ = _Package


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
