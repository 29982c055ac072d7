"""Scenario specs, the preset catalogs and the YAML loader."""

from tokencost.scenario.catalog import calibration, catalog, find_preset
from tokencost.scenario.hf import load_hf_config
from tokencost.scenario.loading import load_scenario, scenario_from_dict
from tokencost.scenario.specs import (
    EfficiencySpec,
    HardwareSpec,
    ModelSpec,
    ParallelismSpec,
    PrecisionSpec,
    Scenario,
    SloSpec,
    WorkloadSpec,
)

__all__ = [
    "EfficiencySpec",
    "HardwareSpec",
    "ModelSpec",
    "ParallelismSpec",
    "PrecisionSpec",
    "Scenario",
    "SloSpec",
    "WorkloadSpec",
    "calibration",
    "catalog",
    "find_preset",
    "load_hf_config",
    "load_scenario",
    "scenario_from_dict",
]
