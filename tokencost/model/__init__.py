"""The analytic model: pure numpy functions of FLOP, bytes, time and money. No I/O."""
