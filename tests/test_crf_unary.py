"""Tests for course_lib.crf.unary: appearance models and unaries from probabilities."""

import numpy as np
import pytest
import torch

from course_lib.crf import unary as U


def _two_colour_image(device):
    img = torch.zeros(8, 8, 3, dtype=torch.uint8, device=device)
    img[:, 4:] = torch.tensor([200, 30, 30], dtype=torch.uint8)
    img[:, :4] = torch.tensor([20, 150, 20], dtype=torch.uint8)
    label = torch.zeros(8, 8, dtype=torch.int64, device=device)
    label[:, 4:] = 1
    return img, label


def test_histogram_known_answer(device):
    img, label = _two_colour_image(device)
    model = U.fit_color_histogram(img, label, 2, bins=4, alpha=1.0)
    assert model.probs.shape == (2, 4, 4, 4)
    torch.testing.assert_close(model.probs.sum((1, 2, 3)), torch.ones(2))
    # class 0 saw 32 pixels in one cell: (32 + 1) / (32 + 64)
    cell = model.cells(img)[0, 0]
    assert model.probs[0].reshape(-1)[cell] == pytest.approx(33 / 96)
    unary = model(img)
    assert unary.shape == (2, 8, 8) and unary.device == img.device
    assert torch.equal(unary.argmin(0), label)
    # the prior is Laplace-smoothed class frequency
    torch.testing.assert_close(model.prior, torch.tensor([0.5, 0.5]))


def test_histogram_ignores_void_and_matches_numpy_histogramdd():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    label = rng.integers(0, 3, (16, 16))
    label[:3] = 255
    model = U.fit_color_histogram(img, label, 3, bins=8, alpha=0.5)
    for c in range(3):
        ref, _ = np.histogramdd(img[label == c].reshape(-1, 3), bins=8, range=[(0, 256)] * 3)
        ref = (ref + 0.5) / (ref + 0.5).sum()
        np.testing.assert_allclose(model.probs[c].numpy(), ref, rtol=1e-5)


def test_gaussian_mixture_separates_colours():
    img, label = _two_colour_image("cpu")
    noisy = (img.float() + torch.randn(8, 8, 3, generator=torch.Generator().manual_seed(0)) * 5)
    noisy = noisy.clamp(0, 255).to(torch.uint8)
    for cov in ("full", "diag"):
        model = U.fit_gaussian_mixture(noisy, label, 3, n_components=2, covariance_type=cov)
        unary = model(noisy)
        assert unary.shape == (3, 8, 8)
        assert torch.equal(unary.argmin(0), label)
        # class 2 has no pixels: a constant, large cost
        assert model.mixtures[2] is None and torch.all(unary[2] == unary[2, 0, 0])
        assert torch.all(unary[2] > unary.gather(0, label[None]) + 100)


def test_unary_from_probs_and_logits(device):
    logits = torch.randn(4, 5, 6, device=device)
    probs = torch.softmax(logits, 0)
    torch.testing.assert_close(U.unary_from_probs(probs), -probs.log())
    torch.testing.assert_close(U.unary_from_logits(logits), -probs.log(), atol=1e-5, rtol=1e-5)
    zero = torch.zeros(2, 1, 1, device=device)
    zero[0] = 1
    assert U.unary_from_probs(zero, eps=1e-6)[1, 0, 0].item() == pytest.approx(-np.log(1e-6))


def test_rejects_probs_not_summing_to_one():
    with pytest.raises(ValueError, match="probs must sum to 1"):
        U.unary_from_probs(torch.full((3, 2, 2), 0.5))


def test_rejects_negative_probs():
    p = torch.full((2, 2, 2), 0.5)
    p[0, 0, 0], p[1, 0, 0] = -0.5, 1.5
    with pytest.raises(ValueError, match="non-negative"):
        U.unary_from_probs(p)


def test_rejects_probs_bad_shape():
    with pytest.raises(ValueError, match=r"probs must have shape \(C, H, W\)"):
        U.unary_from_probs(torch.full((1, 3, 2, 2), 1 / 3))


def test_rejects_non_rgb_image():
    with pytest.raises(ValueError, match=r"image must be an RGB image of shape \(H, W, 3\)"):
        U.fit_color_histogram(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.int64), 2)


def test_rejects_label_image_mismatch():
    with pytest.raises(ValueError, match="does not match image"):
        U.fit_color_histogram(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.int64), 2)


def test_rejects_label_out_of_range():
    with pytest.raises(ValueError, match="outside 0..1"):
        U.fit_color_histogram(np.zeros((2, 2, 3), np.uint8), np.full((2, 2), 7), 2)


def test_rejects_float_label():
    with pytest.raises(TypeError, match="label must hold integer class labels"):
        U.fit_color_histogram(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2)), 2)


def test_rejects_float_image_out_of_range():
    with pytest.raises(ValueError, match=r"expected \[0, 1\]"):
        U.fit_color_histogram(np.full((2, 2, 3), 200.0), np.zeros((2, 2), np.int64), 2)


# ----------------------------------------------------------------------------- issue 13 findings
def test_class_prior_rejects_float_labels():
    with pytest.raises(TypeError, match="label must hold integer class labels"):
        U.class_prior(torch.tensor([0.0, 1.7]), 2)


def test_fit_color_histogram_rejects_bool_num_classes():
    img = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(TypeError, match=r"num_classes must be an integer, got bool \(True\)"):
        U.fit_color_histogram(img, np.zeros((2, 2), np.int64), True)


def test_nan_pixels_are_rejected_not_binned_as_black():
    img = np.zeros((2, 2, 3))
    img[0, 0] = np.nan
    with pytest.raises(ValueError, match="image must be finite"):
        U.fit_color_histogram(img, np.zeros((2, 2), np.int64), 1)
    model = U.fit_color_histogram(np.zeros((2, 2, 3)), np.zeros((2, 2), np.int64), 1)
    with pytest.raises(ValueError, match="image must be finite"):
        model(img)


def test_gaussian_mixture_with_one_pixel_class():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
    label = np.full((8, 8), 255)
    label[:4] = 0
    label[5, 5] = 1                                  # one labelled pixel of class 1
    model = U.fit_gaussian_mixture(img, label, 2, n_components=3)
    assert model.mixtures[1].n_components == 1
    torch.testing.assert_close(model.mixtures[1].means_[0], img[5, 5] / 255.0)
    u = model(img)
    assert u.shape == (2, 8, 8) and bool(torch.isfinite(u).all())


def test_one_unary_from_probabilities():
    from course_lib.crf import dense
    assert U.unary_from_probs is U.unary_from_probabilities is dense.unary_from_probabilities


def test_histogram_model_rebuilt_from_its_tables():
    """A model rebuilt from its tables (say, saved and loaded) gives the same unaries, also
    with empty cells (alpha=0: probability 0, cost +inf), one class or one bin per channel."""
    img, label = _two_colour_image("cpu")
    for num_classes, bins, lab in ((2, 4, label), (1, 4, torch.zeros_like(label)), (2, 1, label)):
        model = U.fit_color_histogram(img, lab, num_classes, bins=bins, alpha=0.0)
        rebuilt = U.ColorHistogramModel(model.probs, model.prior)
        assert (rebuilt.num_classes, rebuilt.bins) == (num_classes, bins)
        torch.testing.assert_close(rebuilt(img), model(img))
    # alpha=0: a colour a class never saw is impossible for it
    model = U.fit_color_histogram(img, label, 2, bins=4, alpha=0.0)
    u = U.ColorHistogramModel(model.probs, model.prior)(img)
    assert bool(torch.isinf(u[1, label == 0]).all()) and bool(torch.isfinite(u[0, label == 0]).all())
    # one bin: the colour says nothing, the unary is -log p(c) everywhere
    model = U.fit_color_histogram(img, label, 2, bins=1, alpha=0.0)
    torch.testing.assert_close(U.ColorHistogramModel(model.probs, model.prior)(img),
                               -model.prior.log()[:, None, None].expand(2, 8, 8))


def test_histogram_model_rejects_negative_tables():
    probs, prior = torch.full((2, 2, 2, 2), 1 / 8), torch.full((2,), 0.5)
    bad = probs.clone()
    bad[0, 0, 0, 0] = -0.1
    with pytest.raises(ValueError, match="non-negative"):
        U.ColorHistogramModel(bad, prior)
    with pytest.raises(ValueError, match="non-negative"):
        U.ColorHistogramModel(probs, torch.tensor([1.5, -0.5]))


def test_documented_defaults():
    # fit_color_histogram: bins=16, alpha=1, ignore_index=255 (VOC void)
    img, label = _two_colour_image("cpu")
    label[0, 0] = 255
    default = U.fit_color_histogram(img, label, 2)
    explicit = U.fit_color_histogram(img, label, 2, bins=16, alpha=1.0, ignore_index=255)
    assert default.bins == 16
    torch.testing.assert_close(default.probs, explicit.probs)
    torch.testing.assert_close(default.prior, explicit.prior)
    # fit_gaussian_mixture ignores VOC void (255) by default, too
    gm = U.fit_gaussian_mixture(img, label, 2, n_components=1)
    torch.testing.assert_close(gm.prior, U.class_prior(label, 2, ignore_index=255))


def test_histogram_cell_limit():
    img = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(ValueError, match=r"num_classes \* bins\*\*3 = 285212672 histogram cells"):
        U.fit_color_histogram(img, np.zeros((2, 2), np.int64), 17, bins=256)


def test_gaussian_mixture_seed_range():
    img, label = _two_colour_image("cpu")
    U.fit_gaussian_mixture(img, label, 2, n_components=1, seed=2**32 - 1)   # numpy's largest
    with pytest.raises(ValueError, match="seed must be an integer in"):
        U.fit_gaussian_mixture(img, label, 2, n_components=1, seed=2**32)


def test_gaussian_mixture_repr():
    img, label = _two_colour_image("cpu")
    model = U.fit_gaussian_mixture(img, label, 3, n_components=2, covariance_type="diag")
    # one distinct colour per class: one Gaussian each
    assert repr(model) == ("GaussianMixtureModel(num_classes=3, n_components=1, "
                           "covariance_type='diag')")
    empty = U.fit_gaussian_mixture(img, torch.full_like(label, 255), 2)   # no labelled pixel
    assert repr(empty) == "GaussianMixtureModel(num_classes=2, n_components=0, covariance_type='?')"


def test_dense_crf_probabilities_use_the_same_unaries():
    from course_lib.crf import dense_crf

    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(3, 6, 7, generator=g), 0)
    probs[0, 0, 0], probs[1:, 0, 0] = 1.0, 0.0                       # -log 0 -> -log eps
    image = torch.randint(0, 256, (6, 7, 3), generator=g, dtype=torch.uint8)
    torch.testing.assert_close(dense_crf(probs, image, probabilities=True, iterations=2),
                               dense_crf(U.unary_from_probabilities(probs), image, iterations=2))


def test_zero_probabilities_and_prior_are_accepted():
    """A zero table entry or prior is a valid probability (cost +inf); only a negative one
    is refused."""
    probs = torch.full((2, 2, 2, 2), 1 / 8)
    probs[0] = 0.0
    probs[0, 0, 0, 0] = 1.0                             # class 0: all mass on the black cell
    model = U.ColorHistogramModel(probs, torch.tensor([1.0, 0.0]))
    img = torch.zeros(1, 2, 3)
    img[0, 1] = 1.0                                     # a black and a white pixel
    u = model(img)
    assert u[0, 0, 0].item() == 0.0 and u[0, 0, 1].item() == float("inf")
    assert bool(torch.isinf(u[1]).all())                # prior 0: class 1 impossible
    torch.testing.assert_close(model(img, use_prior=False)[1], torch.full((1, 2), np.log(8.0)))
    # GaussianMixtureModel: a zero prior is accepted too, a negative one is refused
    image, label = _two_colour_image("cpu")
    gm = U.fit_gaussian_mixture(image, label, 2, n_components=1)
    zero = U.GaussianMixtureModel(gm.mixtures, torch.tensor([1.0, 0.0]))
    u = zero(image)
    assert bool(torch.isinf(u[1]).all()) and bool(torch.isfinite(u[0]).all())
    with pytest.raises(ValueError, match="prior must be non-negative"):
        U.GaussianMixtureModel(gm.mixtures, torch.tensor([1.5, -0.5]))


def test_gaussian_mixture_default_absent_cost():
    """absent_cost defaults to 1e3 (the signatures), in the model and in the fit."""
    image, label = _two_colour_image("cpu")
    fitted = U.fit_gaussian_mixture(image, label, 3, n_components=1)
    assert fitted.absent_cost == 1e3 and fitted.mixtures[2] is None
    explicit = U.fit_gaussian_mixture(image, label, 3, n_components=1, absent_cost=1e3)
    torch.testing.assert_close(fitted(image), explicit(image))
    model = U.GaussianMixtureModel(fitted.mixtures, fitted.prior)
    assert model.absent_cost == 1e3
    u = model(image, use_prior=False)
    assert bool((u[2] == 1e3).all())
    torch.testing.assert_close(u, U.GaussianMixtureModel(fitted.mixtures, fitted.prior,
                                                         1e3)(image, use_prior=False))


def test_gaussian_mixture_matches_sklearn():
    """Each class's mixture is scikit-learn's GaussianMixture fitted to its pixels with
    reg_covar=1e-4 (and the seed as random_state), for every covariance type."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (6, 6, 3)) / 255.0        # float64 in [0, 1]: used as is
    label = rng.integers(0, 2, (6, 6))
    x = img.reshape(-1, 3)
    for cov in ("full", "diag", "spherical", "tied"):
        model = U.fit_gaussian_mixture(img, label, 2, n_components=2, covariance_type=cov, seed=5)
        for c in range(2):
            ref = GaussianMixture(2, covariance_type=cov, reg_covar=1e-4, random_state=5)
            ref.fit(x[label.reshape(-1) == c])
            np.testing.assert_allclose(model.mixtures[c].score_samples(x), ref.score_samples(x),
                                       rtol=1e-6)
    # a one-pixel class is one Gaussian of covariance reg_covar * I around its colour
    label = np.full((6, 6), 255)
    label[2, 3] = 0
    model = U.fit_gaussian_mixture(img, label, 1, covariance_type="full")
    peak = -1.5 * np.log(2 * np.pi * 1e-4)
    assert model.mixtures[0].score_samples(img[2, 3][None])[0] == pytest.approx(peak, rel=1e-6)


def test_histogram_bins_range():
    """bins may be 1..256 (256: one cell per uint8 value); 257 is refused."""
    img = np.zeros((2, 2, 3), np.uint8)
    wrong = np.zeros((2, 3), np.int64)           # a mismatched label: fails after the checks
    with pytest.raises(ValueError, match="does not match image"):
        U.fit_color_histogram(img, wrong, 1, bins=256)
    with pytest.raises(ValueError, match="bins must be an integer in"):
        U.fit_color_histogram(img, np.zeros((2, 2), np.int64), 1, bins=257)


def test_histogram_cell_limit_boundary():
    """The guard allows num_classes * bins**3 up to 2**28 (checked before any allocation:
    the mismatched label is the next error) and refuses more."""
    img = np.zeros((2, 2, 3), np.uint8)
    wrong = np.zeros((2, 3), np.int64)
    for num_classes, bins in ((16, 256), (128, 128), (1024, 64), (8192, 32)):   # 2**28
        with pytest.raises(ValueError, match="does not match image"):
            U.fit_color_histogram(img, wrong, num_classes, bins=bins)
    for num_classes, bins in ((17, 256), (129, 128), (1025, 64), (8193, 32)):   # more
        with pytest.raises(ValueError, match="histogram cells are too many"):
            U.fit_color_histogram(img, wrong, num_classes, bins=bins)
