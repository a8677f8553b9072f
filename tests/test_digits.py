"""The digits data source: splits, the scaling to the series' convention and back, and the training hook."""
import numpy as np
import pytest
import torch

from imm_edu import digits, plot
from imm_edu.train import training_points


def test_splits_are_disjoint_stratified_and_cover_every_image():
    sizes = {split: len(digits.load(split)[0]) for split in digits.SPLITS}
    assert sizes == {"train": 1197, "held_out": 300, "floor": 300}
    rows = {split: set(map(bytes, digits.pixels(split)[0].astype(np.uint8))) for split in digits.SPLITS}
    assert not rows["train"] & rows["held_out"] and not rows["train"] & rows["floor"]
    assert not rows["held_out"] & rows["floor"]  # the floor compares two sets of different real digits
    for split in ("held_out", "floor"):
        counts = np.bincount(digits.load(split)[1].numpy(), minlength=10)
        assert counts.min() >= 29 and counts.max() <= 31, counts  # about 1/6 of each class


def test_scaling_gives_pooled_std_half_and_round_trips():
    x, _ = digits.load("train")
    assert x.shape == (1197, 64) and x.dtype == torch.float32
    assert x.pow(2).mean().sqrt().item() == pytest.approx(0.5, rel=1e-5)  # pooled std sigma_d
    assert x.mean(0).abs().max().item() < 1e-5  # every pixel centred by the mean training image
    v, _ = digits.pixels("held_out")
    np.testing.assert_allclose(digits.to_images(digits.from_pixels(v)).reshape(len(v), 64), v, atol=1e-4)
    m, c = digits.scaling()
    assert digits.from_pixels(np.tile(m, (2, 1))).abs().max() < 1e-6 and c == pytest.approx(0.5 / 4.33, rel=1e-2)


def test_to_images_clips_to_the_pixel_range_and_names_bad_shapes():
    img = digits.to_images(torch.cat([torch.full((1, 64), 10.0), torch.full((1, 64), -10.0)]))
    assert img.shape == (2, 8, 8) and img[0].min() == 16.0 and img[1].max() == 0.0
    with pytest.raises(ValueError, match=r"shape \(N, 64\), got \(3, 2\)"):
        digits.to_images(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"\(N, 64\) or \(N, 8, 8\)"):
        digits.from_pixels(np.zeros((3, 7)))
    with pytest.raises(ValueError, match="unknown digits split 'test'"):
        digits.load("test")


def test_fit_on_digits_sees_the_train_split_only():
    assert torch.equal(training_points("digits", dim=64), digits.load("train")[0])
    with pytest.raises(ValueError, match=r"must have shape \(N, 2\), got \(1197, 64\)"):
        training_points("digits")  # a 2-D model cannot train on 64-D images


def test_image_grid_tiles_images_with_gaps():
    images = np.arange(5 * 8 * 8, dtype=float).reshape(5, 8, 8) % 17
    mosaic = plot.tile(images, cols=3, fill=-1.0)
    assert mosaic.shape == (2 * 9 - 1, 3 * 9 - 1)
    np.testing.assert_array_equal(mosaic[9:17, 9:17], images[4])
    assert (mosaic[:, 8] == -1).all() and (mosaic[9:, 18:] == -1).all()  # gaps and the empty last cell
    shown = plot.image_grid(images, cols=3, title="t", kind="imm")
    assert shown.get_array().shape == mosaic.shape and shown.axes.get_title() == "t"
