"""A test helper: a scenario on one replica at a share of its capacity (the operating-point
agreement tests of tests/test_operating_point.py, and the local-attention ones beside it)."""

from __future__ import annotations

from tokencost import Scenario, evaluate


def at_load(scenario: Scenario, fraction: float) -> Scenario:
    """``scenario`` on one replica at ``fraction`` of its capacity (no SLO, so nothing resizes)."""
    data = scenario.model_dump(exclude_none=True)
    capacity = evaluate(scenario).replica_requests_per_s
    workload = {
        key: value
        for key, value in data["workload"].items()
        if key not in ("users", "requests_per_user_per_hour", "requests_per_second")
    }
    data["workload"] = {**workload, "requests_per_second": fraction * capacity}
    data["serving"] = {**data.get("serving", {}), "replicas": 1}
    data.pop("slo", None)
    return Scenario.model_validate(data)
