"""Permutohedral lattice vs brute-force Gaussian filtering."""

import pytest
import torch

from course_lib.crf.permutohedral import Permutohedral, gaussian_filter_exact, permutohedral_filter

# every test twice on the CPU: lattices built by the compiled loops and by torch operations
pytestmark = pytest.mark.usefixtures("lattice_build")


def _normalised(filter_fn, f, v):
    return filter_fn(f, v) / filter_fn(f, torch.ones_like(v[:, :1]))


def _loop_gaussian(f, v):
    """O(N^2) double loop: the definition."""
    out = torch.zeros_like(v)
    for i in range(f.shape[0]):
        for j in range(f.shape[0]):
            out[i] += torch.exp(-0.5 * ((f[i] - f[j]) ** 2).sum()) * v[j]
    return out


def test_exact_matches_double_loop():
    g = torch.Generator().manual_seed(0)
    f = torch.rand(30, 3, generator=g, dtype=torch.float64) * 3
    v = torch.rand(30, 2, generator=g, dtype=torch.float64)
    torch.testing.assert_close(gaussian_filter_exact(f, v, chunk=7), _loop_gaussian(f, v))


@pytest.mark.parametrize("d, mean_tol, max_tol", [(2, 0.003, 0.02), (3, 0.01, 0.08), (5, 0.015, 0.25)])
def test_lattice_close_to_exact(device, d, mean_tol, max_tol):
    # Normalised filtering (a weighted average) removes the lattice's global scale; what is left
    # is the lattice's approximation error, a few % of the value range at most.
    g = torch.Generator().manual_seed(d)
    f = (torch.rand(2000, d, generator=g) * 6).to(device)
    v = torch.rand(2000, 3, generator=g).to(device)
    approx = _normalised(permutohedral_filter, f, v)
    exact = _normalised(gaussian_filter_exact, f.double(), v.double()).float()
    err = (approx - exact).abs()
    assert err.mean().item() < mean_tol, err.mean().item()
    assert err.max().item() < max_tol, err.max().item()
    # the filter does smooth: far closer to the exact result than the input is
    assert err.mean() < 0.2 * (v - exact).abs().mean()


def test_constant_is_preserved_and_lattice_reused(device):
    g = torch.Generator().manual_seed(1)
    f = (torch.rand(500, 4, generator=g) * 4).to(device)
    lat = Permutohedral(f)
    ones = torch.ones(500, 1, device=device)
    norm = lat.filter(ones)
    assert norm.device.type == device.type
    assert bool((norm > 0).all())
    # linear: filter(a x + b y) = a filter(x) + b filter(y), with the same lattice
    x, y = torch.rand(500, 2, generator=g).to(device), torch.rand(500, 2, generator=g).to(device)
    torch.testing.assert_close(lat.filter(2 * x - y), 2 * lat.filter(x) - lat.filter(y),
                               atol=1e-4, rtol=1e-4)
    # every point lands on d+1 vertices with barycentric weights summing to 1
    torch.testing.assert_close(lat.barycentric.sum(1), torch.ones(500, device=device))
    assert bool((lat.barycentric >= -1e-6).all())
    assert lat.offsets.shape == (500, 5) and int(lat.offsets.max()) < lat.num_vertices


def test_reverse_is_transpose(device):
    # slice . blur . splat with blur directions reversed is the transposed operator
    g = torch.Generator().manual_seed(2)
    f = (torch.rand(300, 2, generator=g) * 3).to(device)
    lat = Permutohedral(f)
    a, b = torch.rand(300, 1, generator=g).to(device), torch.rand(300, 1, generator=g).to(device)
    torch.testing.assert_close((a * lat.filter(b)).sum(), (b * lat.filter(a, reverse=True)).sum(),
                               rtol=1e-4, atol=1e-4)


def test_far_points_do_not_interact():
    f = torch.tensor([[0.0, 0.0], [100.0, 100.0]])
    v = torch.tensor([[1.0], [0.0]])
    out = permutohedral_filter(f, v)
    assert out[1, 0].item() == 0.0 and out[0, 0].item() > 0


def test_rejects_non_tensor_features():
    with pytest.raises(TypeError, match="features must be a torch.Tensor"):
        Permutohedral([[0.0, 1.0]])


def test_rejects_wrong_feature_shape():
    with pytest.raises(ValueError, match=r"features must have shape \(N, d\)"):
        Permutohedral(torch.zeros(5))


def test_rejects_integer_features():
    with pytest.raises(TypeError, match="floating point"):
        Permutohedral(torch.zeros(5, 2, dtype=torch.int64))


def test_rejects_nan_features():
    f = torch.zeros(5, 2)
    f[0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        Permutohedral(f)


def test_rejects_huge_feature_range():
    f = torch.tensor([[0.0] * 5, [1e7] * 5])
    with pytest.raises(ValueError, match="too large a range"):
        Permutohedral(f)


def test_rejects_values_of_wrong_length():
    lat = Permutohedral(torch.rand(10, 2))
    with pytest.raises(ValueError, match=r"values must have shape \(N=10, C\)"):
        lat.filter(torch.rand(9, 1))


def test_exact_rejects_values_of_wrong_length():
    with pytest.raises(ValueError, match=r"values must have shape \(N=10, C\)"):
        gaussian_filter_exact(torch.rand(10, 2), torch.rand(9, 1))


def test_barycentric_weights_reconstruct_the_point(device):
    # splat weights are true barycentric coordinates: sum_r b_r * vertex_r = elevated point,
    # and every vertex lies on the lattice (coordinates sum to 0, all congruent mod d+1)
    g = torch.Generator().manual_seed(3)
    f = (torch.rand(400, 3, generator=g) * 5).to(device)
    lat = Permutohedral(f)
    V = lat.vertices()
    assert bool((V.sum(1) == 0).all())
    assert bool(((V - V[:, :1]) % 4 == 0).all())
    rebuilt = (lat.barycentric[:, :, None] * V[lat.offsets].float()).sum(1)
    torch.testing.assert_close(rebuilt, Permutohedral.elevate(f), atol=1e-4, rtol=1e-5)


def test_lattice_keeps_the_scale_of_the_gaussian_sum():
    # Not normalised: the lattice's kernel is a little narrower than the Gaussian (and its
    # final constant 1 / (1 + 2^-d) is pydensecrf's), so filtering ones gives 75-100 % of
    # the exact sum of Gaussian weights in low dimensions
    for d in (1, 2, 3):
        g = torch.Generator().manual_seed(d)
        f = torch.rand(1500, d, generator=g) * 6
        ones = torch.ones(1500, 1)
        ratio = Permutohedral(f).filter(ones) / gaussian_filter_exact(f.double(), ones.double())
        assert 0.75 < ratio.mean().item() < 1.0, (d, ratio.mean().item())


def test_sparse_matrices_are_well_formed_csr():
    # row pointers: one per row plus one, from 0 to the number of entries, non-decreasing;
    # column indices inside the matrix (columns within a row need not be sorted)
    from course_lib.crf.permutohedral import PermutohedralSum

    g = torch.Generator().manual_seed(5)
    lats = [Permutohedral(torch.rand(300, d, generator=g) * 4) for d in (2, 5)]
    fused = PermutohedralSum(lats, pre=[torch.rand(300, generator=g)] * 2)
    for m in (fused._splat, fused._slice, *(op for lat in lats for op in lat._operators(torch.float64))):
        crow, col = m.crow_indices().long(), m.col_indices().long()
        assert crow.shape == (m.shape[0] + 1,) and crow[0] == 0 and crow[-1] == col.numel()
        assert bool((crow[1:] >= crow[:-1]).all())
        assert col.numel() == m.values().numel() and 0 <= int(col.min()) <= int(col.max()) < m.shape[1]


def test_exact_filter_refuses_one_far_point():
    f = torch.zeros(1000, 2, dtype=torch.float64)
    f[0, 0] = 1e7                                          # one point far from the others
    with pytest.raises(ValueError, match="features spread too far for exact filtering"):
        gaussian_filter_exact(f, torch.ones(1000, 1, dtype=torch.float64))


@pytest.mark.parametrize("shape", [(0, 2), (3, 0), (0, 0)])
def test_empty_features_are_refused(shape):
    with pytest.raises(ValueError, match=r"^features must have shape \(N, d\) with N, d >= 1, "
                                         rf"got shape \({shape[0]}, {shape[1]}\)"):
        Permutohedral(torch.zeros(shape))


def test_key_size_limit_is_62_bits():
    # mixed-radix keys live in int64: 62 bits are accepted, a fraction more is refused
    from course_lib.crf.permutohedral import _mixed_radix
    lo, hi = torch.zeros(2, dtype=torch.int64), torch.full((2,), 2**31 - 1)
    assert _mixed_radix(lo, hi, "keys") == [2**31, 1]                   # 31 + 31 bits
    with pytest.raises(ValueError, match=r"need 62\.5 bits, more than the 62"):
        _mixed_radix(lo, hi, "keys", extra_bits=0.5)


def test_exact_filter_in_chunks_of_one_row():
    g = torch.Generator().manual_seed(9)
    f, v = torch.rand(40, 3, generator=g, dtype=torch.float64), torch.rand(40, 2, generator=g)
    torch.testing.assert_close(gaussian_filter_exact(f, v, chunk=1), gaussian_filter_exact(f, v))
