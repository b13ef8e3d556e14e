import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import viz  # noqa: E402

# Reference colours from the VOC devkit's palette (VOCdevkit/VOCcode/VOClabelcolormap.m).
VOC_REFERENCE = {0: (0, 0, 0), 1: (128, 0, 0), 10: (64, 128, 0), 12: (64, 0, 128),
                 13: (192, 0, 128), 15: (192, 128, 128), 17: (128, 64, 0), 20: (0, 64, 128)}


def test_voc_palette_matches_devkit():
    pal = viz.voc_palette()
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    for i, rgb in VOC_REFERENCE.items():
        assert tuple(pal[i]) == rgb, i
    assert len({tuple(c) for c in pal[:21]}) == 21


def test_voc_palette_matches_imgviz_label_colormap():
    imgviz = pytest.importorskip("imgviz")
    np.testing.assert_array_equal(viz.voc_palette()[:255], imgviz.label_colormap()[:255])


def test_colorize_and_overlay_shapes():
    label = np.array([[0, 10], [15, 255]])
    col = viz.colorize(label)
    assert col.shape == (2, 2, 3) and tuple(col[0, 1]) == (64, 128, 0)
    img = np.zeros((2, 2, 3), np.uint8)
    out = viz.overlay(img, label, alpha=1.0)
    np.testing.assert_allclose(out[0, 1], np.array([64, 128, 0]) / 255, atol=1e-6)
    np.testing.assert_allclose(out[0, 0], 0.0)  # background is not painted
    assert viz.colorize(torch.tensor(label)).shape == (2, 2, 3)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="2-D"):
        viz.colorize(np.zeros((2, 2, 2), int))
    with pytest.raises(TypeError, match="integer class labels"):
        viz.colorize(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        viz.colorize(np.array([[0, 300]]))
    with pytest.raises(ValueError, match="does not match image"):
        viz.overlay(np.zeros((3, 3, 3)), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="alpha"):
        viz.overlay(np.zeros((2, 2, 3)), np.zeros((2, 2), int), alpha=2)
    with pytest.raises(ValueError, match="kinds"):
        viz.show_grid([np.zeros((2, 2), int)], kinds=["nope"])


def test_show_grid_legend_lists_present_classes():
    label = np.array([[0, 10], [13, 255]])
    fig, axes = viz.show_grid([np.zeros((2, 2, 3)), label, np.ones((2, 2), np.float32)],
                              ["image", "label", "depth"])
    texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert texts == ["background", "cow", "horse", "void"]
    plt.close(fig)


def test_plot_confusion_normalises_rows():
    fig, ax = plt.subplots()
    viz.plot_confusion(ax, np.array([[3, 1], [0, 4]]), ["a", "b"])
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    plt.close(fig)


# Colour-vision-deficiency simulation matrices in linear RGB, severity 1.0, from
# G. M. Machado, M. M. Oliveira, L. A. F. Fernandes, "A Physiologically-based Model for
# Simulation of Color Vision Deficiency", IEEE TVCG 15(6), 2009.
_CVD = {
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}


def _srgb_to_lab(rgb01):
    """CIELAB (D65) of sRGB colours in [0, 1], shape (n, 3), written out (no skimage)."""
    c = np.asarray(rgb01, float)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                          [0.0193339, 0.1191920, 0.9503041]]).T
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def _simulate(rgb255, kind):
    c = np.asarray(rgb255, float) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    out = np.clip(lin @ np.array(_CVD[kind]).T, 0, 1)
    return np.where(out <= 0.0031308, 12.92 * out, 1.055 * out ** (1 / 2.4) - 0.055)


def _closest_pairs(rgb01, names):
    lab = _srgb_to_lab(rgb01)
    n = len(names)
    return sorted((float(np.linalg.norm(lab[i] - lab[j])), names[i], names[j])
                  for i in range(n) for j in range(i + 1, n))


def test_srgb_to_lab_matches_skimage():
    color = pytest.importorskip("skimage.color")
    rgb = np.random.default_rng(0).random((50, 3))
    np.testing.assert_allclose(_srgb_to_lab(rgb), color.rgb2lab(rgb[None])[0], atol=0.05)


def test_dense_palette_classes_are_far_apart_in_cielab():
    from course_lib.data.classes import DENSE_CLASSES, VOC_CLASSES, VOC_VOID

    pal = viz.dense_palette()
    idx = [*range(len(DENSE_CLASSES)), VOC_VOID]
    names = [*DENSE_CLASSES, "void"]
    # things keep their VOC colours: a cow is olive in every map of the course
    for k, name in enumerate(DENSE_CLASSES):
        if name in VOC_CLASSES and name != "background":
            assert tuple(pal[k]) == tuple(viz.voc_palette()[VOC_CLASSES.index(name)]), name
    dist, a, b = _closest_pairs(pal[idx] / 255, names)[0]
    assert dist >= 30, f"{a} and {b} are only {dist:.1f} apart (CIELAB ΔE*76)"
    for kind in _CVD:
        pairs = [p for p in _closest_pairs(_simulate(pal[idx], kind), names)
                 if {p[1], p[2]} != {"cow", "sheep"}]   # VOC's own colours: not ours to change
        dist, a, b = pairs[0]
        assert dist >= 15, f"{kind}: {a} and {b} are only {dist:.1f} apart"


def test_old_dense_palette_would_fail():
    """The check is not toothless: the previous palette had grass and cow 11.7 apart."""
    old = np.array([(70, 150, 50), (64, 128, 0)])
    assert _closest_pairs(old / 255, ["grass", "cow"])[0][0] < 15


# --------------------------------------------------------------------------- issue 13 findings
@pytest.mark.parametrize("image", [np.full((4, 4, 3), 200.0), torch.full((3, 4, 4), 200.0)])
def test_float_image_in_0_255_is_rejected_not_drawn_white(image):
    with pytest.raises(ValueError, match=r"expected \[0, 1\].*divide a float image in 0..255 by 255"):
        viz.overlay(image, np.zeros((4, 4), int))
    with pytest.raises(ValueError, match=r"expected \[0, 1\]"):
        viz.to_numpy_image(image)


def test_integer_image_other_than_uint8_is_rejected():
    with pytest.raises(TypeError, match=r"image must be uint8 \(0..255\) or floating point"):
        viz.to_numpy_image(np.full((4, 4, 3), 200, np.int64))


def test_numpy_channels_first_is_handled_like_a_tensor():
    chw = np.random.default_rng(0).random((3, 5, 4))
    np.testing.assert_allclose(viz.to_numpy_image(chw), chw.transpose(1, 2, 0))
    np.testing.assert_allclose(viz.to_numpy_image(chw),
                               viz.to_numpy_image(torch.from_numpy(chw)))
    out = viz.overlay(chw, np.zeros((5, 4), int))
    assert out.shape == (5, 4, 3)


def test_bool_mask_is_drawn_as_a_label_not_depth():
    fig, axes = viz.show_grid([np.eye(4, dtype=bool)])
    assert axes[0, 0].images[0].get_array().ndim == 3          # coloured, not a depth colour map
    assert not any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    plt.close(fig)


@pytest.mark.parametrize("bad", [-1, 256])
def test_legend_handles_rejects_indices_outside_0_255(bad):
    with pytest.raises(ValueError, match=r"indices\[...\] must be an integer in \[0, 255\]"):
        viz.legend_handles([bad])


def test_one_voc_palette():
    from course_lib.data import classes, formats
    np.testing.assert_array_equal(viz.voc_palette(), formats.voc_colormap())
    np.testing.assert_array_equal(viz.voc_palette(), classes.voc_palette())
    assert tuple(viz.voc_palette()[255]) == classes.VOC_VOID_COLOUR


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (4, 0)])
def test_empty_label_map_is_rejected_like_an_empty_image(shape):
    # found by a longer run of tests/test_properties.py: matplotlib failed on min() of nothing
    empty = np.zeros(shape, np.int32)
    ax = plt.subplots()[1]
    with pytest.raises(ValueError, match=r"label must be non-empty, got shape"):
        viz.show_label(ax, empty)
    with pytest.raises(ValueError, match=r"label must be non-empty"):
        viz.colorize(empty)
    with pytest.raises(ValueError, match=r"panels\[0\] must be non-empty"):
        viz.show_grid([torch.zeros(shape, dtype=torch.long)], kinds=["label"])
    plt.close("all")


def test_show_grid_with_more_columns_than_panels():
    # found by a longer run of tests/test_properties.py (issue 13): ncols=10**12 exhausted memory
    panels = [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.int64)]
    fig, axes = viz.show_grid(panels, ncols=10**12)
    assert np.asarray(axes).size == 2
    plt.close(fig)
