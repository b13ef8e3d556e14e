"""course_lib.roi against torchvision.ops: values, gradients, helpers, bad input."""

import doctest

import pytest
import torch
import torchvision.ops as tvo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_lib import roi

# max |ours - torchvision| allowed for the forward pass, per dtype
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
SAMPLING = [-1, 0, 1, 2, 3]


def random_boxes(gen, n, n_images, H, W, scale):
    """``n`` boxes (Tensor[n, 5], float64, image coordinates) of every awkward kind.

    Kinds, in turn: inside the map, partly outside, wholly outside, zero width,
    zero height, a point, tiny (under one feature pixel), huge.
    """
    Hi, Wi = H / scale, W / scale  # map extent in image coordinates
    u = lambda *s: torch.rand(*s, generator=gen, dtype=torch.float64)
    x1, y1 = u(n) * Wi, u(n) * Hi
    w, h = u(n) * Wi, u(n) * Hi
    kind = torch.arange(n) % 8
    # partly outside: start left/above the map or run past it
    x1 = torch.where(kind == 1, x1 - 0.6 * Wi, x1)
    y1 = torch.where(kind == 1, y1 - 0.3 * Hi, y1)
    w = torch.where(kind == 1, 1.5 * w + 0.5 * Wi, w)
    # wholly outside (any side)
    side = (u(n) * 4).long()
    x1 = torch.where((kind == 2) & (side == 0), -x1 - w - 2 / scale, x1)
    x1 = torch.where((kind == 2) & (side == 1), Wi + 2 / scale + x1, x1)
    y1 = torch.where((kind == 2) & (side == 2), -y1 - h - 2 / scale, y1)
    y1 = torch.where((kind == 2) & (side == 3), Hi + 2 / scale + y1, y1)
    w = torch.where((kind == 3) | (kind == 5), torch.zeros_like(w), w)
    h = torch.where((kind == 4) | (kind == 5), torch.zeros_like(h), h)
    w = torch.where(kind == 6, u(n) * 0.9 / scale, w)
    h = torch.where(kind == 6, u(n) * 0.9 / scale, h)
    w = torch.where(kind == 7, w * 3 + 2 * Wi, w)
    x1 = torch.where(kind == 7, x1 - Wi, x1)
    idx = (u(n) * n_images).floor()
    return torch.stack([idx, x1, y1, x1 + w, y1 + h], dim=1)


def cases(seed, n_cases=6):
    """Seeded (input, boxes, output_size, spatial_scale) cases of varied shape, batched."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n_cases):
        N = 1 + i % 3
        C = 1 + (i * 5) % 4
        H = int(torch.randint(1, 13, (1,), generator=gen))
        W = int(torch.randint(1, 13, (1,), generator=gen))
        scale = [1.0, 0.5, 0.25, 1 / 3][i % 4]
        size = [(2, 2), (3, 4), (1, 1), (5, 2), 3, (7, 7)][i % 6]
        x = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64)
        boxes = random_boxes(gen, 24, N, H, W, scale)
        out.append((x, boxes, size, scale))
    return out


def as_list(boxes, n_images):
    """The Tensor[K, 5] boxes as a list of Tensor[L, 4], one per image (order kept per image)."""
    return [boxes[boxes[:, 0] == i, 1:] for i in range(n_images)]


def grads(fn, x, boxes, *args):
    """Output and d(sum(out * g))/dx for a fixed pseudo-random g."""
    xg = x.detach().requires_grad_()
    out = fn(xg, boxes, *args)
    g = torch.sin(torch.arange(out.numel(), dtype=out.dtype, device=out.device)).view_as(out)
    (gx,) = torch.autograd.grad(out, xg, g)
    return out, gx


def _pool_1x2_equals_torchvision(x, boxes):
    """roi_pool to 1 x 2 bins: values equal to torchvision's, gradients to the last bits."""
    ref, gref = grads(tvo.roi_pool, x, boxes, (1, 2), 1.0)
    out, gout = grads(roi.roi_pool, x, boxes, (1, 2), 1.0)
    assert torch.equal(out, ref)
    torch.testing.assert_close(gout, gref, rtol=1e-14, atol=1e-14)


def max_diff(a, b):
    return (a - b).abs().max().item() if a.numel() else 0.0


# ----------------------------------------------------------------- RoIAlign


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", SAMPLING)
def test_roi_align_matches_torchvision(device, dtype, aligned, sampling_ratio):
    for x, boxes, size, scale in cases(seed=sampling_ratio + 10 * aligned):
        x, boxes = x.to(device, dtype), boxes.to(device, dtype)
        ref, gref = grads(tvo.roi_align, x, boxes, size, scale, sampling_ratio, aligned)
        out, gout = grads(roi.roi_align, x, boxes, size, scale, sampling_ratio, aligned)
        assert out.shape == ref.shape and out.dtype == dtype and out.device == x.device
        assert out.is_contiguous()
        assert max_diff(out, ref) <= TOL[dtype]
        # a pixel's gradient sums many contributions: compare relative to their size
        torch.testing.assert_close(gout, gref, rtol=10 * TOL[dtype], atol=10 * TOL[dtype])


def test_roi_align_float32_box_arithmetic_is_torchvisions():
    # torchvision computes the box in T = float32, the scale included: with a scale
    # that float32 cannot represent (1/3), computing it in float64 moves samples by an ulp
    # and the result by up to ~6e-6 on these cases; done as torchvision, it is ~5e-7
    worst = 0.0
    for seed in range(4):
        for x, boxes, size, _ in cases(seed=200 + seed):
            x, boxes = x.float(), boxes.float()
            for sampling_ratio, aligned in ((-1, False), (1, True), (2, False)):
                ref = tvo.roi_align(x, boxes, size, 1 / 3, sampling_ratio, aligned)
                out = roi.roi_align(x, boxes, size, 1 / 3, sampling_ratio, aligned)
                worst = max(worst, max_diff(out, ref))
    assert worst <= 2e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_roi_align_list_of_boxes_matches_tensor_form(device, dtype):
    x, boxes, size, scale = cases(seed=3)[2]  # N = 3 images
    x, boxes = x.to(device, dtype), boxes.to(device, dtype)
    order = boxes[:, 0].argsort(stable=True)  # the list form groups the boxes by image
    ref = tvo.roi_align(x, as_list(boxes, 3), size, scale, 2, True)
    out = roi.roi_align(x, as_list(boxes, 3), size, scale, 2, True)
    assert max_diff(out, ref) <= TOL[dtype]
    torch.testing.assert_close(out, roi.roi_align(x, boxes[order], size, scale, 2, True))


def test_roi_align_huge_boxes_use_a_window_of_samples(device):
    # the adaptive grid is ~250 x 250 samples per bin; only ~2H of them can land on the map
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64, device=device)
    boxes = torch.tensor([[0, -300.0, -200, 200, 300], [1, -3.0, 2, 497, 502],
                          [1, 1.0, 1, 4, 3]], dtype=torch.float64, device=device)
    for aligned in (False, True):
        ref, gref = grads(tvo.roi_align, x, boxes, 2, 1.0, -1, aligned)
        out, gout = grads(roi.roi_align, x, boxes, 2, 1.0, -1, aligned)
        assert max_diff(out, ref) <= 1e-10
        torch.testing.assert_close(gout, gref, rtol=1e-9, atol=1e-9)


def test_roi_align_zero_size_boxes_with_many_samples(device):
    # aligned zero-size boxes put all samples of a bin on one point; with a huge
    # sampling_ratio on another box the window path is taken, which keeps one of them
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64, device=device)
    boxes = torch.tensor([[0, 2.0, 2, 2, 2], [1, 1.0, 1, 5, 1], [0, 3.0, 3, 3, 4.5],
                          [1, 1.0, 1, 900, 800]], dtype=torch.float64, device=device)
    for sampling_ratio in (1, 3, 300):
        ref, gref = grads(tvo.roi_align, x, boxes, (2, 3), 1.0, sampling_ratio, True)
        out, gout = grads(roi.roi_align, x, boxes, (2, 3), 1.0, sampling_ratio, True)
        assert max_diff(out, ref) <= 1e-10
        torch.testing.assert_close(gout, gref, rtol=1e-9, atol=1e-9)


def test_roi_align_box_does_not_depend_on_the_other_boxes():
    # as in torchvision's per-box kernel, a box gives the same bits alone as among others: the
    # batch sets how many samples are enumerated (the largest grid, the window), never which taps
    # are summed in which order (CPU: CUDA's scatter_add adds in no fixed order)
    extra = torch.tensor([[0, -300.0, -200, 200, 300], [0, 2.0, 2, 2, 2], [0, 1.0, 1, 5, 1],
                          [0, 3.0, 3, 3, 4.5], [0, 1.0, 1, 900, 800]], dtype=torch.float64)
    for seed, sampling_ratio, aligned in ((0, -1, False), (1, -1, True), (2, 3, True), (3, 10, True)):
        x, boxes, size, scale = cases(seed=300 + seed, n_cases=2)[1]
        boxes = torch.cat([boxes, extra * torch.tensor([1, scale, scale, scale, scale])])
        out = roi.roi_align(x, boxes, size, scale, sampling_ratio, aligned)
        for k in range(boxes.shape[0]):
            alone = roi.roi_align(x, boxes[k:k + 1], size, scale, sampling_ratio, aligned)
            assert torch.equal(alone[0], out[k]), (seed, k)


def test_roi_align_point_boxes_average_one_point(device):
    # aligned=True: all samples of a point box's bin sit on one point, so their mean is that one
    # sample for any sampling_ratio, bit for bit; one far above the refusal limit costs one sample
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64, device=device)
    points = torch.tensor([[0, 2.5, 3.5, 2.5, 3.5], [1, 0.25, 4.75, 0.25, 4.75],
                           [0, -0.7, 6.2, -0.7, 6.2], [1, 9.0, 2.0, 9.0, 2.0]],
                          dtype=torch.float64, device=device)
    one = roi.roi_align(x, points, (2, 3), 1.0, 1, True)
    assert max_diff(one, tvo.roi_align(x, points, (2, 3), 1.0, 1, True)) <= 1e-12
    assert max_diff(one, tvo.roi_align(x, points, (2, 3), 1.0, 10, True)) <= 1e-12
    for sampling_ratio in (3, 10, 10**6):
        assert torch.equal(roi.roi_align(x, points, (2, 3), 1.0, sampling_ratio, True), one)


def test_roi_align_known_answer():
    # value = 4 * row + col, linear, so bilinear samples reproduce the sample position
    x = torch.arange(16.0, dtype=torch.float64).reshape(1, 1, 4, 4)
    box = torch.tensor([[0, 1.0, 1.0, 3.0, 3.0]], dtype=torch.float64)
    out = roi.roi_align(x, box, 2, 1.0, -1, aligned=True)  # sample centres 1.0 and 2.0
    torch.testing.assert_close(out[0, 0], torch.tensor([[5.0, 6.0], [9.0, 10.0]], dtype=torch.float64))
    out = roi.roi_align(x, box, 2, 1.0, -1, aligned=False)  # sample centres 1.5 and 2.5
    torch.testing.assert_close(out[0, 0], torch.tensor([[7.5, 8.5], [11.5, 12.5]], dtype=torch.float64))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    H=st.integers(1, 9), W=st.integers(1, 9),
    size=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    sampling_ratio=st.integers(-2, 3), aligned=st.booleans(),
    scale=st.sampled_from([1.0, 0.5, 0.3, 2.0]),
)
def test_roi_align_property_matches_torchvision(data, H, W, size, sampling_ratio, aligned, scale):
    coord = st.floats(-12.0, 24.0, allow_nan=False, width=32)
    raw = data.draw(st.lists(st.tuples(st.integers(0, 1), coord, coord, coord, coord),
                             min_size=1, max_size=6))
    boxes = torch.tensor([[b, min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
                          for b, x1, y1, x2, y2 in raw], dtype=torch.float64)
    x = torch.randn(2, 2, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(H * W))
    ref, gref = grads(tvo.roi_align, x, boxes, size, scale, sampling_ratio, aligned)
    out, gout = grads(roi.roi_align, x, boxes, size, scale, sampling_ratio, aligned)
    assert max_diff(out, ref) <= 1e-10
    torch.testing.assert_close(gout, gref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2])
def test_roi_align_gradcheck(device, aligned, sampling_ratio):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, 4, 5, dtype=torch.float64, generator=gen).to(device).requires_grad_()
    boxes = random_boxes(gen, 8, 2, 4, 5, 1.0).to(device)
    fn = lambda t: roi.roi_align(t, boxes, (2, 3), 1.0, sampling_ratio, aligned)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,), fast_mode=True)


def test_roi_align_half_precision_is_computed_in_float32(device):
    x, boxes, size, scale = cases(seed=5)[0]
    x32, b32 = x.to(device, torch.float32), boxes.to(device, torch.float32)
    for dtype in (torch.float16, torch.bfloat16):
        out = roi.roi_align(x32.to(dtype), b32.to(dtype), size, scale)
        ref = roi.roi_align(x32.to(dtype).float(), b32.to(dtype).float(), size, scale)
        assert out.dtype == dtype
        torch.testing.assert_close(out.float(), ref, rtol=1e-2, atol=1e-2)


def test_roi_align_strided_input(device):
    x, boxes, size, scale = cases(seed=7)[1]
    x, boxes = x.to(device), boxes.to(device)
    ref = tvo.roi_align(x, boxes, size, scale)
    for view in (x.to(memory_format=torch.channels_last), x.transpose(2, 3).contiguous().transpose(2, 3)):
        assert max_diff(roi.roi_align(view, boxes, size, scale), ref) <= 1e-10


@pytest.mark.parametrize("fn", [roi.roi_align, roi.roi_pool])
def test_no_boxes_give_an_empty_result(device, fn):
    x = torch.randn(2, 3, 5, 5, device=device, requires_grad=True)
    for boxes in (torch.zeros(0, 5, device=device), [], [torch.zeros(0, 4, device=device)] * 2):
        out = fn(x, boxes, (2, 4))
        assert out.shape == (0, 3, 2, 4) and out.device == x.device
        out.sum().backward()
        assert torch.equal(x.grad, torch.zeros_like(x))


# ------------------------------------------------------------------ RoIPool


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_roi_pool_matches_torchvision(device, dtype):
    for seed in range(2):
        for x, boxes, size, scale in cases(seed=100 + seed):
            x, boxes = x.to(device, dtype), boxes.to(device, dtype)
            ref, gref = grads(tvo.roi_pool, x, boxes, size, scale)
            out, gout = grads(roi.roi_pool, x, boxes, size, scale)
            assert out.shape == ref.shape and out.dtype == dtype and out.is_contiguous()
            assert max_diff(out, ref) == 0.0  # a max is exact
            torch.testing.assert_close(gout, gref, rtol=TOL[dtype], atol=TOL[dtype])


def test_roi_pool_ties_and_special_values_match_torchvision(device):
    # ReLU-like maps are full of ties: the gradient must go to the first maximum
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 9, 8, generator=gen, dtype=torch.float64).clamp(min=0).round()
    x[0, 0, 2:5, 2:5] = float("nan")
    x[1, 1, :4, :] = -float("inf")
    x[1, 2, 5:, 5:] = -3.4028234663852886e38  # -FLT_MAX, torchvision's starting value
    x = x.to(device)
    boxes = random_boxes(gen, 40, 2, 9, 8, 1.0).to(device)
    ref, gref = grads(tvo.roi_pool, x, boxes, (3, 2), 1.0)
    out, gout = grads(roi.roi_pool, x, boxes, (3, 2), 1.0)
    assert torch.equal(out.nan_to_num(), ref.nan_to_num())
    # the same arg-max everywhere; sums of several gradients may be added in another order
    torch.testing.assert_close(gout, gref, rtol=1e-14, atol=1e-14)


def test_roi_pool_large_bins(device):
    # bins of 9 to 40 pixels: several padded size classes in one call
    x = torch.randn(1, 2, 40, 45, dtype=torch.float64, device=device)
    boxes = torch.tensor([[0, 0.0, 0, 44, 39], [0, 3.0, 1, 20, 39], [0, 10.0, 12, 11, 13]],
                         dtype=torch.float64, device=device)
    _pool_1x2_equals_torchvision(x, boxes)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    H=st.integers(1, 9), W=st.integers(1, 9),
    size=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    scale=st.sampled_from([1.0, 0.5, 0.3, 2.0]),
)
def test_roi_pool_property_matches_torchvision(data, H, W, size, scale):
    coord = st.floats(-12.0, 24.0, allow_nan=False, width=32)
    raw = data.draw(st.lists(st.tuples(st.integers(0, 1), coord, coord, coord, coord),
                             min_size=1, max_size=6))
    boxes = torch.tensor([[b, min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
                          for b, x1, y1, x2, y2 in raw], dtype=torch.float64)
    x = torch.randn(2, 2, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(H + W))
    ref, gref = grads(tvo.roi_pool, x, boxes, size, scale)
    out, gout = grads(roi.roi_pool, x, boxes, size, scale)
    assert torch.equal(out, ref)
    torch.testing.assert_close(gout, gref, rtol=1e-14, atol=1e-14)


def test_roi_pool_bins_of_transposed_sizes(device):
    # a 1 x 2 and a 2 x 1 pixel bin in one call must be gathered as such (not as one shape):
    # the map increases in row-major order, so each maximum is its bin's last pixel
    x = torch.arange(16.0, dtype=torch.float64, device=device).reshape(1, 1, 4, 4)
    boxes = torch.tensor([[0, 0.0, 0, 1, 0], [0, 2.0, 0, 2, 1], [0, 3.0, 2, 3, 3], [0, 0.0, 3, 1, 3]],
                         dtype=torch.float64, device=device)
    ref, gref = grads(tvo.roi_pool, x, boxes, 1, 1.0)
    out, gout = grads(roi.roi_pool, x, boxes, 1, 1.0)
    assert out.flatten().tolist() == [1.0, 6.0, 15.0, 13.0] and torch.equal(out, ref)
    assert torch.equal(gout, gref)


def test_roi_pool_absurd_box_pools_the_whole_map(device):
    # coordinates far beyond int64 still give a box that covers the map
    x = torch.randn(1, 2, 3, 4, dtype=torch.float64, device=device)
    boxes = torch.tensor([[0, -1e25, -1e25, 1e25, 1e25]], dtype=torch.float64, device=device)
    assert torch.equal(roi.roi_pool(x, boxes, 1)[0, :, 0, 0], x[0].amax((1, 2)))


def test_roi_pool_big_blocks(device):
    # blocks of >= 2**16 values take max_pool2d's path: ties on a rounded map, gradient to the first
    gen = torch.Generator().manual_seed(13)
    x = torch.randn(2, 16, 33, 40, generator=gen, dtype=torch.float64).clamp(min=0).round().to(device)
    boxes = torch.tensor([[0, 0.0, 0, 39, 32], [1, 0.0, 0, 39, 32], [1, 2.0, 1, 38, 31]],
                         dtype=torch.float64, device=device)
    _pool_1x2_equals_torchvision(x, boxes)


def test_roi_pool_half_precision(device):
    x, boxes, size, scale = cases(seed=6)[1]
    for dtype in (torch.float16, torch.bfloat16):
        xh, bh = x.to(device, dtype), boxes.to(device, dtype)
        out = roi.roi_pool(xh, bh, size, scale)
        assert out.dtype == dtype
        assert torch.equal(out.float(), roi.roi_pool(xh.float(), bh.float(), size, scale))  # a max is exact


def test_roi_pool_list_of_boxes(device):
    x, boxes, size, scale = cases(seed=11)[2]  # N = 3
    x, boxes = x.to(device), boxes.to(device)
    assert torch.equal(roi.roi_pool(x, as_list(boxes, 3), size, scale),
                       tvo.roi_pool(x, as_list(boxes, 3), size, scale))


def test_roi_pool_gradcheck(device):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 1, 5, 4, dtype=torch.float64, generator=gen).to(device).requires_grad_()
    boxes = random_boxes(gen, 8, 2, 5, 4, 1.0).to(device)
    fn = lambda t: roi.roi_pool(t, boxes, (2, 3), 1.0)
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,), fast_mode=True)


def test_roi_pool_known_answer():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # round(0.6) = 1 .. round(2.5) = 3 (halves away from zero, as C's round): 3 x 3 pixels
    out = roi.roi_pool(x, torch.tensor([[0, 0.6, 0.6, 2.5, 2.5]]), 2)
    assert out[0, 0].tolist() == [[10.0, 11.0], [14.0, 15.0]]


# ------------------------------------------------------------------ modules


def test_modules_repr_and_forward(device):
    x, boxes, size, scale = cases(seed=8)[3]
    x, boxes = x.to(device), boxes.to(device)
    align = roi.RoIAlign((5, 2), spatial_scale=scale, sampling_ratio=2, aligned=True)
    assert repr(align) == f"RoIAlign(output_size=(5, 2), spatial_scale={scale}, sampling_ratio=2, aligned=True)"
    assert torch.equal(align(x, boxes), roi.roi_align(x, boxes, (5, 2), scale, 2, True))
    assert max_diff(align(x, boxes), tvo.RoIAlign((5, 2), scale, 2, True)(x, boxes)) <= 1e-10
    pool = roi.RoIPool(3, spatial_scale=scale)
    assert repr(pool) == f"RoIPool(output_size=3, spatial_scale={scale})"
    assert torch.equal(pool(x, boxes), tvo.RoIPool(3, scale)(x, boxes))
    assert isinstance(align, torch.nn.Module) and isinstance(pool, torch.nn.Module)


def test_defaults_are_torchvisions(device):
    # left at their defaults, our functions and modules give torchvision's functions at theirs
    x, boxes, _, _ = cases(seed=12)[4]
    x, boxes = x.to(device), boxes.to(device)
    ref = tvo.roi_align(x, boxes, (2, 3))
    assert max_diff(roi.roi_align(x, boxes, (2, 3)), ref) <= 1e-10
    assert max_diff(roi.RoIAlign((2, 3))(x, boxes), ref) <= 1e-10
    ref = tvo.roi_pool(x, boxes, (2, 3))
    assert torch.equal(roi.roi_pool(x, boxes, (2, 3)), ref)
    assert torch.equal(roi.RoIPool((2, 3))(x, boxes), ref)
    assert repr(roi.RoIAlign(2)) == "RoIAlign(output_size=2, spatial_scale=1.0, sampling_ratio=-1, aligned=False)"
    assert repr(roi.RoIPool(2)) == "RoIPool(output_size=2, spatial_scale=1.0)"


@pytest.mark.parametrize("bad", [dict(output_size=0), dict(spatial_scale=-1.0),
                                 dict(sampling_ratio=1.5), dict(aligned=1)])
def test_module_checks_its_settings(bad):
    kwargs = dict(output_size=2, spatial_scale=1.0, sampling_ratio=-1, aligned=False) | bad
    name = next(iter(bad))
    with pytest.raises((ValueError, TypeError), match=name):
        roi.RoIAlign(**kwargs)


# ------------------------------------------------------------------ helpers


def test_bilinear_sample_rule():
    f = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
    y = torch.tensor([0.5, -0.5, -1.0, -1.01, 1.7, 2.0, 2.01, 0.25])
    x = torch.tensor([0.5, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.5])
    got = roi.bilinear_sample(f, y.double(), x.double())
    # inside: bilinear; [-1, 0] clamps to row 0; [H - 1, H] clamps to the last row; beyond: 0
    want = torch.tensor([1.5, 0.0, 1.0, 0.0, 3.0, 2.0, 0.0, 1.5], dtype=torch.float64)
    torch.testing.assert_close(got, want)
    # x = -1 reads column 0, x < -1 gives 0 (as y); one row or one column is a map too
    got = roi.bilinear_sample(f, torch.tensor([1.0, 1.0], dtype=torch.float64),
                              torch.tensor([-1.0, -1.01], dtype=torch.float64))
    assert got.tolist() == [2.0, 0.0]
    half = torch.tensor([0.5], dtype=torch.float64)
    assert roi.bilinear_sample(f[:1], half, half).tolist() == [0.5]  # y clamps to the one row
    assert roi.bilinear_sample(f[:, :1], half, half).tolist() == [1.0]
    # leading dimensions are kept, points broadcast
    stack = torch.stack([f, 10 * f])
    assert roi.bilinear_sample(stack, y[:, None].double(), x[None, :].double()).shape == (2, 8, 8)


def test_sampling_points_and_bilinear_sample_rebuild_roi_align(device):
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(1, 2, 7, 9, dtype=torch.float64, generator=gen).to(device)
    boxes = random_boxes(gen, 16, 1, 7, 9, 0.5).to(device)
    # and degenerate boxes (zero width, zero height, a point), which roi_align accepts
    flat = torch.tensor([[0, 4, 6, 4, 10], [0, 2, 5, 12, 5], [0, 6, 6, 6, 6]], dtype=torch.float64)
    boxes = torch.cat([boxes, flat.to(boxes)])
    for sampling_ratio in (-1, 2):
        for aligned in (False, True):
            out = roi.roi_align(x, boxes, (3, 2), 0.5, sampling_ratio, aligned)
            for k, box in enumerate(boxes[:, 1:]):
                pts = roi.roi_align_sampling_points(box, (3, 2), 0.5, sampling_ratio, aligned)
                P, Q, gh, gw, two = pts.shape
                assert (P, Q, two) == (3, 2, 2)
                vals = roi.bilinear_sample(x[0], pts[..., 0], pts[..., 1])  # (C, 3, 2, gh, gw)
                naive = vals.sum((-2, -1)) / max(gh * gw, 1)
                torch.testing.assert_close(naive, out[k], rtol=1e-12, atol=1e-12)


def test_sampling_points_known_answer():
    pts = roi.roi_align_sampling_points([16.0, 16.0, 48.0, 48.0], 2, spatial_scale=1 / 16)
    assert pts[:, :, 0, 0].tolist() == [[[1.5, 1.5], [1.5, 2.5]], [[2.5, 1.5], [2.5, 2.5]]]
    pts = roi.roi_align_sampling_points(torch.tensor([0.0, 0.0, 8.0, 4.0]), (1, 2), sampling_ratio=2,
                                        aligned=True)
    assert pts.shape == (1, 2, 2, 2, 2)
    assert pts[0, 1, :, :, 1].tolist() == [[4.5, 6.5], [4.5, 6.5]]  # x: bin [3.5, 7.5), 2 samples
    assert pts[0, 0, :, 0, 0].tolist() == [0.5, 2.5]  # y: bin [-0.5, 3.5)


def test_roi_pool_bins_rebuild_roi_pool(device):
    gen = torch.Generator().manual_seed(10)
    x = torch.randn(1, 2, 6, 7, dtype=torch.float64, generator=gen).to(device)
    boxes = random_boxes(gen, 16, 1, 6, 7, 1.0).to(device)
    flat = torch.tensor([[0, 2, 1, 2, 4], [0, 1, 3, 5, 3], [0, 3, 3, 3, 3]], dtype=torch.float64)
    boxes = torch.cat([boxes, flat.to(boxes)])                       # degenerate boxes too
    out = roi.roi_pool(x, boxes, (2, 3))
    for k, box in enumerate(boxes[:, 1:]):
        bins = roi.roi_pool_bins(box, (2, 3), feature_size=(6, 7))
        assert bins.shape == (2, 3, 4) and bins.dtype == torch.int64
        for p in range(2):
            for q in range(3):
                x0, y0, x1, y1 = bins[p, q].tolist()
                patch = x[0, :, y0:y1, x0:x1]
                want = patch.amax((-2, -1)) if patch.numel() else torch.zeros(2, dtype=x.dtype, device=device)
                torch.testing.assert_close(out[k, :, p, q], want)


def test_roi_pool_bins_known_answer():
    bins = roi.roi_pool_bins([16.0, 16.0, 48.0, 48.0], 2, spatial_scale=1 / 16)
    assert bins[0, 0].tolist() == [1, 1, 3, 3] and bins[1, 1].tolist() == [2, 2, 4, 4]
    clipped = roi.roi_pool_bins([-5.0, 0.0, 9.0, 2.0], (1, 2), feature_size=(4, 4))
    assert clipped[0].tolist() == [[0, 0, 3, 3], [2, 0, 4, 3]]  # x: 15 pixels from -5, bins of 7.5


def test_docstring_examples():
    result = doctest.testmod(roi, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------- bad input


def _x(device="cpu"):
    return torch.randn(2, 3, 8, 8, device=device)


def _boxes(device="cpu"):
    return torch.tensor([[0, 1.0, 1.0, 5.0, 6.0], [1, 0.0, 2.0, 3.0, 3.0]], device=device)


@pytest.mark.parametrize("fn", [roi.roi_align, roi.roi_pool])
@pytest.mark.parametrize("boxes, error, match", [
    (torch.zeros(3, 4), ValueError, r"boxes must have shape \[K, 5\].*\(3, 4\)"),
    (torch.zeros(5), ValueError, r"boxes must have shape \[K, 5\]"),
    ([torch.zeros(2, 5)], ValueError, r"boxes\[0\] must have shape \[L, 4\].*\(2, 5\)"),
    ("boxes", TypeError, r"boxes must be a Tensor\[K, 5\] or a list of Tensor\[L, 4\], got str"),
    ([[1.0, 2.0, 3.0, 4.0]], TypeError, r"boxes\[0\] must be a Tensor\[L, 4\], got list"),
    (torch.tensor([[2, 1.0, 1, 2, 2]]), ValueError, r"batch index 2 does not exist.*\[0, 1\]"),
    (torch.tensor([[-1, 1.0, 1, 2, 2]]), ValueError, r"batch index -1 does not exist"),
    (torch.tensor([[0.5, 1.0, 1, 2, 2]]), ValueError, r"batch index 0.5 does not exist"),
    ([torch.zeros(0, 4), torch.zeros(0, 4), torch.ones(1, 4)], ValueError, r"batch index 2 does not exist"),
    (torch.tensor([[0, 1.0, 1, 2, 2], [1, 1.0, 1, 2, 2], [2, 1.0, 1, 2, 2]]), ValueError,
     r"batch index 2 does not exist"),  # the message names the bad index, not a good one
    (torch.tensor([[0, 5.0, 1, 2, 2]]), ValueError, r"x1 <= x2 and y1 <= y2.*box 0"),
    (torch.tensor([[0, 1.0, 1, 2, 2], [0, 1.0, 3, 2, 2]]), ValueError, r"x1 <= x2 and y1 <= y2.*box 1"),
    (torch.tensor([[0, float("nan"), 1, 2, 2]]), ValueError, r"boxes must have finite.*NaN"),
    (torch.tensor([[0, 1.0, 1, float("inf"), 2]]), ValueError, r"boxes must have finite"),
    (torch.tensor([[0, 1.0, 1, 2, 2]], dtype=torch.float64), TypeError,
     r"boxes must have the dtype of input \(torch.float32\), got torch.float64"),
    (torch.tensor([[0, 1.0, 1, 2, 2]], device="meta"), ValueError, r"boxes must be on the device of input"),
])
def test_bad_boxes(fn, boxes, error, match):
    with pytest.raises(error, match=match):
        fn(_x(), boxes, 2)


@pytest.mark.parametrize("fn", [roi.roi_align, roi.roi_pool])
@pytest.mark.parametrize("output_size, error, match", [
    (0, ValueError, r"output_size must be >= 1.*got 0"),
    (-2, ValueError, r"output_size must be >= 1.*got -2"),
    ((2, 0), ValueError, r"output_size must be >= 1.*\(2, 0\)"),
    ((2, 2, 2), ValueError, r"output_size must be an int or a pair"),
    (2.0, TypeError, r"output_size must contain integers, got 2.0"),
    ((2, True), TypeError, r"output_size must contain integers"),
])
def test_bad_output_size(fn, output_size, error, match):
    with pytest.raises(error, match=match):
        fn(_x(), _boxes(), output_size)


@pytest.mark.parametrize("fn", [roi.roi_align, roi.roi_pool])
@pytest.mark.parametrize("input, error, match", [
    (torch.randn(3, 8, 8), ValueError, r"input must be 4-D \(N, C, H, W\), got shape \(3, 8, 8\)"),
    (torch.randn(1, 2, 3, 8, 8), ValueError, r"input must be 4-D"),
    (torch.zeros(2, 3, 8, 8, dtype=torch.long), TypeError, r"input must be a floating point.*torch.int64"),
    (torch.randn(2, 3, 0, 8), ValueError, r"input must have H >= 1 and W >= 1"),
    ([[1.0]], TypeError, r"input must be a Tensor\[N, C, H, W\], got list"),
])
def test_bad_input(fn, input, error, match):
    with pytest.raises(error, match=match):
        fn(input, _boxes(), 2)


@pytest.mark.parametrize("fn", [roi.roi_align, roi.roi_pool])
@pytest.mark.parametrize("scale, error", [(0.0, ValueError), (-0.5, ValueError),
                                          (float("nan"), ValueError), ("1", TypeError)])
def test_bad_spatial_scale(fn, scale, error):
    with pytest.raises(error, match="spatial_scale"):
        fn(_x(), _boxes(), 2, scale)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(sampling_ratio=2.0), TypeError, r"sampling_ratio must be an int.*2.0"),
    (dict(sampling_ratio=True), TypeError, r"sampling_ratio must be an int"),
    (dict(aligned="yes"), TypeError, r"aligned must be a bool, got str"),
])
def test_bad_roi_align_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        roi.roi_align(_x(), _boxes(), 2, **kwargs)


@pytest.mark.parametrize("fn", [roi.roi_align, roi.roi_pool])
def test_absurd_output_size_is_refused(fn):
    with pytest.raises(ValueError, match=r"output_size \(1000000000000, 1000000000000\).*elements"):
        fn(_x(), _boxes(), 10**12)


def test_absurd_sampling_ratio_is_refused():
    with pytest.raises(ValueError, match=r"sampling_ratio=1000000000000 puts up to"):
        roi.roi_align(_x(), _boxes(), 2, sampling_ratio=10**12)
    with pytest.raises(ValueError, match=r"sampling_ratio=1000000 give"):
        roi.roi_align_sampling_points([0.0, 0.0, 5.0, 5.0], 2, sampling_ratio=10**6)


def test_samples_per_bin_limit():
    # at most 2**16 samples per bin and axis may land on the map. At the limit the result is
    # checked on a linear map, which bilinear sampling reproduces: the mean is its value at the
    # box centre (y, x) = (1.5, 2)
    yy, xx = torch.meshgrid(torch.arange(4.0, dtype=torch.float64),
                            torch.arange(5.0, dtype=torch.float64), indexing="ij")
    f = (3 * yy + 2 * xx + 1)[None, None]
    box = torch.tensor([[0, 0.5, 0.25, 3.5, 2.75]], dtype=torch.float64)
    out = roi.roi_align(f, box, 1, 1.0, 2**16)
    torch.testing.assert_close(out, torch.full_like(out, 9.5), rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match=r"sampling_ratio=65537 puts up to 65537 samples per bin"):
        roi.roi_align(f, box, 1, 1.0, 2**16 + 1)


def test_samples_per_bin_limit_counts_the_samples_that_land():
    # more samples per bin pass when at most 2**16 can land on the map: of 10**5 per axis on a
    # box twice as wide as the 1 x 1 map, the middle half lands in [-1, 1] and reads its pixel
    v = torch.full((1, 1, 1, 1), 2.0, dtype=torch.float64)
    wide = torch.tensor([[0, -1.5, -1.5, 2.5, 2.5]], dtype=torch.float64)
    torch.testing.assert_close(roi.roi_align(v, wide, 1, 1.0, 10**5), 0.25 * v, rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fn", [roi.roi_align, roi.roi_pool])
@pytest.mark.parametrize("C", [0, 1, 2])
def test_result_size_limit_counts_boxes_channels_and_bins(monkeypatch, fn, C, dtype):
    # the limit on K * C * ph * pw elements (C = 0 counts as 1: the bins still take memory),
    # lowered so that a result at the limit is small: accepted there, refused one box more
    monkeypatch.setattr(roi, "_MAX_ELEMENTS", 72)
    K = 72 // (6 * max(C, 1))  # boxes of (2, 3) bins at the limit
    gen = torch.Generator().manual_seed(C)
    x = torch.randn(2, C, 5, 6, dtype=torch.float64, generator=gen).to(dtype)
    boxes = random_boxes(gen, K + 1, 2, 5, 6, 1.0).to(dtype)
    ref, gref = grads(getattr(tvo, fn.__name__), x, boxes[:K], (2, 3))
    out, gout = grads(fn, x, boxes[:K], (2, 3))  # C = 0: an empty result, as torchvision's
    assert out.shape == ref.shape == (K, C, 2, 3) and max_diff(out, ref) <= TOL[dtype]
    torch.testing.assert_close(gout, gref, rtol=10 * TOL[dtype], atol=10 * TOL[dtype])
    n = (K + 1) * max(C, 1) * 6
    with pytest.raises(ValueError, match=rf"output_size \(2, 3\) for {K + 1} boxes and {C} channels "
                                         rf"gives a result of {n} elements, expected at most 72"):
        fn(x, boxes, (2, 3))


def test_roi_pool_bins_size_limit(monkeypatch):
    # just past the real limit of 2**32 bins: refused before anything is allocated
    with pytest.raises(ValueError, match=r"output_size \(65536, 65537\).* 4295032832 elements, "
                                         r"expected at most 4294967296"):
        roi.roi_pool_bins([0.0, 0.0, 8.0, 8.0], (2**16, 2**16 + 1))
    monkeypatch.setattr(roi, "_MAX_ELEMENTS", 72)
    assert roi.roi_pool_bins([0.0, 0.0, 8.0, 8.0], (6, 12)).shape == (6, 12, 4)
    with pytest.raises(ValueError, match=r"output_size \(7, 11\) for 1 boxes .* 77 elements"):
        roi.roi_pool_bins([0.0, 0.0, 8.0, 8.0], (7, 11))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("fn", [roi.roi_align, roi.roi_pool])
def test_boxes_on_another_device(fn):
    with pytest.raises(ValueError, match=r"boxes must be on the device of input \(cuda:0\), got cpu"):
        fn(_x("cuda"), _boxes("cpu"), 2)
    with pytest.raises(ValueError, match=r"boxes\[0\] must be on the device of input \(cpu\)"):
        fn(_x("cpu"), [_boxes("cuda")[:, 1:]], 2)


@pytest.mark.parametrize("call, error, match", [
    (lambda: roi.bilinear_sample(torch.zeros(3), torch.zeros(1), torch.zeros(1)), ValueError,
     r"input_2d must be a Tensor\[H, W\]"),
    (lambda: roi.bilinear_sample(torch.zeros(2, 2, dtype=torch.long), torch.zeros(1), torch.zeros(1)),
     TypeError, r"input_2d must be floating point"),
    (lambda: roi.bilinear_sample(torch.zeros(2, 2), torch.zeros(1, dtype=torch.long), torch.zeros(1)),
     TypeError, r"y must be a floating point Tensor"),
    (lambda: roi.bilinear_sample(torch.zeros(2, 2), torch.zeros(1), [0.0]), TypeError,
     r"x must be a floating point Tensor"),
    (lambda: roi.bilinear_sample(torch.zeros(2, 2), torch.zeros(3), torch.zeros(4)), ValueError,
     r"y and x must have broadcastable shapes, got \(3,\) and \(4,\)"),
    (lambda: roi.bilinear_sample(torch.tensor([[0.0, float("nan")]]), torch.zeros(1), torch.zeros(1)),
     ValueError, r"input_2d must be finite"),
    (lambda: roi.roi_align_sampling_points([1.0, 2.0, 3.0], 2), ValueError,
     r"box must have 4 coordinates"),
    (lambda: roi.roi_align_sampling_points([3.0, 2.0, 1.0, 4.0], 2), ValueError,
     r"box must satisfy x1 <= x2"),
    (lambda: roi.roi_align_sampling_points([0.0, 0.0, 1.0, 1.0], 0), ValueError, r"output_size must be >= 1"),
    (lambda: roi.roi_pool_bins("box", 2), TypeError, r"box must be a Tensor\[4\]"),
    (lambda: roi.roi_pool_bins([0.0, float("nan"), 1.0, 1.0], 2), ValueError, r"box must have finite"),
    (lambda: roi.roi_pool_bins([0.0, 0.0, 1.0, 1.0], 2, feature_size=(0, 3)), ValueError,
     r"feature_size must be >= 1"),
])
def test_bad_helper_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


# Found by tests/test_properties.py with 8x the examples and random seeds (issue 13): a 0-d
# tensor as output_size failed with "object of type 'float' has no len()".
def test_output_size_as_a_zero_dim_tensor():
    x = torch.rand(1, 2, 8, 8)
    boxes = torch.tensor([[0, 1.0, 1.0, 6.0, 5.0]])
    out = roi.RoIAlign(output_size=torch.tensor(3))(x, boxes)
    assert torch.equal(out, roi.roi_align(x, boxes, 3))
    with pytest.raises(TypeError, match=r"^output_size must contain integers, got tensor\(2\.\)"):
        roi.RoIAlign(output_size=torch.tensor(2.0))
    with pytest.raises(TypeError, match=r"^output_size must contain integers"):
        roi.roi_pool_bins(torch.tensor([0.0, 0.0, 4.0, 4.0]), torch.tensor(2.5))
