"""Scenario specs (one module per section), the preset catalogs and the YAML loader."""

from tokencost.scenario.catalog import calibration, catalog, find_preset
from tokencost.scenario.hardware import HardwareSpec, ParallelismSpec, PrecisionSpec
from tokencost.scenario.hf import load_hf_config
from tokencost.scenario.loading import load_scenario, scenario_from_dict
from tokencost.scenario.model import ModelSpec
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.workload import EfficiencySpec, SloSpec, WorkloadSpec

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
