"""Tests for course_lib.crf.grid: Potts energy, ICM, mean field, graph cuts."""

import itertools

import numpy as np
import pytest
import torch

from course_lib.crf import grid as G


def _brute_force(u, w):
    C, H, W = u.shape
    return min(float(G.energy(torch.tensor(y).reshape(H, W), u, w))
               for y in itertools.product(range(C), repeat=H * W))


def _energy_loop(y, u, w):
    """Slow reference: loop over pixels and their forward neighbours."""
    C, H, W = u.shape
    e = 0.0
    for i in range(H):
        for j in range(W):
            e += float(u[y[i, j], i, j])
            for k, (dy, dx) in enumerate(G.OFFSETS[: w.shape[0]]):
                ii, jj = i + dy, j + dx
                if 0 <= ii < H and 0 <= jj < W and y[i, j] != y[ii, jj]:
                    e += float(w[k, i, j])
    return e


def _noisy(C=4, H=40, W=40, noise=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    true = torch.zeros(H, W, dtype=torch.long)
    true[5:25, 5:30] = 1
    true[18:38, 20:38] = min(2, C - 1)
    true[:4] = C - 1
    u = torch.randn(C, H, W, generator=g) * noise
    u = u + 1.5 * (1 - torch.nn.functional.one_hot(true, C).permute(2, 0, 1).float())
    return u, true


@pytest.mark.parametrize("connectivity", [4, 8])
def test_energy_matches_loop(connectivity, device):
    g = torch.Generator().manual_seed(1)
    u = torch.randn(3, 5, 6, generator=g, dtype=torch.float64)
    img = torch.rand(5, 6, 3, generator=g)
    w = G.contrast_weights(img, 2.0, connectivity=connectivity).double()
    y = torch.randint(0, 3, (5, 6), generator=g)
    ref = _energy_loop(y, u, w)
    got = G.energy(y.to(device), u.to(device), w.to(device))
    assert got.item() == pytest.approx(ref, rel=1e-12)


def test_potts_known_answer():
    # 2 x 2 grid, labels [[0, 1], [0, 0]]: two cut edges of weight 1.5, zero unaries
    w = G.potts_pairwise((2, 2), 1.5)
    assert w.shape == (2, 2, 2)
    assert w.sum().item() == pytest.approx(4 * 1.5)  # 4 edges in a 2x2 grid
    e = G.energy(torch.tensor([[0, 1], [0, 0]]), torch.zeros(2, 2, 2), w)
    assert e.item() == pytest.approx(3.0)


def test_contrast_weights_drop_across_edges():
    img = np.zeros((4, 6, 3), np.uint8)
    img[:, 3:] = 255
    w = G.contrast_weights(img, 1.0)
    assert w[0, 0, 2] < 0.01 and w[0, 0, 0] == pytest.approx(1.0)
    assert torch.all(w[0, :, -1] == 0) and torch.all(w[1, -1, :] == 0)
    # beta = mean squared neighbour difference
    d2 = 3 * 255.0**2
    n_edges = 4 * 5 + 3 * 6
    beta = 4 * d2 / n_edges
    assert w[0, 0, 2].item() == pytest.approx(np.exp(-d2 / (2 * beta)), rel=1e-5)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("connectivity", [4, 8])
def test_graph_cut_equals_brute_force(seed, connectivity):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(2, 3, 3, generator=g, dtype=torch.float64)
    w = G.contrast_weights(torch.rand(3, 3, 3, generator=g), 1.0, connectivity=connectivity).double()
    y, e = G.graph_cut(u, w)
    assert e == pytest.approx(_brute_force(u, w), abs=1e-9)
    assert e == pytest.approx(G.energy(y, u, w).item())


@pytest.mark.parametrize("seed", range(4))
def test_alpha_expansion_within_factor_two_of_optimum(seed):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(3, 2, 4, generator=g, dtype=torch.float64)
    w = G.potts_pairwise((2, 4), 0.6, dtype=torch.float64)
    opt = _brute_force(u, w)
    _, hist = G.alpha_expansion(u, w)
    assert opt - 1e-9 <= hist[-1] <= 2 * opt + 1e-9


def test_icm_never_increases_energy(device):
    u, true = _noisy()
    w = G.potts_pairwise(true.shape, 1.0, connectivity=8)
    y, hist = G.icm(u.to(device), w.to(device), 20)
    assert y.device.type == device.type
    assert np.all(np.diff(hist) <= 1e-6) and hist[-1] < hist[0]
    assert (y.cpu() == true).float().mean() > (u.argmin(0) == true).float().mean()


@pytest.mark.parametrize("damping", [0.0, 0.5])
def test_mean_field_free_energy_never_increases(device, damping):
    u, true = _noisy()
    w = G.potts_pairwise(true.shape, 1.0)
    q, y, hist = G.mean_field_grid(u.to(device), w.to(device), 15, damping=damping)
    torch.testing.assert_close(q.sum(0), torch.ones_like(q[0]))
    assert np.all(np.diff(hist["free_energy"]) <= 1e-6 * abs(hist["free_energy"][0]))
    assert hist["energy"][-1] < 0.2 * hist["energy"][0]
    assert (y.cpu() == true).float().mean() > 0.97


def test_alpha_expansion_beats_icm_on_noisy_image():
    u, true = _noisy(noise=1.2)
    w = G.potts_pairwise(true.shape, 1.0)
    _, hi = G.icm(u, w, 30)
    ya, ha = G.alpha_expansion(u, w)
    assert np.all(np.diff(ha) <= 1e-9)
    assert ha[-1] <= hi[-1]
    assert ha[-1] == pytest.approx(G.energy(ya, u, w).item())


def test_graph_cut_and_expansion_agree_on_two_labels():
    u, true = _noisy(C=2, noise=1.0)
    w = G.potts_pairwise(true.shape, 0.8)
    _, e = G.graph_cut(u, w)
    _, ha = G.alpha_expansion(u, w)
    assert ha[-1] == pytest.approx(e, rel=1e-6)


def test_rejects_weights_unary_mismatch():
    with pytest.raises(ValueError, match=r"weights must have shape .* got shape \(2, 4, 4\)"):
        G.icm(torch.zeros(2, 3, 3), G.potts_pairwise((4, 4)), 1)


def test_rejects_bad_unary_shape():
    with pytest.raises(ValueError, match=r"unary must have shape \(C, H, W\)"):
        G.energy(torch.zeros(3, 3, dtype=torch.long), torch.zeros(3, 3), torch.zeros(2, 3, 3))


def test_rejects_integer_unary():
    with pytest.raises(TypeError, match="unary must be floating point"):
        G.icm(torch.zeros(2, 3, 3, dtype=torch.long), G.potts_pairwise((3, 3)), 1)


def test_rejects_negative_weights():
    with pytest.raises(ValueError, match="weights must be non-negative"):
        G.icm(torch.zeros(2, 3, 3), -G.potts_pairwise((3, 3)), 1)


def test_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match=r"labels must be in 0..1"):
        G.energy(torch.full((3, 3), 2), torch.zeros(2, 3, 3), G.potts_pairwise((3, 3)))


def test_rejects_graph_cut_with_three_labels():
    with pytest.raises(ValueError, match="exactly 2 labels"):
        G.graph_cut(torch.zeros(3, 3, 3), G.potts_pairwise((3, 3)))


def test_rejects_non_rgb_image_for_contrast():
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, 3\)"):
        G.contrast_weights(np.zeros((4, 4, 2)), 1.0)


def test_rejects_bad_connectivity():
    with pytest.raises(ValueError, match=r"connectivity must be one of \(4, 8\)"):
        G.potts_pairwise((3, 3), 1.0, connectivity=6)


# ----------------------------------------------------------------------------- issue 13 findings
def test_graph_cut_rejects_nan_weight_instead_of_hanging():
    w = G.potts_pairwise((3, 3), 1.0)
    w[0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="weights must be finite"):
        G.graph_cut(torch.zeros(2, 3, 3), w)


@pytest.mark.parametrize("solver", [G.icm, G.mean_field_grid, G.alpha_expansion, G.graph_cut])
@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_minimisers_reject_non_finite_unary(solver, bad):
    u = torch.zeros(2, 3, 3)
    u[1, 0, 0] = bad
    with pytest.raises(ValueError, match="unary must be finite"):
        solver(u, G.potts_pairwise((3, 3)))


@pytest.mark.parametrize("solver", [G.icm, G.mean_field_grid, G.alpha_expansion])
def test_minimisers_reject_nan_weights(solver):
    w = G.potts_pairwise((3, 3))
    w[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="weights must be finite"):
        solver(torch.zeros(2, 3, 3), w)


@pytest.mark.parametrize("w", [float("nan"), float("inf")])
def test_weight_builders_reject_non_finite_w(w):
    with pytest.raises(ValueError, match="w must be finite"):
        G.potts_pairwise((3, 3), w)
    with pytest.raises(ValueError, match="w must be finite"):
        G.contrast_weights(np.zeros((3, 3, 3)), w)


def test_contrast_weights_rejects_nan_image():
    image = np.zeros((3, 3, 3))
    image[1, 1, 0] = np.nan
    with pytest.raises(ValueError, match="image must be finite"):
        G.contrast_weights(image)


def test_one_result_type_with_legacy_unpacking():
    u, _ = _noisy(C=2, H=6, W=7)
    w = G.potts_pairwise((6, 7), 0.5)
    results = {"icm": G.icm(u, w, 3), "mean_field": G.mean_field_grid(u, w, 3),
               "graph_cut": G.graph_cut(u, w), "alpha_expansion": G.alpha_expansion(u, w)}
    for method, r in results.items():
        assert isinstance(r, G.GridResult) and r.method == method
        assert r.labels.shape == (6, 7) and r.labels.dtype == torch.int64
        assert r.final_energy == pytest.approx(float(G.energy(r.labels, u, w)))
    y, e = results["graph_cut"]
    assert torch.equal(y, results["graph_cut"].labels) and e == results["graph_cut"].final_energy
    q, y, hist = results["mean_field"]
    assert torch.equal(y, q.argmax(0)) and hist["energy"] == results["mean_field"].energy
    y, hist = results["icm"]
    assert hist == results["icm"].energy and results["icm"][0] is y


# ----------------------------------------------------------------------------- mutation survivors
def _neighbours(i, j, H, W, w):
    """(ii, jj, weight) of every grid neighbour of (i, j), from the (E, H, W) weights."""
    for k, (dy, dx) in enumerate(G.OFFSETS[: w.shape[0]]):
        if 0 <= i + dy < H and 0 <= j + dx < W:
            yield i + dy, j + dx, float(w[k, i, j])
        if 0 <= i - dy < H and 0 <= j - dx < W:
            yield i - dy, j - dx, float(w[k, i - dy, j - dx])


def _colour(i, j, w):
    """Colour class of pixel (i, j): (i + j) % 2 on the 4-connected grid, 2 (i % 2) + j % 2 on
    the 8-connected one (no two pixels of one class are neighbours)."""
    return (i + j) % 2 if w.shape[0] == 2 else 2 * (i % 2) + j % 2


def _icm_loop(u, w, sweeps):
    """ICM by hand: the pixels of colour 0, then 1 (2, 3 on the 8-connected grid)."""
    C, H, W = u.shape
    y = u.argmin(0).tolist()
    for _ in range(sweeps):
        for colour in range(2 if w.shape[0] == 2 else 4):
            new = [row[:] for row in y]
            for i in range(H):
                for j in range(W):
                    if _colour(i, j, w) != colour:
                        continue
                    cost = [float(u[c, i, j]) + sum(wt for ii, jj, wt in _neighbours(i, j, H, W, w)
                                                    if y[ii][jj] != c) for c in range(C)]
                    best = min(range(C), key=lambda c: cost[c])
                    if cost[best] < cost[y[i][j]] - 1e-6 * (1 + abs(cost[y[i][j]])):
                        new[i][j] = best
            y = new
    return torch.tensor(y)


def _mean_field_loop(u, w, iterations):
    """Checkerboard mean field by hand in float64 (colour classes as in _icm_loop)."""
    C, H, W = u.shape
    q = torch.softmax(-u.double(), 0)
    for _ in range(iterations):
        for colour in range(2 if w.shape[0] == 2 else 4):
            new = q.clone()
            for i in range(H):
                for j in range(W):
                    if _colour(i, j, w) == colour:
                        m = sum(wt * q[:, ii, jj] for ii, jj, wt in _neighbours(i, j, H, W, w))
                        new[:, i, j] = torch.softmax(-u[:, i, j].double() + m, 0)
            q = new
    return q


def _random_image_weights(H, W, *, seed, weight, connectivity):
    """Contrast weights of a random (H, W) colour image."""
    image = torch.rand(H, W, 3, generator=torch.Generator().manual_seed(seed))
    return G.contrast_weights(image, weight, connectivity=connectivity)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_icm_equals_the_loop(connectivity):
    u, _ = _noisy(C=3, H=7, W=6, noise=1.5, seed=4)
    w = _random_image_weights(7, 6, seed=1, weight=1.2, connectivity=connectivity)
    assert torch.equal(G.icm(u, w, 3).labels, _icm_loop(u, w, 3))


@pytest.mark.parametrize("connectivity", [4, 8])
def test_checkerboard_mean_field_equals_the_loop(connectivity):
    u, _ = _noisy(C=3, H=5, W=6, noise=1.0, seed=2)
    u = u.double()
    w = G.potts_pairwise((5, 6), 0.7, connectivity=connectivity, dtype=torch.float64)
    torch.testing.assert_close(G.mean_field_grid(u, w, 2).q, _mean_field_loop(u, w, 2))


def test_diagonal_edges_weigh_one_over_sqrt2():
    w = G.potts_pairwise((3, 3), 2.0, connectivity=8)
    torch.testing.assert_close(w[:, 0, 1], torch.tensor([2.0, 2.0, 2 / 2**0.5, 2 / 2**0.5]))
    c = G.contrast_weights(np.full((3, 3, 3), 0.5), connectivity=8)        # default w = 1
    torch.testing.assert_close(c[:, 0, 1], torch.tensor([1.0, 1.0, 2**-0.5, 2**-0.5]))
    c = G.contrast_weights(np.full((3, 3, 3), 0.5), 0.5, connectivity=8)  # 0 <= w < 1 is fine
    torch.testing.assert_close(c[:, 0, 1], torch.tensor([0.5, 0.5, 0.5**1.5, 0.5**1.5]))


def test_contrast_weights_rejects_an_empty_image():
    with pytest.raises(ValueError, match="H, W >= 1"):
        G.contrast_weights(np.zeros((0, 3, 3)))


def test_alpha_expansion_default_cycles():
    import inspect
    assert inspect.signature(G.alpha_expansion).parameters["max_cycles"].default == 5
    assert "default 5" in G.alpha_expansion.__doc__


# Found by a longer run of tests/test_properties.py (issue 13).
def test_potts_pairwise_shape_as_a_tensor():
    ref = G.potts_pairwise((3, 4))
    assert torch.equal(G.potts_pairwise(torch.tensor([3, 4])), ref)
    with pytest.raises(TypeError, match=r"^shape must be a pair of ints \(H, W\)"):
        G.potts_pairwise(torch.tensor(1.0))            # was "len() of a 0-d tensor"
    with pytest.raises(TypeError, match=r"^shape\[0\] must be an integer"):
        G.potts_pairwise(torch.tensor([3.0, 4.0]))


def test_contrast_weights_refuse_colours_that_overflow():
    # found by tests/test_properties.py (issue 13): a value of 1e30 gave NaN weights
    image = torch.rand(2, 3, 3, dtype=torch.float64)
    image[0, 0, 0] = 1e30
    with pytest.raises(ValueError, match=r"^image values are too large for the contrast term"):
        G.contrast_weights(image)
    image[0, 0, 0] = 1e6                                 # large but fine: finite weights
    assert torch.isfinite(G.contrast_weights(image)).all()


# ----------------------------------------------------------------------------- mutation survivors (2)
def test_zero_iterations_return_the_start():
    # ICM starts from the unary argmin, mean field from Q = softmax(-U); 0 sweeps change nothing
    u, _ = _noisy(C=3, H=5, W=6, noise=1.5, seed=3)
    w = G.potts_pairwise((5, 6), 0.8)
    start = u.argmin(0)
    r = G.icm(u, w, 0)
    assert torch.equal(r.labels, start)
    assert r.energy == [pytest.approx(float(G.energy(start, u, w)))]
    m = G.mean_field_grid(u, w, 0)
    torch.testing.assert_close(m.q, torch.softmax(-u, 0))
    assert torch.equal(m.labels, start) and len(m.energy) == len(m.free_energy) == 1
    # and one sweep from the default start is one sweep from an explicit init=argmin
    assert torch.equal(G.icm(u, w, 1).labels, G.icm(u, w, 1, init=start).labels)


def test_mean_field_default_is_ten_iterations():
    u, _ = _noisy(C=3, H=5, W=6, seed=5)
    w = G.potts_pairwise((5, 6), 0.8)
    default, ten = G.mean_field_grid(u, w), G.mean_field_grid(u, w, 10)
    assert len(default.energy) == len(default.free_energy) == 11     # the start and 10 steps
    assert torch.equal(default.q, ten.q) and default.free_energy == ten.free_energy


def test_mean_field_damping_must_be_below_one():
    u, w = torch.zeros(2, 3, 3), G.potts_pairwise((3, 3))
    for bad in (1, 1.0, 1.5, -0.01):
        with pytest.raises(ValueError, match=r"^damping must be >= 0 and < 1"):
            G.mean_field_grid(u, w, 2, damping=bad)
    q = G.mean_field_grid(u, w, 2, damping=0.999).q                  # just below 1 is fine
    torch.testing.assert_close(q, torch.full_like(q, 0.5))


def _single_flip_gains(y, u, w):
    """Largest energy decrease that changing one pixel's label gives (brute force)."""
    C, H, W = u.shape
    e = _energy_loop(y, u, w)
    best = -np.inf
    for i, j, c in itertools.product(range(H), range(W), range(C)):
        z = y.clone()
        z[i, j] = c
        best = max(best, e - _energy_loop(z, u, w))
    return best


@pytest.mark.parametrize("connectivity", [4, 8])
def test_icm_stops_at_a_fixed_point(connectivity):
    # it stops as soon as a sweep changes nothing, where no single pixel can improve
    u, _ = _noisy(C=3, H=5, W=5, noise=1.5, seed=6)
    w = _random_image_weights(5, 5, seed=2, weight=1.0, connectivity=connectivity)
    r = G.icm(u, w, 50)
    assert 2 <= len(r.energy) < 51 and r.energy[-1] == r.energy[-2]
    assert _single_flip_gains(r.labels, u, w) <= 1e-5
    again = G.icm(u, w, 5, init=r.labels)
    assert torch.equal(again.labels, r.labels) and len(again.energy) == 2


def _energies(ys, u, w):
    """Potts energy of each labelling in ys (N, H, W), numpy, by the definition."""
    C, H, W = u.shape
    e = np.take_along_axis(u[None], ys[:, None], 1)[:, 0].sum((1, 2))
    for k, (dy, dx) in enumerate(G.OFFSETS[: w.shape[0]]):
        for i, j in itertools.product(range(H), range(W)):
            if 0 <= i + dy < H and 0 <= j + dx < W:
                e = e + w[k, i, j] * (ys[:, i, j] != ys[:, i + dy, j + dx])
    return e


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("connectivity", [4, 8])
def test_each_expansion_move_is_the_best_one(seed, connectivity):
    # every move of the first cycle (alpha = 0, 1, 2) equals the best of all 2**12 expansions
    # (weak edges, so that the best moves are not all-or-nothing)
    g = torch.Generator().manual_seed(seed)
    C, H, W = 3, 3, 4
    u = torch.rand(C, H, W, generator=g, dtype=torch.float64)
    w = G.contrast_weights(torch.rand(H, W, 3, generator=g), 0.2, connectivity=connectivity).double()
    init = torch.randint(0, C, (H, W), generator=g)
    hist = G.alpha_expansion(u, w, max_cycles=1, init=init).energy
    un, wn, y = u.numpy(), w.numpy(), init.numpy()
    moves = np.array(list(itertools.product([False, True], repeat=H * W))).reshape(-1, H, W)
    e = _energies(y[None], un, wn)[0]
    assert hist[0] == pytest.approx(e, abs=1e-12)
    for alpha in range(C):
        cands = np.where(moves, alpha, y[None])
        energies = _energies(cands, un, wn)
        if energies.min() < e - 1e-9 * (1 + abs(e)):
            y, e = cands[energies.argmin()], energies.min()
        assert hist[alpha + 1] == pytest.approx(e, abs=1e-12)


def test_expansion_takes_a_move_only_if_it_gains_more_than_the_tolerance():
    # a move must lower the energy by more than 1e-9 (1 + |E|), so that rounding cannot cycle
    w = G.potts_pairwise((1, 1), dtype=torch.float64)
    init = torch.zeros(1, 1, dtype=torch.long)
    for gain, taken in ((1e-9, False), (2e-9, True)):              # from E = 0
        u = torch.tensor([[[0.0]], [[-gain]]], dtype=torch.float64)
        r = G.alpha_expansion(u, w, init=init)
        assert int(r.labels) == int(taken) and r.final_energy == (-gain if taken else 0.0)
