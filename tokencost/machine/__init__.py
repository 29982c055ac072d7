"""This machine, measured: calibrate (rates and overheads) and verify (the model against the clock)."""
