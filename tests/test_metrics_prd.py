"""Tests of the precision-recall curves of Sajjadi et al. (2018) in companion.metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from companion.metrics import prd_curve, prd_f_beta, prd_from_histograms


def test_prd_from_histograms_known_answer():
    # P puts all mass on bin 0, Q half on each: alpha = min(lambda, 1/2), beta = min(1, 1/(2 lambda)).
    precision, recall = prd_from_histograms([1.0, 0.0], [0.5, 0.5], n_angles=101)
    slopes = np.tan(np.linspace(1e-10, np.pi / 2 - 1e-10, 101))
    np.testing.assert_allclose(precision, np.minimum(slopes, 0.5), atol=1e-9)
    np.testing.assert_allclose(recall, np.minimum(1.0, 0.5 / slopes), atol=1e-9)
    assert precision.max() == pytest.approx(0.5) and recall.max() == pytest.approx(1.0)


def test_prd_identical_and_disjoint_histograms():
    p, r = prd_from_histograms([0.2, 0.3, 0.5], [2, 3, 5])  # normalised inside
    assert prd_f_beta(p, r) == pytest.approx((1.0, 1.0), abs=1e-3)
    p, r = prd_from_histograms([1, 1, 0, 0], [0, 0, 1, 1])
    assert p.max() == 0.0 and r.max() == 0.0


def test_prd_curve_sees_dropped_modes_as_low_recall_and_spurious_ones_as_low_precision():
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    real = centres[torch.arange(800) % 4] + 0.3 * torch.randn(800, 2, generator=gen)
    half = centres[torch.arange(800) % 2] + 0.3 * torch.randn(800, 2, generator=gen)  # two of four modes
    recall_f, precision_f = prd_f_beta(*prd_curve(real, half, n_clusters=8, n_runs=2))
    assert precision_f > 0.9 and recall_f < 0.6
    # the other way round: the real data is the half, the model spills onto two more modes
    recall_f, precision_f = prd_f_beta(*prd_curve(half, real, n_clusters=8, n_runs=2))
    assert recall_f > 0.9 and precision_f < 0.6
    same = centres[torch.arange(800) % 4] + 0.3 * torch.randn(800, 2, generator=gen)
    assert min(prd_f_beta(*prd_curve(real, same, n_clusters=8, n_runs=2))) > 0.85


def test_prd_bad_inputs():
    with pytest.raises(ValueError, match="same bins"):
        prd_from_histograms([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        prd_from_histograms([1, -1], [1, 1])
    with pytest.raises(ValueError, match="n_angles"):
        prd_from_histograms([1, 1], [1, 1], n_angles=2)
    with pytest.raises(ValueError, match="same number of features"):
        prd_curve(np.zeros((10, 2)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="n_clusters"):
        prd_curve(np.random.rand(5, 2), np.random.rand(5, 2), n_clusters=11)
    with pytest.raises(TypeError, match="real_features"):
        prd_curve([[0.0, 1.0]], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="beta"):
        prd_f_beta(np.ones(3), np.ones(3), beta=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        prd_f_beta(np.array([2.0]), np.array([0.5]))
