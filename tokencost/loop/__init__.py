"""The generation loop of the seed: sampling, the reference transformer and the meter (numpy only)."""
