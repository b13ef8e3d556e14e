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
distinct simplex, far fewer than ``N (d + 1)``, are sorted into vertices. The
splat matrix (vertices x points) is then laid out from the simplex groups
without sorting the ``N (d + 1)`` point-vertex pairs.

References
----------
A. Adams, J. Baek, M. A. Davis, "Fast High-Dimensional Filtering Using the
Permutohedral Lattice", Eurographics 2010. doi:10.1111/j.1467-8659.2009.01645.x
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

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
#: Vertex keys are packed into one int64 (mixed radix); at most this many bits.
_MAX_CODE_BITS = 62


def _check_features(features) -> Tensor:
    f = float_tensor(features, "features", ndim=2, layout="(N, d) with N, d >= 1")
    if f.shape[0] < 1 or f.shape[1] < 1:
        raise ValueError(f"features must have shape (N, d) with N, d >= 1, got shape "
                         f"{tuple(f.shape)}")
    return f


def _mixed_radix(lo: Tensor, hi: Tensor, what: str, extra_bits: float = 0.0) -> list[int]:
    """Multipliers packing integer coordinates in [lo, hi] into one int64, or a clear error."""
    radix = (hi - lo + 1).tolist()
    bits = sum(math.log2(r) for r in radix) + extra_bits
    if bits > _MAX_CODE_BITS:
        raise ValueError(
            f"the lattice cannot index these features: {what} of {len(radix)} coordinates "
            f"spanning {radix} lattice steps need {bits:.0f} bits, more than the "
            f"{_MAX_CODE_BITS} of an int64 key; use fewer feature dimensions (the count "
            f"matters most: the key grows with the spread to the power d) or a smaller spread "
            f"(larger standard deviations)")
    mult = [1] * len(radix)
    for k in range(len(radix) - 2, -1, -1):
        mult[k] = mult[k + 1] * radix[k + 1]
    return mult


def _ranks(diff: Tensor) -> Tensor:
    """Rank (Tensor[N, D] int64) of each coordinate in descending order, ties: lower index first.

    pydensecrf's double loop over coordinate pairs, one vectorised comparison per pair.
    """
    N, D = diff.shape
    cols = diff.T.contiguous()                                         # (D, N)
    rank = torch.zeros(D, N, dtype=torch.int64, device=diff.device)
    for i in range(D - 1):
        for j in range(i + 1, D):
            below = cols[i] < cols[j]                                  # i ranks after j
            rank[i] += below
            rank[j] += ~below
    return rank.T


def _blur(lat: Tensor, neighbours: Sequence[tuple[Tensor, Tensor]], reverse: bool) -> Tensor:
    """Convolve lattice values (Tensor[M+1, C]) with [1/2, 1, 1/2] along every direction."""
    for n1, n2 in (reversed(neighbours) if reverse else neighbours):
        blurred = lat.index_select(0, n1)
        blurred += lat.index_select(0, n2)
        blurred *= 0.5
        blurred += lat
        lat = blurred
    return lat


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

        elevated = self.elevate(f)                                       # (N, D)
        peak = float(elevated.abs().max())
        if peak >= _MAX_COORDINATE:
            raise ValueError(
                f"features span too large a range for the lattice: their elevated coordinates "
                f"reach {peak:.3g}, and float32 lattice keys must stay below {_MAX_COORDINATE} "
                f"(about {_MAX_COORDINATE / (math.sqrt(2 / 3) * D):.0f} standard deviations); "
                f"divide the features by larger standard deviations")

        # Closest remainder-0 point: each coordinate rounded to a multiple of D (ties down).
        v = elevated / D
        up = torch.ceil(v).mul_(D)
        down = torch.floor(v).mul_(D)
        rem0 = torch.where(up - elevated < elevated - down, up, down)    # (N, D)
        coord_sum = (rem0 / D).sum(1).round().to(torch.int64)             # (N,)

        # Rank of every coordinate of the residual; bring the point back onto the plane when
        # the rounded coordinates do not sum to 0 (ranks out of 0..d wrap around).
        rank = _ranks(elevated - rem0) + coord_sum[:, None]
        wrap = (rank < 0).to(torch.int64) - (rank > d).to(torch.int64)  # +1 / -1 / 0
        rank += D * wrap
        rem0 += D * wrap.to(rem0.dtype)

        # Barycentric coordinates (p. 10).
        w = (elevated - rem0) / D                                        # (N, D)
        bary = torch.zeros(N, D + 1, device=dev, dtype=torch.float32)
        bary.scatter_add_(1, d - rank, w)
        bary.scatter_add_(1, d - rank + 1, -w)
        bary[:, 0] += 1.0 + bary[:, D]
        bary = bary[:, :D].contiguous()                                  # (N, D)

        # 1. Group the points by simplex: key = (remainder-0 corner, coordinate order). The
        # last coordinate of the corner is implied (the coordinates sum to 0).
        quot = (rem0[:, :d] / D).round().to(torch.int64)                 # (N, d)
        q_lo = quot.amin(0)
        q_mult = _mixed_radix(q_lo, quot.amax(0), "simplex keys", D * math.log2(D))
        rank_mult = D ** torch.arange(D, device=dev, dtype=torch.int64)
        skey = ((quot - q_lo) * torch.tensor(q_mult, device=dev)).sum(1) * D**D + \
            (rank * rank_mult).sum(1)                                    # (N,)
        sorted_keys, perm = torch.sort(skey, stable=True)               # points by simplex
        first = torch.ones(N, dtype=torch.bool, device=dev)
        first[1:] = sorted_keys[1:] != sorted_keys[:-1]
        starts = first.nonzero().squeeze(1)                              # (S,) first point
        S = starts.numel()
        counts = torch.diff(starts, append=starts.new_tensor([N]))      # (S,) points each
        simplex = torch.empty_like(perm).scatter_(0, perm, first.cumsum(0) - 1)  # (N,)
        rep = perm[starts]                                               # (S,) one point each

        # 2. The D corners of every simplex: key_r = rem0 + canonical[r, rank] with
        # canonical[r, k] = r - D [k > d - r], each encoded as one int64 in mixed radix,
        # code = sum_i (key_i - lo_i) * mult_i, computed without materialising the keys.
        rem0_i = rem0[rep].round().to(torch.int64)                       # (S, D)
        rank_s = rank[rep]                                               # (S, D)
        lo = quot.amin(0) * D - 2 * D                                    # room for corners
        hi = quot.amax(0) * D + 2 * D                                    # and blur neighbours
        mult = _mixed_radix(lo, hi, "vertex keys")
        self._lo, self._radix = lo, (hi - lo + 1).tolist()
        self._mult = torch.tensor(mult, device=dev, dtype=torch.int64)
        mult_t = torch.cat([self._mult, self._mult.new_zeros(1)])        # (D,) last coord: 0
        base = ((rem0_i[:, :d] - lo) * self._mult).sum(1)                # (S,)
        by_rank = torch.zeros(S, D, device=dev, dtype=torch.int64).scatter_(
            1, rank_s, mult_t.expand(S, D))                              # mult of the coord ranked k
        # above[:, r] = sum of mult over coords with rank > d - r (suffix sums over ranks)
        rev = by_rank.flip(1).cumsum(1)                                  # rev[:, m] = sum_{k >= d-m}
        above = torch.cat([by_rank.new_zeros(S, 1), rev[:, :d]], 1)      # r=0: none; r: k >= d-r+1
        r = torch.arange(D, device=dev, dtype=torch.int64)
        total = sum(mult)
        codes = base[:, None] + r * total - D * above                    # (S, D)
        uniq, corner = torch.unique(codes.reshape(-1), return_inverse=True)
        corner = corner.reshape(S, D)                                    # vertex of each corner
        self._codes = uniq                                               # (M,) sorted
        self.num_vertices = M = uniq.numel()
        self.num_simplices = S
        self.offsets = corner[simplex]                                   # (N, D) vertex indices
        self.barycentric = bary                                          # (N, D) weights

        # Blur neighbours along direction j: key - 1 everywhere except key_j + d (n1), and
        # key + 1 except key_j - d (n2); for j = d only the implied coordinate moves.
        # Missing vertices point at the extra zero row M.
        self._neighbours = []
        for j in range(D):
            shift = D * mult[j] if j < d else 0
            self._neighbours.append((self._lookup(uniq, uniq - total + shift),
                                     self._lookup(uniq, uniq + total - shift)))

        # 3. Splat (M+1 x N): row v lists the points of every simplex with a corner at v. The
        # (simplex, corner) pairs are sorted by vertex (S*D keys, not N*D), and each pair
        # expands to its simplex's run of points in `perm`. Row/column M is the always-zero
        # target of missing blur neighbours.
        pair_vertex, pair = torch.sort(corner.reshape(-1), stable=True)  # (S*D,)
        pair_simplex, pair_corner = pair // D, pair % D
        run = counts[pair_simplex]                                       # (S*D,) points per pair
        row_nnz = torch.zeros(M + 1, dtype=torch.int64, device=dev).index_add_(0, pair_vertex, run)
        crow = torch.cat([row_nnz.new_zeros(1), row_nnz.cumsum(0)])
        shift = starts[pair_simplex] - (run.cumsum(0) - run)            # run start - nnz before
        pos = torch.repeat_interleave(shift, run) + torch.arange(N * D, device=dev)
        point = perm[pos]                                                # (N*D,) column indices
        weight = bary.reshape(-1)[point * D + torch.repeat_interleave(pair_corner, run)]
        self._splat = {torch.float32: _csr(crow, point, weight, (M + 1, N))}
        # Slice (N x M+1): row i reads the D corners of its simplex (columns sorted per row).
        alpha = 1.0 / (1.0 + 2.0 ** (-d))
        sorted_corner, order = corner.sort(1)                            # (S, D)
        step = torch.arange(0, N * D + 1, D, device=dev)
        self._slice = {torch.float32: _csr(step, sorted_corner[simplex].reshape(-1),
                                           bary.gather(1, order[simplex]).reshape(-1) * alpha,
                                           (N, M + 1))}

    def _operators(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """Splat and slice matrices in ``dtype`` (float32 or float64; converted once)."""
        dtype = _compute_dtype(dtype)
        if dtype not in self._splat:
            self._splat[dtype] = self._splat[torch.float32].to(dtype)
            self._slice[dtype] = self._slice[torch.float32].to(dtype)
        return self._splat[dtype], self._slice[dtype]

    @staticmethod
    def elevate(features: Tensor) -> Tensor:
        """Embed features (Tensor[N, d]) in the plane ``sum(x) = 0`` of R^{d+1}: (Tensor[N, d+1]).

        This is ``E f`` of Adams et al. (p. 5), scaled by ``sqrt(2/3) (d + 1)`` so that the
        lattice's blur approximates a Gaussian of standard deviation 1 in feature space. The
        lattice vertices are the points of this plane whose coordinates are all congruent
        modulo ``d + 1``.
        """
        N, d = features.shape
        f = features.to(torch.float32)
        inv_std = math.sqrt(2.0 / 3.0) * (d + 1)
        i = torch.arange(d, device=f.device, dtype=torch.float32)
        cf = f * (inv_std / torch.sqrt((i + 1) * (i + 2)))              # (N, d)
        suffix = cf.flip(1).cumsum(1).flip(1)                            # sum_{i >= k} cf_i
        tail = torch.cat([suffix[:, 1:], suffix.new_zeros(N, 1)], 1)     # sum_{i >= j} cf_i, j=1..d
        j = torch.arange(1, d + 1, device=f.device, dtype=torch.float32)
        return torch.cat([suffix[:, :1], tail - j * cf], 1)

    def vertices(self) -> Tensor:
        """Integer coordinates (Tensor[M, d+1], int64) of the lattice vertices, in the elevated
        space of :meth:`elevate`, in the order used by :attr:`offsets`."""
        d = self.dim
        keys = [(self._codes // self._mult[k]) % self._radix[k] + self._lo[k] for k in range(d)]
        keys = torch.stack(keys, 1)
        return torch.cat([keys, -keys.sum(1, keepdim=True)], 1)

    @staticmethod
    def _lookup(uniq: Tensor, codes: Tensor) -> Tensor:
        """Index of each code (M,) among the sorted vertex codes (M when absent), plus a last M."""
        M = uniq.numel()
        idx = torch.searchsorted(uniq, codes).clamp_max(M - 1)
        idx = torch.where(uniq[idx] == codes, idx, torch.full_like(idx, M))
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
        splat, slice_ = self._operators(x.dtype)
        lat = splat @ x.to(splat.dtype).contiguous()                     # (M+1, C); row M is 0
        return (slice_ @ _blur(lat, self._neighbours, reverse)).to(x.dtype)

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
        crows, cols, vals, s_cols, s_vals = [], [], [], [], []
        row_base = nnz_base = 0
        for lat, a, b in zip(lattices, pre, post):
            sp, sl = lat._operators(self.dtype)
            crows.append(sp.crow_indices()[(1 if crows else 0):] + nnz_base)
            cols.append(sp.col_indices())
            vals.append(sp.values() if a is None else sp.values() * a.to(self.dtype)[sp.col_indices()])
            D = lat.dim + 1
            s_cols.append(sl.col_indices().reshape(N, D) + row_base)
            s_vals.append(sl.values().reshape(N, D) if b is None else
                          sl.values().reshape(N, D) * b.to(self.dtype)[:, None])
            row_base += lat.num_vertices + 1
            nnz_base += sp.values().numel()
        s_cols, s_vals = torch.cat(s_cols, 1), torch.cat(s_vals, 1)     # (N, sum D_k)
        per_row = s_cols.shape[1]
        self._splat = _csr(torch.cat(crows), torch.cat(cols), torch.cat(vals), (row_base, N))
        step = torch.arange(0, N * per_row + 1, per_row, device=dev)
        self._slice = _csr(step, s_cols.reshape(-1), s_vals.reshape(-1), (N, row_base))
        # Blur direction j of every lattice; a lattice with fewer directions maps each vertex
        # to its zero row (the blur is then the identity there).
        self._neighbours = []
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
            self._neighbours.append((torch.cat(n1s), torch.cat(n2s)))

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
