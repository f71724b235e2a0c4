"""Evaluation on its own: numbers that can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentfolio.data import ImageSet
from latentfolio.data.imageset import TEST, TRAIN
from latentfolio.errors import LatentfolioError
from latentfolio.latent.evaluate import evaluate_model
from latentfolio.models import build_model


def mid_grey(z):
    """Stands in for a model's decoder: every reconstruction is mid-grey (0.5)."""
    return torch.full((len(z), 1, 8, 8), 0.5)


def test_metrics_of_a_known_error():
    model = build_model("conv", image_size=8, channels=1, latent_dim=2, widths=(4,), mlp_width=0)
    model.decode = mid_grey  # an instance attribute: it shadows the method
    images = np.zeros((6, 8, 8, 1), np.uint8)  # black: every pixel is off by exactly 0.5
    ds = ImageSet(images=images, split=np.array([TRAIN] * 2 + [TEST] * 4, np.uint8), name="black")
    m = evaluate_model(model, ds, "test")
    assert m["n"] == 4
    assert m["mse"] == pytest.approx(0.25)
    assert m["psnr_db"] == pytest.approx(6.0206, abs=1e-3)  # an MSE of 0.25: 10·log10(4) dB
    assert 0 <= m["ssim"] < 0.01


def test_noisy_inputs_are_scored_against_the_clean_images():
    model = build_model("conv", image_size=8, channels=1, latent_dim=2, widths=(4,), mlp_width=0)
    images = np.full((4, 8, 8, 1), 128, np.uint8)
    ds = ImageSet(images=images, split=np.full(4, TEST, np.uint8), name="grey")
    a = evaluate_model(model, ds, "test", noise="gaussian:0.2", seed=3)
    b = evaluate_model(model, ds, "test", noise="gaussian:0.2", seed=3)
    assert a == b and a["noise"] == "gaussian:0.2"  # seeded
    assert 10 < a["noisy_psnr_db"] < 20  # σ = 0.2 noise, clipped to [0, 1]: about 14 dB


def test_an_empty_split_is_an_error():
    model = build_model("conv", image_size=8, channels=1, latent_dim=2, widths=(4,), mlp_width=0)
    ds = ImageSet(images=np.zeros((2, 8, 8, 1), np.uint8), split=np.full(2, TRAIN, np.uint8), name="x")
    with pytest.raises(LatentfolioError, match="the test split is empty"):
        evaluate_model(model, ds, "test")
