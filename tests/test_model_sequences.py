"""The per-sequence cost of a decode step (tokencost.model.sequences)."""

import numpy as np
import pytest

from tokencost.model.sequences import sequence_overhead_s


def test_the_cost_grows_with_the_sequences_beyond_the_first():
    # 0.1 ms per sequence: 9 sequences add 8 × 0.1 = 0.8 ms to the step; one adds nothing (its
    # share is in the batch-1 step overhead), and so does an empty step.
    assert float(sequence_overhead_s(9, 1e-4)) == pytest.approx(8e-4)
    assert float(sequence_overhead_s(1, 1e-4)) == 0.0
    assert float(sequence_overhead_s(0.0, 1e-4)) == 0.0


def test_it_broadcasts_and_is_linear_in_the_batch():
    batches = np.array([1.0, 2.0, 17.0, 129.0])
    values = sequence_overhead_s(batches, np.array([[1e-4], [2e-4]]))
    assert values.shape == (2, 4)
    np.testing.assert_allclose(values[0], [0.0, 1e-4, 1.6e-3, 1.28e-2])
    np.testing.assert_allclose(values[1], 2 * values[0])
