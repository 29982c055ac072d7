"""Test-wide settings: hypothesis explores the same examples on every run (CI included), so a
green suite stays green on a clean clone; set TOKENCOST_HYPOTHESIS_RANDOM=1 to explore afresh."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True)
settings.register_profile("random", derandomize=False)
settings.load_profile("random" if os.environ.get("TOKENCOST_HYPOTHESIS_RANDOM") == "1" else "deterministic")
