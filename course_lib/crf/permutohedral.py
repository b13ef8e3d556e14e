"""The permutohedral lattice: fast high-dimensional Gaussian filtering in torch.

Gaussian filtering of ``N`` points with ``d``-dimensional features,

    out_i = sum_j exp(-|f_i - f_j|^2 / 2) * v_j ,

costs ``O(N^2)`` when done naively. Adams, Baek and Davis (2010) embed the
features in the *permutohedral lattice* (the lattice A*_d, whose cells are
simplices) and replace the sum by three cheap steps:

1. **splat**: every point spreads its value onto the ``d + 1`` vertices of the
   simplex that contains it, with barycentric weights;
2. **blur**: along each of the ``d + 1`` lattice directions, every vertex is
   convolved with the kernel ``[1/2, 1, 1/2]`` of its two neighbours;
3. **slice**: every point reads the blurred values back from its ``d + 1``
   vertices with the same barycentric weights.

The cost is ``O(N (d + 1) C)``. The lattice (vertices, weights, neighbours)
depends only on the features, so it is built once by :class:`Permutohedral`
and then filters any number of value arrays ``(N, C)``.

The construction follows Krähenbühl's ``permutohedral.cpp`` (shipped with
pydensecrf) step by step, including its feature scale
``sqrt(2/3) (d + 1)`` and its final constant ``alpha = 1 / (1 + 2^-d)``, so
that dense CRF results match pydensecrf. The hash table of the C++ code is
replaced by sorting integer-encoded keys, and the neighbour look-up by
``torch.searchsorted``; everything runs on the device of the features (CPU or
CUDA). Sorting is what costs, so it is done on as few keys as possible: points
are first grouped by their *simplex* (one key per point: the remainder-0 corner
and the ordering of the coordinates), and only the ``d + 1`` corners of each
distinct simplex, far fewer than ``N (d + 1)``, are sorted into vertices. A
vertex key is coded by its remainder ``r`` modulo ``d + 1`` and the quotients
``(key - r) / (d + 1)``, so that keys fit in 32 bits (half the sorting work of
64) for images of ordinary size. The splat matrix (vertices x points) is then
laid out from the simplex groups without sorting the ``N (d + 1)`` point-vertex
pairs.

On the CPU the same lattice is built by compiled loops (:mod:`._lattice_native`, numba),
as ``permutohedral.cpp`` builds it: one pass over the points finds each simplex, and a hash
table numbers the corners as they come, counting each vertex's points and summing their
weights (the splat of ones, which normalises the filter). Both constructions give the same
vertices, corners, weights and neighbours (the vertices numbered in another order); the
tests compare them. Without numba, or on CUDA, the torch operations run.

References
----------
A. Adams, J. Baek, M. A. Davis, "Fast High-Dimensional Filtering Using the
Permutohedral Lattice", Eurographics 2010. doi:10.1111/j.1467-8659.2009.01645.x
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from .._checks import as_tensor, check_bool, check_float_dtype, check_int, float_tensor

__all__ = ["Permutohedral", "PermutohedralSum", "permutohedral_filter", "gaussian_filter_exact"]

#: Largest |elevated coordinate|: pydensecrf keeps lattice keys in 16-bit integers, and float32
#: coordinates beyond it lose the precision the barycentric weights need.
_MAX_COORDINATE = 2**15
#: Largest squared distance from the centroid in exact filtering (float64 keeps distances of
#: nearby points to about 1e-4 there).
_MAX_EXACT_SQUARED = 1e12
#: Simplex and vertex keys are packed into one integer (mixed radix; int32 when they fit,
#: else int64); at most this many bits.
_MAX_CODE_BITS = 62


#: Build lattices on the CPU with the compiled loop of :mod:`._lattice_native` when numba is
#: installed (tests switch it off to compare with the torch construction).
_NATIVE = True


def _use_native(device: torch.device) -> bool:
    if not _NATIVE or device.type != "cpu":
        return False
    try:
        from . import _lattice_native  # noqa: F401
    except ImportError:                                                 # numba missing
        return False
    except Exception as err:          # e.g. numba found no writable folder for its cache
        warnings.warn(f"course_lib builds lattices with torch operations (slower): the "
                      f"compiled construction cannot be loaded ({type(err).__name__}: {err})",
                      RuntimeWarning, stacklevel=3)
        return False
    return True


def _check_features(features) -> Tensor:
    f = float_tensor(features, "features", ndim=2, layout="(N, d) with N, d >= 1")
    if f.shape[0] < 1 or f.shape[1] < 1:
        raise ValueError(f"features must have shape (N, d) with N, d >= 1, got shape "
                         f"{tuple(f.shape)}")
    return f


def _mixed_radix(lo: Tensor, hi: Tensor, what: str, extra_bits: float = 0.0) -> list[int]:
    """Multipliers packing integer coordinates in [lo, hi] into one int64, or a clear error."""
    radix = [int(r) for r in (hi - lo + 1).tolist()]
    bits = sum(math.log2(r) for r in radix) + extra_bits
    if bits > _MAX_CODE_BITS:
        raise ValueError(
            f"the lattice cannot index these features: {what} of {len(radix)} coordinates "
            f"spanning {radix} lattice steps need {bits:.3g} bits, more than the "
            f"{_MAX_CODE_BITS} of an int64 key; use fewer feature dimensions (the count "
            f"matters most: the key grows with the spread to the power d) or a smaller spread "
            f"(larger standard deviations)")
    mult = [1] * len(radix)
    for k in range(len(radix) - 2, -1, -1):
        mult[k] = mult[k + 1] * radix[k + 1]
    return mult


def _ranks(rows: Tensor) -> Tensor:
    """Rank (Tensor[D, N] uint8) of each coordinate row in descending order, ties: lower row first.

    pydensecrf's double loop over coordinate pairs, one vectorised comparison per pair
    (uint8 counts: a rank is at most D - 1, and narrow integers are cheap to add).
    """
    D, N = rows.shape
    rank = torch.zeros(D, N, dtype=torch.uint8, device=rows.device)
    for i in range(D - 1):
        for j in range(i + 1, D):
            below = rows[i] < rows[j]                                  # i ranks after j
            rank[i] += below
            rank[j] += ~below
    return rank


def _blur(lat: Tensor, neighbours: Sequence[tuple[Tensor, Tensor]], reverse: bool) -> Tensor:
    """Convolve lattice values (Tensor[M+1, C]) with [1/2, 1, 1/2] along every direction."""
    for n1, n2 in (reversed(neighbours) if reverse else neighbours):
        blurred = lat.index_select(0, n1)
        blurred += lat.index_select(0, n2)
        blurred *= 0.5
        blurred += lat
        lat = blurred
    return lat


def _index_dtype(largest: int) -> torch.dtype:
    """int32 indices when they fit: sparse products read them faster than int64."""
    return torch.int32 if largest < 2**31 else torch.int64


def _code_dtype(size: int) -> torch.dtype:
    """int32 keys when all ``size`` codes fit: sorting them takes half the passes of int64."""
    return torch.int32 if size <= 2**31 else torch.int64


_NUMPY = {torch.float32: np.float32, torch.float64: np.float64, torch.int32: np.int32,
          torch.int64: np.int64}


def _arrays(*parts: tuple[tuple[int, ...], type]) -> list[np.ndarray]:
    """NumPy arrays of the given (shape, dtype), carved out of one allocation.

    NumPy asks Linux for huge pages for allocations of 4 MiB or more; a fresh 4 KiB page
    costs a fault on its first write, and the big arrays of a lattice would take thousands
    (a tenth of the construction time, and the faults of two threads queue on one lock).
    """
    sizes = [math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in parts]
    starts = [0]
    for size in sizes:
        starts.append(starts[-1] + -(-size // 64) * 64)                  # 64-byte aligned
    buffer = np.empty(starts[-1], np.uint8)
    return [buffer[start:start + size].view(dtype).reshape(shape)
            for (shape, dtype), start, size in zip(parts, starts, sizes)]


def _empty(shape, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``torch.empty``; on the CPU allocated by NumPy (huge pages, see :func:`_arrays`)."""
    if device.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    return torch.from_numpy(np.empty(shape, _NUMPY[dtype]))


def _csr(crow: Tensor, col: Tensor, val: Tensor, shape: tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                                # "CSR support is in beta"
        return torch.sparse_csr_tensor(crow, col, val, shape)


def _check_values(values, N: int, device) -> Tensor:
    v = as_tensor(values, "values")
    if v.ndim != 2 or v.shape[0] != N:
        raise ValueError(f"values must have shape (N={N}, C), got {tuple(v.shape)}")
    v = float_tensor(v, "values")
    if v.device != device:
        raise ValueError(f"values must be on {device}, got {v.device}")
    return v


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


class Permutohedral:
    """A permutohedral lattice built once for given features, reused to filter many values.

    Parameters
    ----------
    features (Tensor[N, d])
        Point positions, already divided by the filter's standard deviations
        (a Gaussian of standard deviation 1 in this space is approximated).
        Computation happens on ``features.device``.

    Attributes
    ----------
    num_points : int
        ``N``.
    dim : int
        ``d``.
    num_vertices : int
        ``M``, the number of lattice vertices touched by the points.
    num_simplices : int
        The number of distinct simplices that hold points.
    offsets (Tensor[N, d+1], int64)
        Index (into :meth:`vertices`) of the ``d + 1`` corners of each point's simplex.
    barycentric (Tensor[N, d+1], float32)
        The point's barycentric weights on those corners (non-negative, summing to 1);
        ``sum_r barycentric[:, r, None] * vertices()[offsets[:, r]] == elevate(features)``.

    Raises
    ------
    TypeError
        If ``features`` is not a floating-point tensor (or array).
    ValueError
        If it is not (N, d) with N, d >= 1, holds NaN or infinity, or spans a range the
        lattice cannot index (the message says which limit and what to change).

    Notes
    -----
    The result of :meth:`filter` approximates
    ``out_i = sum_j exp(-|f_i - f_j|^2 / 2) v_j`` *up to a global scale and a
    slightly different kernel shape*; the self term ``j = i`` is included.
    Normalise by ``filter(ones)`` to get a weighted average.

    Examples
    --------
    >>> f = torch.rand(100, 2) * 5
    >>> lat = Permutohedral(f)
    >>> out = lat.filter(torch.ones(100, 1))
    >>> out.shape
    torch.Size([100, 1])
    """

    def __init__(self, features: Tensor):
        f = _check_features(features).detach().to(torch.float32)
        N, d = f.shape
        D = d + 1
        self.num_points, self.dim = N, d
        self.device = dev = f.device
        # Work on coordinate rows (D, N): every per-coordinate step is then one contiguous op.
        el = self._elevate_rows(f)                                       # (D, N)
        low, high = torch.aminmax(el)                                    # (no |el| copy)
        peak = max(float(high), -float(low))
        if peak >= _MAX_COORDINATE:
            raise ValueError(
                f"features span too large a range for the lattice: their elevated coordinates "
                f"reach {peak:.3g}, and float32 lattice keys must stay below {_MAX_COORDINATE} "
                f"(about {_MAX_COORDINATE / (math.sqrt(2 / 3) * D):.0f} standard deviations); "
                f"divide the features by larger standard deviations")

        self._native = _use_native(dev)
        self._splat, self._slice = {}, {}                                # CSR, built when needed
        if self._native:
            offsets, bary, index = self._build_native(el)
        else:
            offsets, bary, index = self._build_torch(el)
        self._offsets, self._bary, self._index = offsets, bary, index   # (N, D) each
        self._alpha = 1.0 / (1.0 + 2.0 ** (-d))

    def _build_native(self, el: Tensor) -> tuple[Tensor, Tensor, torch.dtype]:
        """The lattice from the elevated rows (D, N) by :mod:`._lattice_native` (CPU)."""
        from . import _lattice_native as native
        D, N = el.shape
        d = D - 1
        # one allocation for the temporaries, one for what the lattice keeps (see _arrays)
        quot, top = _arrays(((d, N), np.int32), ((D, N), np.int8))
        index = _index_dtype(N * D + 1)                                  # (M <= N D)
        bary, offsets = _arrays(((N, D), np.float32), ((N, D), _NUMPY[index]))
        native.simplices(el.contiguous().numpy(), quot, top, bary)
        q_lo, q_hi = torch.from_numpy(quot.min(1)).long(), torch.from_numpy(quot.max(1)).long()
        # the torch path's limits, so that both accept the same features
        _mixed_radix(q_lo, q_hi, "simplex keys", d * math.log2(D))
        q_lo, q_hi = q_lo - 2, q_hi + 2                                  # room for corners
        m = _mixed_radix(q_lo, q_hi, "vertex keys", math.log2(D))       # and blur neighbours
        code_size = D * m[0] * int(q_hi[0] - q_lo[0] + 1)                # codes in [0, size)
        self._lo, self._radix = q_lo, (q_hi - q_lo + 1).tolist()
        self._mult = torch.tensor(m, dtype=torch.int64)
        m_np = self._mult.numpy()
        self._num_simplices = None                                       # counted if asked
        arrival, counts, mass, table, bits = native.vertex_ids(quot, top, bary, q_lo.numpy(),
                                                                m_np, offsets)
        self._counts, self._mass = counts, mass                          # per vertex
        self._codes = torch.from_numpy(arrival).to(_code_dtype(code_size))
        self.num_vertices = arrival.size
        n1, n2 = native.neighbours(arrival, table, bits, m_np, code_size)
        n1, n2 = torch.from_numpy(n1), torch.from_numpy(n2)
        self._neighbours = [(n1[j], n2[j]) for j in range(D)]
        return torch.from_numpy(offsets), torch.from_numpy(bary), index

    def _build_torch(self, el: Tensor) -> tuple[Tensor, Tensor, torch.dtype]:
        """The lattice from the elevated rows (D, N) by whole-tensor torch operations."""
        D, N = el.shape
        d = D - 1
        dev = el.device
        # Closest remainder-0 point: each coordinate rounded to a multiple of D (ties down).
        v = el / D
        up = torch.ceil(v).mul_(D)
        down = v.floor_().mul_(D)
        rem0 = torch.where((up - el) < (el - down), up, down)            # (D, N)
        coord_sum = rem0.sum(0).div_(D).round_()                          # (N,)

        # Rank of every coordinate of the residual; bring the point back onto the plane when
        # the rounded coordinates do not sum to 0: rank + coord_sum, wrapped around into 0..d
        # (in uint8: p = rank + (coord_sum mod D) is below 2 D; wrapping subtracts D when
        # p >= D) and rem0 moved by D for every wrap (+D when coord_sum < 0, -D when p >= D).
        # The elevated coordinates sum to 0, so |coord_sum| <= D / 2: one wrap at most.
        rank = _ranks(el - rem0)                                          # (D, N) uint8
        negative = coord_sum < 0
        rank += torch.remainder(coord_sum, D).to(torch.uint8)
        over = rank >= D
        rank -= over.to(torch.uint8).mul_(D)
        rem0 -= over.to(torch.float32).sub_(negative.to(torch.float32)).mul_(D)
        top = torch.sub(d, rank, out=torch.empty(D, N, dtype=torch.int64, device=dev))

        # Barycentric coordinates (p. 10): with ws[k] the residual of the coordinate ranked
        # d - k, b[k] = ws[k] - ws[k-1] and b[0] = ws[0] + 1 - ws[d]; laid out (N, D), the
        # layout of the slice matrix.
        w = (el - rem0).div_(D)                                          # (D, N)
        ws = torch.empty_like(w).scatter_(0, top, w)
        bary = torch.empty(N, D, device=dev, dtype=torch.float32)
        bary[:, 1:] = ws[1:].T - ws[:-1].T                               # (assignments: a wrong
        bary[:, 0] = ws[0] + (1.0 - ws[d])                               # size raises)

        # 1. Group the points by simplex: key = (remainder-0 corner, coordinate order). The
        # last coordinate of the corner is implied (the coordinates sum to 0), and so is the
        # rank of the last coordinate (the ranks are a permutation of 0..d).
        quot = rem0[:d].div_(D).round_()                                 # (d, N), integers
        q_lo, q_hi = quot.amin(1), quot.amax(1)
        q_mult = _mixed_radix(q_lo.long(), q_hi.long(), "simplex keys", d * math.log2(D))
        key_dtype = _code_dtype(q_mult[0] * int(q_hi[0] - q_lo[0] + 1) * D**d)
        quot -= q_lo[:, None]
        skey = torch.zeros(N, dtype=key_dtype, device=dev)
        for i in range(d):
            skey.add_(quot[i].to(key_dtype), alpha=q_mult[i] * D**d)
            skey.add_(top[i].to(key_dtype), alpha=D**i)
        sorted_keys, perm = torch.sort(skey, stable=True)               # points by simplex
        first = torch.ones(N, dtype=torch.bool, device=dev)
        first[1:] = sorted_keys[1:] != sorted_keys[:-1]
        starts = first.nonzero().squeeze(1)                              # (S,) first point
        S = starts.numel()
        counts = torch.diff(starts, append=starts.new_tensor([N]))      # (S,) points each
        simplex = torch.empty_like(perm).scatter_(0, perm, first.cumsum(0).sub_(1))  # (N,)
        rep = perm.index_select(0, starts)                               # (S,) one point each

        # 2. The D corners of every simplex. A vertex, all of whose coordinates are congruent
        # to r modulo D, is key_i = D q_i + r; it is encoded as one integer in mixed radix,
        # code = r + D sum_{i<d} (q_i - q_lo_i) m_i (the last coordinate is implied). Corner
        # r of a simplex is rem0 + canonical[r, rank] with canonical[r, k] = r - D [k > d - r]:
        # q_i = quot_i - [rank_i > d - r], computed without materialising the keys.
        q_lo, q_hi = q_lo.long() - 2, q_hi.long() + 2                    # room for corners
        m = _mixed_radix(q_lo, q_hi, "vertex keys", math.log2(D))       # and blur neighbours
        code_size = D * m[0] * int(q_hi[0] - q_lo[0] + 1)                # codes in [0, size)
        code_dtype = _code_dtype(code_size)
        self._lo, self._radix = q_lo, (q_hi - q_lo + 1).tolist()
        self._mult = torch.tensor(m, device=dev, dtype=torch.int64)
        quot_rep = quot.index_select(1, rep).to(code_dtype)             # (d, S), minus q_lo + 2
        base = torch.zeros(S, dtype=code_dtype, device=dev)
        for i in range(d):
            base.add_(quot_rep[i], alpha=m[i])
        base += 2 * sum(m)
        m_t = torch.tensor(m + [0], device=dev, dtype=code_dtype)       # last coord: 0
        # by_rank[k] = m of the coordinate ranked k; above[r] = sum of m over the coordinates
        # with rank > d - r (suffix sums over ranks)
        by_rank = torch.zeros(D, S, dtype=code_dtype, device=dev).scatter_(
            0, top.index_select(1, rep).neg_().add_(d), m_t[:, None].expand(D, S))
        codes = torch.zeros(D, S, dtype=code_dtype, device=dev)
        codes[1:] = by_rank.flip(0)[:d].cumsum(0)
        codes.neg_().add_(base).mul_(D)                                  # (D, S), row r
        codes += torch.arange(D, device=dev, dtype=code_dtype)[:, None]
        # One sort of the S*D corner codes gives the vertices (distinct codes) and the
        # corners grouped by vertex, which is what the splat matrix needs.
        sorted_codes, pair = torch.sort(codes.view(-1), stable=True)     # pair = r * S + s
        new = torch.ones_like(sorted_codes, dtype=torch.bool)
        new[1:] = sorted_codes[1:] != sorted_codes[:-1]
        pair_vertex = new.cumsum(0).sub_(1)                              # vertex of each pair
        uniq = sorted_codes[new]                                         # (M,) sorted codes
        corner = torch.empty_like(pair).scatter_(0, pair, pair_vertex).reshape(D, S)
        self._codes = uniq
        self.num_vertices = M = uniq.numel()
        self._num_simplices = S

        # Blur neighbours along direction j: key + 1 everywhere except key_j - d (n2), and
        # key - 1 except key_j + d (n1); for j = d only the implied coordinate moves. In
        # codes: r + 1 and q_j - 1, or, from r = d, r = 0 and q_i + 1 for i != j. Only n2
        # is searched: n1 is its inverse (n2(v) = w exactly when n1(w) = v). Missing
        # vertices point at the extra zero row M, which points at itself.
        step = torch.tensor([1 - D * mi for mi in m] + [1], device=dev, dtype=code_dtype)
        wrap = (uniq % D == d).to(code_dtype).mul_(D * (sum(m) - 1))     # (M,)
        n2 = self._lookup(uniq, (uniq[None] + step[:, None] + wrap).view(-1), code_size)
        n2 = torch.cat([n2[:-1].reshape(D, M), n2.new_full((D, 1), M)], 1)  # (D, M+1)
        n1 = torch.full_like(n2, M)
        n1.scatter_(1, n2[:, :M], torch.arange(M, device=dev).expand(D, M))
        n1[:, M] = M                                                     # absent -> zero row
        self._neighbours = [(n1[j], n2[j]) for j in range(D)]

        # 3. Splat (M+1 x N): row v lists the points of every simplex with a corner at v; the
        # pairs are already grouped by vertex, and each expands to its simplex's run of
        # points in `perm`. Row/column M is the always-zero target of missing neighbours.
        index = _index_dtype(max(N, M + 1) * D)
        pair = pair.to(index)
        pair_corner = pair.div(S, rounding_mode="floor")
        pair_simplex = pair - pair_corner * S
        run = counts.to(index).index_select(0, pair_simplex)             # (S*D,) points per pair
        row_nnz = torch.zeros(M + 1, dtype=index, device=dev).index_add_(0, pair_vertex, run)
        crow = torch.cat([row_nnz.new_zeros(1), row_nnz.cumsum(0, dtype=index)])
        # Entry e of pair p reads the sorted point starts[p's simplex] + (e - first entry of p)
        # and its weight at (that point, p's corner) of the weights sorted by simplex: runs
        # of consecutive numbers (steps 1 and D), written as cumulative sums of the step
        # with a jump at the first entry of every pair.
        first_entry = run.cumsum(0, dtype=index).sub_(run)               # (S*D,)
        start = starts.to(index).index_select(0, pair_simplex)
        jumps = torch.stack([start, start * D + pair_corner])            # (2, S*D) targets
        last = jumps[:, :-1] + torch.stack([run[:-1] - 1, (run[:-1] - 1) * D])
        jumps[:, 1:] -= last
        steps = torch.empty(2, N * D, dtype=index, device=dev)
        steps[0].fill_(1)
        steps[1].fill_(D)
        steps.index_copy_(1, first_entry.long(), jumps)
        position, weight_at = steps.cumsum(1, dtype=index)               # (N*D,) each
        point = perm.to(index).index_select(0, position)                 # column indices
        weight = bary.index_select(0, perm).view(-1).index_select(0, weight_at)
        self._splat[torch.float32] = _csr(crow, point, weight, (M + 1, N))
        # Slice (N x M+1): row i reads the D corners of its simplex, in corner order.
        offsets = corner.to(index).T.contiguous().index_select(0, simplex)  # (N, D)
        return offsets, bary, index

    @property
    def num_simplices(self) -> int:
        """The number of distinct simplices that hold points (counted when first asked)."""
        if self._num_simplices is None:
            # a simplex is the set of its corners: count the distinct rows of offsets
            self._num_simplices = int(torch.unique(self._offsets, dim=0).shape[0])
        return self._num_simplices

    @property
    def offsets(self) -> Tensor:
        """Index (Tensor[N, d+1], int64) into :meth:`vertices` of each point's simplex corners."""
        return self._offsets.long()

    @property
    def barycentric(self) -> Tensor:
        """The points' barycentric weights (Tensor[N, d+1], float32) on :attr:`offsets`."""
        return self._bary

    def _operators(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """Splat and slice matrices in ``dtype`` (float32 or float64; built and converted once).

        Splat (M+1 x N): row ``v`` lists the points with a corner at ``v``, in increasing
        order, weighted by their barycentric weights; row M, the target of missing
        neighbours, is empty. Slice (N x M+1): row ``i`` reads the corners of point ``i``
        with the same weights times ``alpha``.
        """
        dtype = _compute_dtype(dtype)
        N, D = self._bary.shape
        f32 = torch.float32
        if f32 not in self._splat:                   # lattices built by the compiled loops
            from . import _lattice_native as native
            M, index = self.num_vertices, self._index
            crow, points = torch.empty(M + 2, dtype=index), torch.empty(N * D, dtype=index)
            weights = torch.empty(N * D, dtype=f32)
            native.splat_rows(self._offsets.numpy(), self._bary.numpy(), self._counts,
                              np.ones(N, np.float32), 0, crow[:-1].numpy(), points.numpy(),
                              weights.numpy())
            crow[-1] = N * D
            self._splat[f32] = _csr(crow, points, weights, (M + 1, N))
        if f32 not in self._slice:
            step = torch.arange(0, N * D + 1, D, device=self.device, dtype=self._index)
            self._slice[f32] = _csr(step, self._offsets.view(-1),
                                    self._bary.mul(self._alpha).view(-1),
                                    (N, self.num_vertices + 1))
        if dtype not in self._splat:
            self._splat[dtype] = self._splat[f32].to(dtype)
        if dtype not in self._slice:
            self._slice[dtype] = self._slice[f32].to(dtype)
        return self._splat[dtype], self._slice[dtype]

    @staticmethod
    def elevate(features: Tensor) -> Tensor:
        """Embed features (Tensor[N, d]) in the plane ``sum(x) = 0`` of R^{d+1}: (Tensor[N, d+1]).

        This is ``E f`` of Adams et al. (p. 5), scaled by ``sqrt(2/3) (d + 1)`` so that the
        lattice's blur approximates a Gaussian of standard deviation 1 in feature space. The
        lattice vertices are the points of this plane whose coordinates are all congruent
        modulo ``d + 1``.
        """
        f = _check_features(features)
        return Permutohedral._elevate_rows(f).T

    @staticmethod
    def _elevate_rows(f: Tensor) -> Tensor:
        """:meth:`elevate` as coordinate rows (Tensor[d+1, N]), in pydensecrf's order of sums."""
        N, d = f.shape
        rows = f.T.to(torch.float32)                                      # (d, N)
        inv_std = math.sqrt(2.0 / 3.0) * (d + 1)
        i = torch.arange(d, device=f.device, dtype=torch.float32)
        scale = (inv_std / torch.sqrt((i + 1) * (i + 2))).tolist()
        el = _empty((d + 1, N), torch.float32, f.device)
        total = torch.zeros(N, device=f.device, dtype=torch.float32)
        for j in range(d, 0, -1):                       # el_j = sum_{i >= j} cf_i - j cf_{j-1}
            cf = rows[j - 1] * scale[j - 1]
            torch.sub(total, cf, alpha=j, out=el[j])
            total += cf
        el[0] = total
        return el

    def vertices(self) -> Tensor:
        """Integer coordinates (Tensor[M, d+1], int64) of the lattice vertices, in the elevated
        space of :meth:`elevate`, in the order used by :attr:`offsets`."""
        d, D = self.dim, self.dim + 1
        codes = self._codes.long()
        r, rest = codes % D, codes // D
        keys = [((rest // self._mult[k]) % self._radix[k] + self._lo[k]) * D + r
                for k in range(d)]
        keys = torch.stack(keys, 1)
        return torch.cat([keys, -keys.sum(1, keepdim=True)], 1)

    @staticmethod
    def _lookup(uniq: Tensor, codes: Tensor, size: int) -> Tensor:
        """Index of each code among the sorted vertex codes (M when absent), plus a last M.

        ``size`` bounds the codes (all in ``[0, size)``): when it is small, a table of
        ``size`` entries answers every look-up at once; else each is a binary search.
        """
        M = uniq.numel()
        if size <= 4 * codes.numel():
            table = torch.full((size + 1,), M, dtype=torch.int64, device=uniq.device)
            table[uniq.long()] = torch.arange(M, device=uniq.device)
            idx = table.index_select(0, codes.clamp(0, size))
            return torch.cat([idx, idx.new_full((1,), M)])
        idx = torch.searchsorted(uniq, codes).clamp_max_(M - 1)
        idx = torch.where(uniq.index_select(0, idx) == codes, idx, M)
        return torch.cat([idx, idx.new_full((1,), M)])                   # (M+1,): zero row -> itself

    def filter(self, values: Tensor, *, reverse: bool = False) -> Tensor:
        """Gaussian-filter ``values`` with the lattice: splat, blur, slice.

        Parameters
        ----------
        values (Tensor[N, C])
            One row of values per point, floating point, finite. float64 values are filtered
            in float64, everything else in float32 (the barycentric weights are float32).
        reverse : bool
            Blur the directions in reverse order (the transpose filter).

        Returns
        -------
        Tensor[N, C]
            The filtered values, in ``values.dtype``.
        """
        x = _check_values(values, self.num_points, self.device)
        reverse = check_bool(reverse, "reverse")
        dtype = _compute_dtype(x.dtype)
        if self._native and not x.requires_grad:     # compiled loops, no matrices to build
            from . import _lattice_native as native
            offsets, bary = self._offsets.numpy(), self._bary.numpy()
            lat = native.splat(offsets, bary, x.to(dtype).contiguous().numpy(),
                               self.num_vertices)
            return self._blur_slice(torch.from_numpy(lat), reverse).to(x.dtype)
        splat, slice_ = self._operators(dtype)
        lat = splat @ x.to(dtype).contiguous()                           # (M+1, C); row M is 0
        return (slice_ @ _blur(lat, self._neighbours, reverse)).to(x.dtype)

    def row_sums(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """``filter(ones(N, 1))``: each point's sum of kernel weights (Tensor[N, 1]), the
        numbers that normalise the filter.

        The same as :meth:`filter` of ones, but on the CPU the splat of ones comes from the
        construction, which summed every vertex's weights already (float32 only).
        """
        dtype = check_float_dtype(dtype)
        if not (self._native and _compute_dtype(dtype) == torch.float32):
            return self.filter(torch.ones(self.num_points, 1, dtype=dtype, device=self.device))
        lat = torch.zeros(self.num_vertices + 1, 1)
        lat[:-1, 0] = torch.from_numpy(self._mass)
        return self._blur_slice(lat, False).to(dtype)

    def _blur_slice(self, lat: Tensor, reverse: bool) -> Tensor:
        """Blur splatted values (Tensor[M+1, C]) and slice them back to the points (compiled)."""
        from . import _lattice_native as native
        lat = _blur(lat, self._neighbours, reverse).numpy()
        return torch.from_numpy(native.slice_(self._offsets.numpy(), self._bary.numpy(),
                                              np.float32(self._alpha), lat))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_points={self.num_points}, dim={self.dim}, "
                f"num_vertices={self.num_vertices}, device={self.device})")


class PermutohedralSum:
    """Several lattices over the same points, filtered as one linear operator.

    ``out = sum_k post_k * Slice_k Blur_k Splat_k (pre_k * values)``: the per-point scales
    ``pre_k`` and ``post_k`` are folded into the sparse splat and slice matrices, and the
    lattices are stacked, so that one splat, one blur pass and one slice serve every
    lattice (the dense CRF's two kernels, with their normalisations and weights).

    Parameters
    ----------
    lattices : sequence of Permutohedral
        Lattices built over the same ``N`` points (any feature dimensions), on one device.
    pre, post : sequence of Tensor[N], optional
        Per-point scales before the splat and after the slice of each lattice (default 1).
    dtype : torch.dtype
        float32 (default) or float64: the precision of the filtering.
    """

    def __init__(self, lattices: Sequence[Permutohedral], pre: Sequence[Tensor] | None = None,
                 post: Sequence[Tensor] | None = None, *, dtype: torch.dtype = torch.float32):
        if not isinstance(lattices, Sequence) or not lattices or \
                not all(isinstance(lat, Permutohedral) for lat in lattices):
            raise TypeError(f"lattices must be a non-empty sequence of Permutohedral, got "
                            f"{type(lattices).__name__}")
        lattices = list(lattices)
        dtype = check_float_dtype(dtype)
        N, dev = lattices[0].num_points, lattices[0].device
        if any(lat.num_points != N or lat.device != dev for lat in lattices):
            raise ValueError("lattices must be built over the same points (same N and device)")
        self.num_points, self.device, self.dtype = N, dev, _compute_dtype(dtype)

        def scales(given, name):
            if given is None:
                return [None] * len(lattices)
            if not isinstance(given, Sequence) or len(given) != len(lattices):
                raise ValueError(f"{name} must be a sequence of one Tensor[N] (or None) per "
                                 f"lattice ({len(lattices)}), got {type(given).__name__}")
            out = []
            for k, g in enumerate(given):
                if g is not None:
                    g = float_tensor(g, f"{name}[{k}]")
                    if g.shape != (N,) or g.device != dev:
                        raise ValueError(f"{name}[{k}] must have shape (N={N},) on {dev}, got "
                                         f"{tuple(g.shape)} on {g.device}")
                out.append(g)
            return out

        pre, post = scales(pre, "pre"), scales(post, "post")
        stack = _Stack(N, [lat.dim for lat in lattices], self.dtype, dev)
        for k, (lat, a, b) in enumerate(zip(lattices, pre, post)):
            stack.add(k, lat, a, b)
        stack.finish(self, lattices)

    @classmethod
    def _from_stack(cls, stack: _Stack, lattices: Sequence[Permutohedral]) -> PermutohedralSum:
        """The operator of a filled :class:`_Stack` (its lattices added, pre and post in)."""
        out = cls.__new__(cls)
        out.num_points, out.device, out.dtype = stack.N, stack.device, stack.dtype
        stack.finish(out, lattices)
        return out

    def filter(self, values: Tensor, *, reverse: bool = False) -> Tensor:
        """Apply the summed operator to ``values`` (Tensor[N, C]); returns Tensor[N, C]."""
        x = _check_values(values, self.num_points, self.device)
        return self._apply(x, check_bool(reverse, "reverse"))

    def _apply(self, x: Tensor, reverse: bool = False) -> Tensor:
        lat = self._splat @ x.to(self.dtype).contiguous()               # (sum M_k + K, C)
        return (self._slice @ _blur(lat, self._neighbours, reverse)).to(x.dtype)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_points={self.num_points}, "
                f"lattices={len(self._neighbours)}, dtype={self.dtype})")


class _Stack:
    """The arrays of a :class:`PermutohedralSum`, filled one lattice at a time.

    Lattice ``k``'s splat rows come after those of the lattices before it, and its slice
    columns beside theirs. Each :meth:`add` writes only its own parts, so lattices can be
    added from several threads: the dense CRF adds each kernel's lattice as soon as its
    normalisation is known, while the other kernel is still being built. The slice's
    vertex indices are moved down to the lattice's rows as they are written when the sizes
    of the lattices above are known by then, else by :meth:`finish`.
    """

    def __init__(self, N: int, dims: Sequence[int], dtype: torch.dtype, device: torch.device):
        self.N, self.dtype, self.device = N, dtype, device
        self.D = [d + 1 for d in dims]
        self.per_row = per_row = sum(self.D)
        # indices below N * per_row + K: points, entries, and rows (M <= N D per lattice)
        self.index = index = _index_dtype(N * per_row + len(dims))
        self.col, self.val = _empty(N * per_row, index, device), _empty(N * per_row, dtype, device)
        self.s_cols = _empty((N, per_row), index, device)
        self.s_vals = _empty((N, per_row), dtype, device)
        self.crows: list[Tensor | None] = [None] * len(dims)
        self.sizes: list[int | None] = [None] * len(dims)     # M of each lattice, once added
        self.row_base: list[int | None] = [None] * len(dims)  # None: columns not moved yet

    def add(self, k: int, lat: Permutohedral, pre: Tensor | None, post: Tensor | None) -> None:
        """Write lattice ``k``'s splat rows (weights times ``pre``) and slice columns
        (weights times ``post``); ``pre`` and ``post`` are Tensor[N] or None (ones)."""
        N, D, dtype = self.N, self.D[k], self.dtype
        nnz_base, col_base = N * sum(self.D[:k]), sum(self.D[:k])
        self.sizes[k] = lat.num_vertices
        before = self.sizes[:k]
        row_base = None if None in before else sum(M + 1 for M in before)
        col, val = self.col[nnz_base:nnz_base + N * D], self.val[nnz_base:nnz_base + N * D]
        columns = slice(col_base, col_base + D)
        if lat._native and _use_native(self.device):   # compiled loops, from the corners
            from . import _lattice_native as native
            ones = torch.ones(N, dtype=dtype)
            pre = (ones if pre is None else pre.detach().to(dtype)).contiguous()
            post = (ones if post is None else post.detach().to(dtype)).contiguous()
            crow = _empty(lat.num_vertices + 1, self.index, self.device)
            offsets, bary = lat._offsets.numpy(), lat._bary.numpy()
            native.splat_rows(offsets, bary, lat._counts, pre.numpy(), nnz_base, crow.numpy(),
                              col.numpy(), val.numpy())
            native.stack_slice(offsets, bary, np.float32(lat._alpha), post.numpy(),
                               row_base or 0, col_base, self.s_cols.numpy(),
                               self.s_vals.numpy())
            self.crows[k], self.row_base[k] = crow, row_base
            return
        sp, sl = lat._operators(dtype)
        self.crows[k] = sp.crow_indices()[:-1] + nnz_base
        sp_col = sp.col_indices()
        col.copy_(sp_col)
        if pre is None:
            val.copy_(sp.values())
        else:
            torch.mul(sp.values(), pre.to(dtype).index_select(0, sp_col), out=val)
        self.s_cols[:, columns] = sl.col_indices().view(N, D) + (row_base or 0)
        self.row_base[k] = row_base
        if post is None:
            self.s_vals[:, columns] = sl.values().view(N, D)
        else:
            self.s_vals[:, columns] = sl.values().view(N, D) * post.to(dtype)[:, None]

    def finish(self, out: PermutohedralSum, lattices: Sequence[Permutohedral]) -> None:
        """Move the slice columns that :meth:`add` could not yet move (a lattice added before
        those above it) to their rows; set ``out``'s operators."""
        N, dev, index = self.N, self.device, self.index
        row_base = col_base = 0
        for lat, D, moved in zip(lattices, self.D, self.row_base):
            if row_base and moved is None:
                self.s_cols[:, col_base:col_base + D] += row_base
            row_base += lat.num_vertices + 1
            col_base += D
        nnz = N * self.per_row
        crow = torch.cat([c.to(index) for c in self.crows] + [torch.full((1,), nnz, dtype=index,
                                                                          device=dev)])
        out._splat = _csr(crow, self.col, self.val, (row_base, N))
        step = torch.arange(0, nnz + 1, self.per_row, device=dev, dtype=index)
        out._slice = _csr(step, self.s_cols.view(-1), self.s_vals.view(-1), (N, row_base))
        # Blur direction j of every lattice; a lattice with fewer directions maps each vertex
        # to its zero row (the blur is then the identity there).
        out._neighbours = []
        for j in range(max(lat.dim for lat in lattices) + 1):
            n1s, n2s, base = [], [], 0
            for lat in lattices:
                M = lat.num_vertices
                if j <= lat.dim:
                    n1, n2 = lat._neighbours[j]
                else:
                    n1 = n2 = torch.full((M + 1,), M, device=dev, dtype=torch.int64)
                n1s.append(n1 + base)
                n2s.append(n2 + base)
                base += M + 1
            out._neighbours.append((torch.cat(n1s), torch.cat(n2s)))


def permutohedral_filter(features: Tensor, values: Tensor) -> Tensor:
    """Filter ``values`` (Tensor[N, C]) with a Gaussian over ``features`` (Tensor[N, d]).

    One-shot helper: builds a :class:`Permutohedral` lattice and filters once.
    """
    return Permutohedral(features).filter(values)


def gaussian_filter_exact(features: Tensor, values: Tensor, *, chunk: int = 2048) -> Tensor:
    """Brute-force Gaussian filter, ``out_i = sum_j exp(-|f_i - f_j|^2 / 2) v_j``: O(N^2).

    Parameters
    ----------
    features (Tensor[N, d])
        Point positions (already divided by the standard deviations).
    values (Tensor[N, C])
        Values to filter. The result has the dtype of ``values`` (use float64
        for a reference).
    chunk : int
        Rows of the kernel matrix computed at a time (bounds memory to ``chunk * N``).

    Returns
    -------
    Tensor[N, C]
        Includes the self term ``j = i`` (weight 1).
    """
    features = _check_features(features)
    values = _check_values(values, features.shape[0], features.device)
    chunk = check_int(chunk, "chunk", low=1)
    # Distances in float64 about the centroid: |f_i|^2 + |f_j|^2 - 2 f_i.f_j cancels, and
    # float32 would lose the self term (distance 0) of points far from the origin.
    f = features.to(torch.float64)
    f = f - f.mean(0)
    sq = (f * f).sum(1)
    if float(sq.max()) > _MAX_EXACT_SQUARED:
        raise ValueError(f"features spread too far for exact filtering: |f - mean|^2 reaches "
                         f"{float(sq.max()):.3g}, at most {_MAX_EXACT_SQUARED:.0e} keeps the "
                         f"distances exact in float64; divide them by larger standard deviations")
    out = values.new_empty(values.shape)
    for start in range(0, f.shape[0], chunk):
        fi = f[start:start + chunk]
        d2 = (sq[start:start + chunk, None] + sq[None, :] - 2 * fi @ f.T).clamp_min_(0)
        out[start:start + chunk] = torch.exp(-0.5 * d2).to(values.dtype) @ values
    return out
