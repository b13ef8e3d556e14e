"""Tests for course_lib.upsampling against F.conv_transpose2d, F.interpolate, F.max_unpool2d
and skimage.transform.pyramid_expand; gradcheck; one test per rejected bad input."""

import itertools

import numpy as np
import pytest
import skimage.data
import skimage.transform
import torch
import torch.nn.functional as F

from course_lib import upsampling as up

F64 = torch.float64


def _rand(*shape, seed=0, device="cpu", dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).to(device)


# ---------------------------------------------------------------------- transposed convolution

# (C_in, C_out/groups, kernel, stride, padding, output_padding, groups, dilation, H, W)
CONFIGS = [
    (1, 1, 3, 1, 0, 0, 1, 1, 2, 2),              # the 2x2 -> 4x4 example
    (2, 3, 3, 2, 0, 0, 1, 1, 4, 5),
    (2, 3, 3, 2, 1, 1, 1, 1, 4, 5),
    (3, 2, 4, 2, 1, 0, 1, 1, 3, 3),              # FCN 2x
    (4, 2, (3, 2), (3, 2), (1, 0), (2, 1), 1, 1, 3, 4),
    (4, 1, 3, 2, 1, 1, 2, 1, 3, 4),              # groups
    (6, 2, 3, 1, 0, 0, 3, 2, 4, 4),              # groups + dilation
    (2, 2, 3, 1, 2, 1, 1, 2, 5, 3),              # output_padding < dilation, stride 1
    (2, 2, 2, (2, 3), (0, 1), 0, 1, (3, 1), 3, 3),
    (3, 3, 5, 4, 2, 3, 3, 1, 2, 3),              # depthwise, big stride
    (1, 2, 1, 3, 0, 2, 1, 1, 3, 2),              # 1x1 kernel, stride 3: gaps of zeros
]
IDS = [f"cfg{i}" for i in range(len(CONFIGS))]


def _case(cfg, device, dtype=F64, seed=0):
    C_in, C_og, k, s, p, op, g, d, H, W = cfg
    kH, kW = (k, k) if isinstance(k, int) else k
    x = _rand(2, C_in, H, W, seed=seed, device=device, dtype=dtype)
    w = _rand(C_in, C_og, kH, kW, seed=seed + 1, device=device, dtype=dtype)
    b = _rand(C_og * g, seed=seed + 2, device=device, dtype=dtype)
    return x, w, b, dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_conv_transpose2d_equals_torch_float64(cfg, device):
    x, w, b, opts = _case(cfg, device)
    ref = F.conv_transpose2d(x, w, b, **opts)
    out = up.conv_transpose2d(x, w, b, **opts)
    assert out.shape == ref.shape and out.device == x.device and out.dtype == F64
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    # without bias too, and positional arguments in torch's order
    o = opts
    torch.testing.assert_close(
        up.conv_transpose2d(x, w, None, o["stride"], o["padding"], o["output_padding"],
                            o["groups"], o["dilation"]),
        F.conv_transpose2d(x, w, None, o["stride"], o["padding"], o["output_padding"],
                           o["groups"], o["dilation"]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_conv_transpose2d_loop_equals_torch_float64(cfg, device):
    x, w, b, opts = _case(cfg, device)
    ref = F.conv_transpose2d(x, w, b, **opts)
    torch.testing.assert_close(up.conv_transpose2d_loop(x, w, b, **opts), ref, rtol=0, atol=1e-12)


def test_conv_transpose2d_float32_close(device):
    x, w, b, opts = _case(CONFIGS[3], device, dtype=torch.float32)
    out = up.conv_transpose2d(x, w, b, **opts)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, F.conv_transpose2d(x, w, b, **opts), rtol=1e-5, atol=1e-5)


def test_conv_transpose2d_worked_example():
    # 2x2 -> 4x4 with a 3x3 kernel: each input pixel stamps value * kernel, overlaps add
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=F64)
    k = torch.arange(1.0, 10.0, dtype=F64).reshape(1, 1, 3, 3)
    expected = torch.zeros(4, 4, dtype=F64)
    for i in range(2):
        for j in range(2):
            expected[i:i + 3, j:j + 3] += x[0, 0, i, j] * k[0, 0]
    assert expected[1, 1] == 1 * 5 + 2 * 4 + 3 * 2 + 4 * 1       # four stamps overlap here
    torch.testing.assert_close(up.conv_transpose2d(x, k)[0, 0], expected, rtol=0, atol=0)
    torch.testing.assert_close(up.conv_transpose2d_loop(x, k)[0, 0], expected, rtol=0, atol=0)


def test_conv_transpose2d_matches_module():
    torch.manual_seed(0)
    m = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                                 dilation=1).double()
    x = _rand(1, 4, 5, 5)
    torch.testing.assert_close(
        up.conv_transpose2d(x, m.weight, m.bias, stride=2, padding=1, output_padding=1, groups=2),
        m(x), rtol=0, atol=1e-12)


def test_conv_transpose2d_empty_batch():
    x = torch.zeros(0, 2, 3, 3, dtype=F64)
    w = _rand(2, 1, 3, 3)
    assert up.conv_transpose2d(x, w, stride=2).shape == F.conv_transpose2d(x, w, stride=2).shape


@pytest.mark.parametrize("fn", [up.conv_transpose2d, up.conv_transpose2d_loop],
                         ids=["scatter", "loop"])
def test_conv_transpose2d_gradcheck(fn, device):
    x, w, b, opts = _case(CONFIGS[5], device)                         # stride 2, groups 2
    x, w, b = (t.detach().requires_grad_() for t in (x[:1, :, :3, :3], w, b))
    assert torch.autograd.gradcheck(lambda x, w, b: fn(x, w, b, **opts), (x, w, b))


@pytest.mark.parametrize("args,expected", [
    ((2, 3), (4, 4)),
    ((4, 4, 2, 1), (8, 8)),
    ((4, 3, 2, 1, 1), (8, 8)),
    (((3, 5), (3, 1), (2, 3), (0, 1), (1, 0), (2, 1)), (10, 11)),
])
def test_conv_transpose2d_output_size(args, expected):
    assert up.conv_transpose2d_output_size(*args) == expected
    size, k, *rest = args
    names = ["stride", "padding", "output_padding", "dilation"]
    kw = dict(zip(names, rest))
    kk = (k, k) if isinstance(k, int) else k
    H, W = (size, size) if isinstance(size, int) else size
    y = F.conv_transpose2d(torch.zeros(1, 1, H, W), torch.zeros(1, 1, *kk), **kw)
    assert tuple(y.shape[2:]) == expected


def test_overlap_count_checkerboard_and_uniform(device):
    c = up.overlap_count(4, 3, stride=2, device=device)
    assert c.dtype == torch.int64 and c.device.type == device.type
    # kernel 3, stride 2: 1 and 2 stamps alternate along a row, so 1, 2, 4 in 2-D
    assert c[3].tolist() == [1, 1, 2, 1, 2, 1, 2, 1, 1]
    assert set(c[2:-2, 2:-2].unique().tolist()) == {1, 2, 4}
    # kernel 4, stride 2: every interior pixel is covered by exactly 2 x 2 = 4 stamps
    even = up.overlap_count(4, 4, stride=2, device=device)
    assert (even[2:-2, 2:-2] == 4).all()
    ref = F.conv_transpose2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3), stride=2)[0, 0]
    assert torch.equal(c.cpu().float(), ref)


# ---------------------------------------------------------------------- the convolution matrix


@pytest.mark.parametrize("C_out,C_in,k,s,p,size", [
    (1, 1, 3, 1, 0, (4, 4)),          # 4x4 -> 2x2 with a 3x3 filter
    (2, 3, 3, 2, 1, (5, 6)),
    (3, 2, 2, 2, 0, (5, 4)),          # output_padding 1 needed along H
    (1, 2, (3, 2), (2, 1), (1, 0), (6, 5)),
])
def test_conv_matrix_transpose_is_conv_transpose_and_gradient(C_out, C_in, k, s, p, size, device):
    kH, kW = (k, k) if isinstance(k, int) else k
    w = _rand(C_out, C_in, kH, kW, device=device)
    x = _rand(1, C_in, *size, seed=3, device=device)
    C = up.conv_matrix(w, size, stride=s, padding=p)
    y = F.conv2d(x, w, stride=s, padding=p)                            # (1, C_out, Ho, Wo)
    assert C.shape == (y.numel(), x.numel()) and C.device == w.device
    torch.testing.assert_close(C @ x.flatten(), y.flatten(), rtol=0, atol=1e-12)

    g = _rand(*y.shape, seed=4, device=device)
    transposed = (C.T @ g.flatten()).reshape(x.shape)
    # the transposed convolution needs output_padding to reach the input size again
    s2, p2 = (s, s) if isinstance(s, int) else s, (p, p) if isinstance(p, int) else p
    op = tuple(size[a] - up.conv_transpose2d_output_size(y.shape[2:], (kH, kW), s2, p2)[a]
               for a in (0, 1))
    ct = F.conv_transpose2d(g, w, stride=s, padding=p, output_padding=op)
    torch.testing.assert_close(transposed, ct, rtol=0, atol=1e-12)
    torch.testing.assert_close(up.conv_transpose2d(g, w, stride=s, padding=p, output_padding=op),
                               ct, rtol=0, atol=1e-12)
    # ... and the gradient of <conv(x), g> with respect to x
    xr = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad((F.conv2d(xr, w, stride=s, padding=p) * g).sum(), xr)
    torch.testing.assert_close(transposed, grad, rtol=0, atol=1e-12)


def test_conv_matrix_known_rows():
    w = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    C = up.conv_matrix(w, 4)
    assert C.shape == (4, 16)
    assert C[3].reshape(4, 4).tolist() == [[0, 0, 0, 0], [0, 1, 2, 3], [0, 4, 5, 6], [0, 7, 8, 9]]
    assert (C != 0).sum().item() == 4 * 9


# ---------------------------------------------------------------------- interpolation


@pytest.mark.parametrize("factor", [1, 2, 3, (2, 3)])
def test_nearest_upsample_equals_interpolate(factor, device):
    x = _rand(2, 3, 4, 5, device=device)
    sf = factor if isinstance(factor, tuple) else (factor, factor)
    ref = F.interpolate(x, scale_factor=sf, mode="nearest")
    torch.testing.assert_close(up.nearest_upsample(x, factor), ref, rtol=0, atol=0)


def test_nearest_upsample_keeps_integer_labels(device):
    label = torch.tensor([[[[0, 1], [2, 255]]]], device=device)
    out = up.nearest_upsample(label, 2)
    assert out.dtype == torch.int64 and out.device.type == device.type
    assert out[0, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 255, 255], [2, 2, 255, 255]]


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size_or_factor", [2, 3, 4, 2.5, 0.5, (2.0, 3.0), (7, 9), (16, 3), (1, 1)])
def test_bilinear_upsample_equals_interpolate(size_or_factor, align_corners, device):
    x = _rand(2, 3, 5, 6, device=device)
    if isinstance(size_or_factor, tuple) and isinstance(size_or_factor[0], int):
        ref = F.interpolate(x, size=size_or_factor, mode="bilinear", align_corners=align_corners)
    else:
        ref = F.interpolate(x, scale_factor=size_or_factor, mode="bilinear",
                            align_corners=align_corners)
    out = up.bilinear_upsample(x, size_or_factor, align_corners=align_corners)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)


def test_bilinear_upsample_float32_close(device):
    x = _rand(1, 2, 7, 7, device=device, dtype=torch.float32)
    for ac in (False, True):
        ref = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=ac)
        torch.testing.assert_close(up.bilinear_upsample(x, 4, ac), ref, rtol=1e-5, atol=1e-6)


def test_bilinear_upsample_known_values():
    x = torch.tensor([[[[0.0, 1.0]]]], dtype=F64)
    assert up.bilinear_upsample(x, 2)[0, 0, 0].tolist() == [0.0, 0.25, 0.75, 1.0]
    torch.testing.assert_close(up.bilinear_upsample(x, 2, align_corners=True)[0, 0, 0],
                               torch.tensor([0, 1 / 3, 2 / 3, 1], dtype=F64))


# ---------------------------------------------------------------------- FCN bilinear kernel


def _upsample_filt(size):
    """``upsample_filt`` of FCN's surgery.py (Long et al.), in numpy: the reference."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.ogrid[:size, :size]
    return (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 5, 8, 32])
def test_bilinear_kernel_equals_fcn_upsample_filt(factor, device):
    k = up.bilinear_kernel(factor, channels=3, dtype=F64, device=device)
    size = 2 * factor - factor % 2
    assert k.shape == (3, 1, size, size) and k.device.type == device.type and k.dtype == F64
    for c in range(3):
        np.testing.assert_allclose(k[c, 0].cpu().numpy(), _upsample_filt(size), rtol=0, atol=1e-15)


def test_bilinear_kernel_known_values():
    k = up.bilinear_kernel(2)
    assert k.dtype == torch.float32
    tent = torch.tensor([0.25, 0.75, 0.75, 0.25])
    torch.testing.assert_close(k[0, 0], tent[:, None] * tent[None, :])
    tent3 = torch.tensor([1, 2, 3, 2, 1], dtype=F64) / 3
    torch.testing.assert_close(up.bilinear_kernel(3, dtype=F64)[0, 0], tent3[:, None] * tent3)


@pytest.mark.parametrize("factor", [1, 2, 3, 4, 5, 8])
def test_bilinear_layer_output_size_and_interior(factor):
    layer = up.bilinear_upsampling_layer(2, factor, dtype=F64)
    assert layer.stride == (factor, factor) and layer.padding == (factor // 2, factor // 2)
    x = _rand(1, 2, 6, 5)
    with torch.no_grad():
        out = layer(x)
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert out.shape == (1, 2, 6 * factor, 5 * factor)
    b = factor // 2                                                   # width of the border ring
    torch.testing.assert_close(out[..., b:-b or None, b:-b or None],
                               ref[..., b:-b or None, b:-b or None], rtol=0, atol=1e-12)
    # precisely: the outside of the image counts as zero, i.e. interpolate the zero-padded
    # input and crop `factor` pixels on each side
    padded = F.interpolate(F.pad(x, (1, 1, 1, 1)), scale_factor=factor, mode="bilinear",
                           align_corners=False)
    torch.testing.assert_close(out, padded[..., factor:-factor, factor:-factor], rtol=0, atol=1e-12)
    torch.testing.assert_close(out, up.conv_transpose2d(x, layer.weight, stride=factor,
                                                        padding=factor // 2, groups=2),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_bilinear_layer_darkens_exactly_the_border(factor):
    # on a constant image interpolate gives 1 everywhere; the layer loses the stamps of the
    # missing outside pixels in a ring of factor // 2 pixels
    layer = up.bilinear_upsampling_layer(1, factor, dtype=F64)
    with torch.no_grad():
        out = layer(torch.ones(1, 1, 4, 4, dtype=F64))[0, 0]
    b = factor // 2
    inside = torch.zeros_like(out, dtype=torch.bool)
    inside[b:-b, b:-b] = True
    assert torch.allclose(out[inside], torch.ones(1, dtype=F64), rtol=0, atol=1e-12)
    assert (out[~inside] < 1 - 1e-3).all()


def test_bilinear_layer_learnable_flag():
    assert up.bilinear_upsampling_layer(3, 2).weight.requires_grad
    fixed = up.bilinear_upsampling_layer(3, 2, learnable=False)
    assert not fixed.weight.requires_grad and fixed.bias is None and fixed.groups == 3
    assert fixed.weight.dtype == torch.float32
    torch.testing.assert_close(fixed.weight, up.bilinear_kernel(2, 3))


# ---------------------------------------------------------------------- unpooling


@pytest.mark.parametrize("k,s,p,size,output_size", [
    (2, None, 0, (8, 8), None),
    (2, 2, 0, (7, 9), (7, 9)),           # pooling rounded down: give the size back
    (3, 2, 1, (9, 9), None),
    (3, 2, 1, (9, 8), (1, 1, 9, 8)),
    ((2, 3), (2, 1), (1, 0), (6, 7), None),
])
def test_max_unpool2d_equals_torch(k, s, p, size, output_size, device):
    x = _rand(2, 3, *size, device=device)
    pooled, idx = F.max_pool2d(x, k, s, p, return_indices=True)
    ref = F.max_unpool2d(pooled, idx, k, s, p, output_size=output_size)
    out = up.max_unpool2d(pooled, idx, k, s, p, output_size=output_size)
    assert out.shape == ref.shape and out.device == x.device
    torch.testing.assert_close(out, ref, rtol=0, atol=0)


def test_max_unpool2d_known_answer_and_gradcheck():
    x = torch.tensor([[[[1.0, 5.0, 0.0, 2.0],
                        [3.0, 2.0, 7.0, 1.0]]]], dtype=F64)
    pooled, idx = F.max_pool2d(x, 2, return_indices=True)
    assert idx.tolist() == [[[[1, 6]]]]                                 # flat y * 4 + x
    assert up.max_unpool2d(pooled, idx, 2)[0, 0].tolist() == [[0, 5, 0, 0], [0, 0, 7, 0]]
    v = pooled.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: up.max_unpool2d(v, idx, 2), (v,))


# ---------------------------------------------------------------------- pyramid


def _astronaut(step=8):
    img = skimage.data.astronaut()[::step, ::step] / 255.0                  # (64, 64, 3) float64
    return img, torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]


@pytest.mark.parametrize("factor,sigma", [(2, None), (3, None), (2, 1.5), (2.5, None), (4, 0.5)])
def test_pyramid_up_equals_skimage_pyramid_expand(factor, sigma, device):
    img, x = _astronaut()
    ref = skimage.transform.pyramid_expand(img, upscale=factor, sigma=sigma, channel_axis=-1)
    out = up.pyramid_up(x.to(device), factor, sigma)[0].permute(1, 2, 0).cpu().numpy()
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_pyramid_up_float32_grey_photo():
    img = skimage.data.camera()[::8, ::8] / 255.0
    ref = skimage.transform.pyramid_expand(img, 2)
    out = up.pyramid_up(torch.from_numpy(img).float()[None, None])[0, 0].numpy()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5)


def test_pyramid_up_cv2_hand_computed(device):
    # per axis: even outputs (x[i-1] + 6 x[i] + x[i+1]) / 8, odd outputs (x[i] + x[i+1]) / 2,
    # borders reflected without repeating the edge pixel (BORDER_REFLECT_101)
    row = torch.tensor([[[[0.0, 8.0, 16.0]]]], dtype=F64, device=device)
    out = up.pyramid_up(row, method="cv2")
    assert out.shape == (1, 1, 2, 6)
    expected = [(6 * 0 + 2 * 8) / 8, (0 + 8) / 2, (0 + 6 * 8 + 16) / 8, (8 + 16) / 2,
                (8 + 7 * 16) / 8, 16]
    for r in range(2):                                                 # one input row: rows equal
        assert out[0, 0, r].tolist() == expected
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=F64, device=device)
    ax = torch.tensor([[6, 2], [4, 4], [1, 7], [0, 8]], dtype=F64) / 8   # 2 -> 4 along an axis
    expected2 = ax @ x[0, 0].cpu() @ ax.T
    torch.testing.assert_close(up.pyramid_up(x, method="cv2")[0, 0].cpu(), expected2,
                               rtol=0, atol=1e-12)


def test_pyramid_up_cv2_preserves_constant():
    out = up.pyramid_up(torch.full((1, 2, 5, 7), 3.0), method="cv2")
    assert out.shape == (1, 2, 10, 14)
    torch.testing.assert_close(out, torch.full_like(out, 3.0))


# ---------------------------------------------------------------------- bad input

X = torch.zeros(1, 2, 3, 3)
Wt = torch.zeros(2, 1, 3, 3)


def _ct(**kw):
    args = dict(input=X, weight=Wt)
    args.update(kw)
    return args


CONV_T_BAD = [
    ("input_3d", _ct(input=torch.zeros(2, 3, 3)), ValueError,
     r"input must have shape \(N, C_in, H, W\), got shape \(2, 3, 3\)"),
    ("input_not_tensor", _ct(input=[[[[0.0]]]]), TypeError,
     "input must be a torch.Tensor or a numpy array, got list"),
    ("input_int", _ct(input=torch.zeros(1, 2, 3, 3, dtype=torch.int64)), TypeError,
     "input must be floating point, got dtype torch.int64"),
    ("weight_2d", _ct(weight=torch.zeros(3, 3)), ValueError,
     r"weight must have shape \(C_in, C_out / groups, kH, kW\), got shape \(3, 3\)"),
    ("weight_channels", _ct(weight=torch.zeros(3, 1, 3, 3)), ValueError,
     r"C_in = input.shape\[1\] = 2, got weight of shape \(3, 1, 3, 3\)"),
    ("groups_not_dividing", _ct(input=torch.zeros(1, 3, 3, 3), weight=torch.zeros(3, 1, 3, 3),
                                groups=2), ValueError,
     "groups=2 must divide the input channels C_in=3"),
    ("groups_zero", _ct(groups=0), ValueError, "groups must be an integer >= 1, got 0"),
    ("groups_float", _ct(groups=1.0), TypeError, r"groups must be an integer, got float \(1.0\)"),
    ("bias_length", _ct(bias=torch.zeros(3)), ValueError,
     r"bias must have shape \(C_out,\) = \(1,\)"),
    ("bias_2d", _ct(bias=torch.zeros(1, 1)), ValueError,
     r"bias must have shape \(C_out,\), got shape \(1, 1\)"),
    ("padding_negative", _ct(padding=-1), ValueError, "padding must be an integer >= 0, got -1"),
    ("stride_zero", _ct(stride=0), ValueError, "stride must be an integer >= 1, got 0"),
    ("stride_triple", _ct(stride=(1, 2, 3)), ValueError,
     r"stride must be an int or a pair.*\(1, 2, 3\)"),
    ("stride_bool", _ct(stride=True), TypeError, r"stride must be an integer, got bool \(True\)"),
    ("dilation_zero", _ct(dilation=0), ValueError, "dilation must be an integer >= 1, got 0"),
    ("output_padding_too_big", _ct(stride=2, output_padding=2), ValueError,
     r"output_padding must be smaller than stride or dilation, got output_padding=\(2, 2\), "
     r"stride=\(2, 2\), dilation=\(1, 1\)"),
    ("output_padding_stride1", _ct(output_padding=1), ValueError,
     "output_padding must be smaller than stride or dilation"),
    ("padding_too_large", _ct(padding=3), ValueError, r"the output would have size \(-1, -1\)"),
    ("dtype_mismatch", _ct(weight=Wt.double()), TypeError,
     "weight has dtype torch.float64 but input has torch.float32"),
    ("bias_dtype_mismatch", _ct(bias=torch.zeros(1, dtype=F64)), TypeError,
     "bias has dtype torch.float64 but input has torch.float32"),
    ("weight_empty", _ct(weight=torch.zeros(2, 0, 3, 3)), ValueError, "weight must be non-empty"),
]


@pytest.mark.parametrize("fn", [up.conv_transpose2d, up.conv_transpose2d_loop],
                         ids=["scatter", "loop"])
@pytest.mark.parametrize("name,kwargs,exc,match", CONV_T_BAD, ids=[c[0] for c in CONV_T_BAD])
def test_conv_transpose2d_rejects(fn, name, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(**kwargs)


OTHER_BAD = [
    ("nearest_factor_zero", lambda: up.nearest_upsample(X, 0), ValueError,
     "factor must be an integer >= 1, got 0"),
    ("nearest_3d", lambda: up.nearest_upsample(X[0], 2), ValueError,
     r"x must have shape \(N, C, H, W\), got shape \(2, 3, 3\)"),
    ("bilinear_3d", lambda: up.bilinear_upsample(X[0], 2), ValueError,
     r"x must have shape \(N, C, H, W\), got shape \(2, 3, 3\)"),
    ("bilinear_int", lambda: up.bilinear_upsample(X.long(), 2), TypeError,
     "x must be floating point, got dtype torch.int64"),
    ("bilinear_negative_factor", lambda: up.bilinear_upsample(X, -2.0), ValueError,
     "a scale factor must be positive and finite, got -2.0"),
    ("bilinear_string", lambda: up.bilinear_upsample(X, "2"), TypeError,
     "size_or_factor must be a number"),
    ("bilinear_zero_size", lambda: up.bilinear_upsample(X, (0, 4)), ValueError,
     "size_or_factor gives an output size 0 < 1"),
    ("bilinear_align_corners", lambda: up.bilinear_upsample(X, 2, align_corners=1), TypeError,
     r"align_corners must be True or False, got int \(1\)"),
    ("kernel_factor_zero", lambda: up.bilinear_kernel(0), ValueError,
     "factor must be an integer >= 1, got 0"),
    ("kernel_factor_float", lambda: up.bilinear_kernel(2.0), TypeError,
     r"factor must be an integer, got float \(2.0\)"),
    ("kernel_channels_zero", lambda: up.bilinear_kernel(2, 0), ValueError,
     "channels must be an integer >= 1, got 0"),
    ("kernel_int_dtype", lambda: up.bilinear_kernel(2, dtype=torch.int64), TypeError,
     "dtype must be a floating-point torch.dtype"),
    ("layer_channels_zero", lambda: up.bilinear_upsampling_layer(0, 2), ValueError,
     "channels must be an integer >= 1, got 0"),
    ("layer_learnable", lambda: up.bilinear_upsampling_layer(1, 2, learnable="yes"), TypeError,
     "learnable must be True or False"),
    ("conv_matrix_3d_weight", lambda: up.conv_matrix(torch.zeros(1, 3, 3), 4), ValueError,
     r"weight must have shape \(C_out, C_in, kH, kW\), got shape \(1, 3, 3\)"),
    ("conv_matrix_kernel_too_big", lambda: up.conv_matrix(torch.zeros(1, 1, 5, 5), 3), ValueError,
     r"kernel \(5, 5\) is larger than the padded input \(3, 3\)"),
    ("unpool_float_indices", lambda: up.max_unpool2d(X, X, 2), TypeError,
     "indices must be int64"),
    ("unpool_shape", lambda: up.max_unpool2d(X, torch.zeros(1, 2, 2, 2, dtype=torch.int64), 2),
     ValueError, r"indices must have the shape of input \(1, 2, 3, 3\), got \(1, 2, 2, 2\)"),
    ("unpool_index_range", lambda: up.max_unpool2d(X, torch.full((1, 2, 3, 3), 36), 2),
     ValueError, r"indices must lie in \[0, 36\)"),
    ("unpool_output_size", lambda: up.max_unpool2d(X, torch.zeros(1, 2, 3, 3, dtype=torch.int64), 2,
                                                   output_size=(9, 6)),
     ValueError, "output_size must be strictly between 4 and 8"),
    ("unpool_3d", lambda: up.max_unpool2d(X[0], X[0].long(), 2), ValueError,
     r"input must have shape \(N, C, H, W\), got shape \(2, 3, 3\)"),
    ("pyramid_method", lambda: up.pyramid_up(X, method="opencv"), ValueError,
     r"method must be one of \('skimage', 'cv2'\), got str \('opencv'\)"),
    ("pyramid_factor_one", lambda: up.pyramid_up(X, 1), ValueError, "factor must be > 1"),
    ("pyramid_factor_string", lambda: up.pyramid_up(X, "2"), TypeError,
     "factor must be a real number, got str"),
    ("unpool_indices_list", lambda: up.max_unpool2d(X, [[0]], 2), TypeError,
     "indices must be a torch.Tensor or a numpy array, got list"),
    ("pyramid_cv2_factor", lambda: up.pyramid_up(X, 3, method="cv2"), ValueError,
     "method='cv2' upsamples by factor=2 only, got factor=3"),
    ("pyramid_sigma", lambda: up.pyramid_up(X, 2, sigma=0.0), ValueError,
     "sigma must be > 0, got 0"),
    ("pyramid_3d", lambda: up.pyramid_up(X[0]), ValueError,
     r"image must have shape \(N, C, H, W\), got shape \(2, 3, 3\)"),
]


@pytest.mark.parametrize("name,call,exc,match", OTHER_BAD, ids=[c[0] for c in OTHER_BAD])
def test_rejects(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_conv_transpose2d_rejects_device_mismatch():
    with pytest.raises(ValueError, match="input and weight must be on the same device, got "
                                         "input on cpu and weight on cuda:0"):
        up.conv_transpose2d(X, Wt.cuda())


def test_conv_transpose2d_accepts_what_torch_accepts():
    """Over small sizes, kernels, strides, paddings, output paddings and dilations, the
    function raises exactly where torch raises (output padding too large, output smaller
    than one pixel), and agrees with torch everywhere else."""
    g = torch.Generator().manual_seed(0)
    for H, k, s, p, op, d in itertools.product((1, 2, 3), (1, 2, 3), (1, 2, 3), (0, 1, 2),
                                               (0, 1, 2), (1, 2)):
        x = torch.rand(1, 2, H, H + 1, generator=g, dtype=F64)
        w = torch.rand(2, 3, k, k, generator=g, dtype=F64)
        kw = dict(stride=s, padding=p, output_padding=op, dilation=d)
        try:
            ref = F.conv_transpose2d(x, w, **kw)
        except RuntimeError:
            with pytest.raises(ValueError):
                up.conv_transpose2d(x, w, **kw)
        else:
            torch.testing.assert_close(up.conv_transpose2d(x, w, **kw), ref)


@pytest.mark.parametrize("H, W", [(1, 5), (4, 1), (1, 1)])
def test_bilinear_upsample_of_one_row_or_column_equals_interpolate(H, W):
    x = _rand(1, 2, H, W)
    for align_corners in (False, True):
        ref = F.interpolate(x, scale_factor=3, mode="bilinear", align_corners=align_corners)
        torch.testing.assert_close(up.bilinear_upsample(x, 3, align_corners=align_corners), ref,
                                   rtol=0, atol=1e-12)


# Found by a longer run of tests/test_properties.py (issue 13): input_size=10**12 tried to
# allocate 8 TB for the explicit matrix.
def test_conv_matrix_refuses_a_matrix_too_large_to_hold():
    w = torch.ones(1, 1, 1, 1)
    assert up.conv_matrix(w, 4).shape == (16, 16)
    with pytest.raises(ValueError, match=r"input_size=\(1000000000000, 1000000000000\).*at most"):
        up.conv_matrix(w, 10**12)
    side = 1 << 7                                     # 128 x 128 -> (2**14)**2 = 2**28: the limit
    assert up._MAX_MATRIX_ENTRIES == side ** 4
    with pytest.raises(ValueError, match=r"272646144 entries, at most 268435456"):
        up.conv_matrix(w, (side, side + 1))


def test_non_finite_values_propagate_as_documented():
    x = torch.tensor([[[[float("nan"), 1.0], [float("inf"), 2.0]]]])
    out = up.nearest_upsample(x, 2)
    assert out[0, 0, :2, :2].isnan().all() and out[0, 0, 2:, :2].isinf().all()
    assert torch.equal(out[0, 0, :, 2:], torch.tensor([[1.0, 1], [1, 1], [2, 2], [2, 2]]))


# Found by a longer run of tests/test_properties.py (issue 13): device=10**12 reached torch as
# a CUDA index ("Found no NVIDIA driver"), factor=10**12 asked for a 10**24-entry kernel.
def test_kernels_and_counts_check_device_and_size():
    for call in (lambda d: up.bilinear_kernel(2, device=d), lambda d: up.overlap_count(3, 3, device=d)):
        with pytest.raises(TypeError, match=r"^device must be a str or torch.device, got int"):
            call(10**12)
        assert call("cpu").device.type == "cpu"
    with pytest.raises(ValueError, match=r"bilinear_kernel\(factor=1000000, channels=1\) would have"):
        up.bilinear_kernel(10**6)
    with pytest.raises(ValueError, match=r"^input_size=\(1000000000000, 1000000000000\) would have"):
        up.overlap_count(10**12, 3)
    with pytest.raises(ValueError, match=r"^kernel_size=\(100000, 100000\) would have"):
        up.overlap_count(3, 10**5)
    with pytest.raises(ValueError, match=r"^the output \(1, 1, 2000000003, 2000000003\) \(stride"):
        up.conv_transpose2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3), stride=10**9)
    assert up.overlap_count(3, 3, stride=2).shape == (7, 7)


def test_upsampling_refuses_absurd_output_sizes():
    # found by tests/test_properties.py (issue 13): factor 10**12 tried to allocate 8 TB
    x = torch.rand(1, 1, 2, 2)
    with pytest.raises(ValueError, match=r"^the output \(1, 1, 2000000000000, 2000000000000\) of "
                                         r"size_or_factor=1000000000000 would have"):
        up.bilinear_upsample(x, 10**12)
    with pytest.raises(ValueError, match=r"^the output of factor=\(1, 100000000000\) would have"):
        up.nearest_upsample(x, (1, 10**11))
    assert up.bilinear_upsample(x, 3).shape == (1, 1, 6, 6)


@pytest.mark.parametrize("output_padding", [(2, 0), (0, 2)])
def test_output_padding_is_checked_on_each_axis(output_padding):
    # as torch: output_padding must be smaller than stride or dilation, axis by axis
    x, w = torch.rand(1, 1, 3, 3), torch.rand(1, 1, 3, 3)
    with pytest.raises(RuntimeError):
        F.conv_transpose2d(x, w, stride=2, output_padding=output_padding)
    with pytest.raises(ValueError, match="output_padding must be smaller than stride or dilation"):
        up.conv_transpose2d(x, w, stride=2, output_padding=output_padding)
    ok = tuple(min(p, 1) for p in output_padding)
    assert torch.allclose(up.conv_transpose2d(x, w, stride=2, output_padding=ok),
                          F.conv_transpose2d(x, w, stride=2, output_padding=ok))


def test_transposed_convolution_size_limit_counts_batch_channels_and_both_sides(monkeypatch):
    # N = 2, C_in = 3, C_out = 5, output 4 x 7: 2 * 5 * 4 * 7 = 280 entries
    x, w = torch.rand(2, 3, 2, 3), torch.rand(3, 5, 3, 5)
    want = F.conv_transpose2d(x, w)
    assert want.shape == (2, 5, 4, 7)
    monkeypatch.setattr(up, "_MAX_MATRIX_ENTRIES", 280)            # exactly at the limit
    assert torch.allclose(up.conv_transpose2d(x, w), want)
    monkeypatch.setattr(up, "_MAX_MATRIX_ENTRIES", 279)            # one entry short
    with pytest.raises(ValueError, match=r"^the output \(2, 5, 4, 7\) .* would have 280 entries"):
        up.conv_transpose2d(x, w)


def test_conv_matrix_refuses_a_kernel_larger_than_the_padded_input():
    w = torch.rand(1, 1, 5, 5)
    for size, padding in ((2, 1), ((2, 6), (1, 0)), ((6, 2), (0, 1))):
        x = torch.rand(1, 1, *((size, size) if isinstance(size, int) else size))
        with pytest.raises(RuntimeError):                          # torch refuses it too
            F.conv2d(x, w, padding=padding)
        with pytest.raises(ValueError, match=r"^the kernel \(5, 5\) is larger than the padded"):
            up.conv_matrix(w, size, padding=padding)
    x = torch.rand(1, 1, 3, 3)                                      # 3 + 2 * 1 = 5: fits
    m = up.conv_matrix(w, 3, padding=1)
    assert torch.allclose(m @ x.reshape(-1), F.conv2d(x, w, padding=1).reshape(-1), atol=1e-6)


@pytest.mark.parametrize("factor", [float("nan"), float("inf"), (2.0, float("nan")), -1.5, 0.0])
def test_scale_factor_must_be_positive_and_finite(factor):
    # found by a longer run of tests/test_properties.py (issue 13): NaN failed in math.floor
    with pytest.raises(ValueError, match=r"^size_or_factor: a scale factor must be positive and finite"):
        up.bilinear_upsample(torch.rand(1, 1, 2, 2), factor)


def test_one_pixel_sizes_are_valid():
    # the smallest legal sizes (mutation survivors: minimum 1 raised to 2 went unnoticed)
    assert torch.equal(up.overlap_count(1, 3), torch.ones(3, 3, dtype=torch.long))
    assert torch.equal(up.overlap_count(3, 1), torch.ones(3, 3, dtype=torch.long))
    x = torch.rand(1, 2, 4, 4)
    pooled, idx = F.max_pool2d(x, 1, return_indices=True)
    torch.testing.assert_close(up.max_unpool2d(pooled, idx, 1), F.max_unpool2d(pooled, idx, 1))


def test_bilinear_layer_checks_its_size_before_allocating():
    # found by a longer run of tests/test_properties.py (issue 13): channels=10**12 reached
    # nn.ConvTranspose2d, which tried to allocate 128 TB
    with pytest.raises(ValueError, match=r"^bilinear_kernel\(factor=2, channels=1000000000000\) "
                                         r"would have"):
        up.bilinear_upsampling_layer(10**12, 2)
    with pytest.raises(TypeError, match=r"^device must be a str or torch.device"):
        up.bilinear_upsampling_layer(2, 2, device=3)
    assert up.bilinear_upsampling_layer(3, 2).weight.shape == (3, 1, 4, 4)
