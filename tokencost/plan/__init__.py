"""The planner: screen configurations analytically, confirm the best by simulation."""

from tokencost.plan.planner import Plan, plan

__all__ = ["Plan", "plan"]
