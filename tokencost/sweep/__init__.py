"""Sweeps: a scenario's numbers as a knob turns (``curves``: batch, output length, roofline)."""
