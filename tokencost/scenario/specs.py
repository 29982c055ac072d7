"""The scenario specs, re-exported from their modules (kept so that older imports keep working).

The scenario: typed, frozen, validated specs of a deployment and its load.

Field and section names are a contract (external checks read them): ``model``, ``precision``,
``hardware``, ``parallelism``, ``workload``, ``slo``, ``efficiency`` and their fields. All values
are SI once validated; human units (``"80 GB"``, ``"3.35 TB/s"``, ``"70B"``) are accepted on
input and converted here, once. Presets are merged in before validation: explicit fields override
the preset's. By section: :mod:`~tokencost.scenario.fields` (shared types),
:mod:`~tokencost.scenario.model`, :mod:`~tokencost.scenario.hardware`,
:mod:`~tokencost.scenario.workload` and :mod:`~tokencost.scenario.scenario`.
"""

from tokencost.scenario.fields import (
    BYTES_PER_ELEMENT,
    HIGH_EFFICIENCY_FRACTION,
    NATIVE_COMPUTE,
    Bytes,
    BytesPerS,
    Count,
    FlopPerS,
    Integer,
    Precision,
    Seconds,
    Usd,
    Watts,
)
from tokencost.scenario.hardware import HardwareSpec, ParallelismSpec, PrecisionSpec
from tokencost.scenario.model import ModelSpec
from tokencost.scenario.scenario import Scenario
from tokencost.scenario.workload import EfficiencySpec, SloSpec, WorkloadSpec

__all__ = [
    "BYTES_PER_ELEMENT",
    "HIGH_EFFICIENCY_FRACTION",
    "NATIVE_COMPUTE",
    "Bytes",
    "BytesPerS",
    "Count",
    "EfficiencySpec",
    "FlopPerS",
    "HardwareSpec",
    "Integer",
    "ModelSpec",
    "ParallelismSpec",
    "Precision",
    "PrecisionSpec",
    "Scenario",
    "Seconds",
    "SloSpec",
    "Usd",
    "Watts",
    "WorkloadSpec",
]
