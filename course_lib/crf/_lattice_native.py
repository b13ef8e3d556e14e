"""The permutohedral lattice built point by point with a hash table, compiled by numba (CPU).

:class:`~course_lib.crf.permutohedral.Permutohedral` builds its lattice with whole-tensor
torch operations, which run on any device but cost about a hundred passes over the points
(sorts, scatters, searches). On the CPU this module does the same construction the way
Krähenbühl's ``permutohedral.cpp`` does: one loop over the points, each finding its
simplex and entering the simplex's ``d + 1`` corners in a hash table. The arithmetic is
the torch path's, operation for operation in float32, so both paths give the same
lattice: the same vertices in the same order (sorted by code), the same corners and
barycentric weights, the same blur neighbours and the same splat matrix (its entries in
another order within a row, which changes sums in the last bit only).

Everything here is private; the functions take and return NumPy arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_EMPTY = np.int64(-1)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)         # Fibonacci hashing: code * 2^64 / phi
_BLOCK = 1024                                   # points per block in simplices()


@njit(cache=True, nogil=True)
def simplices(el, quot, top, bary):
    """Per point: remainder-0 quotients, ranks and barycentric weights (the torch path's steps).

    ``el`` is the elevated features as float32 rows (D, N). Writes ``quot`` (d, N) int32
    (the remainder-0 corner divided by D, its last coordinate implied), ``top`` (D, N) int8
    (``d - rank``) and ``bary`` (N, D) float32. Sums and quotients of multiples of D are
    exact in float32 here (coordinates below 2^15), so ``int`` rounds as torch's ``round``.
    The points go in blocks that stay in the cache, each step a loop along the block's
    points, which the compiler turns into vector instructions.
    """
    D, N = el.shape
    d = D - 1
    fD = np.float32(D)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    B = _BLOCK
    rem0 = np.empty((D, B), np.float32)
    res = np.empty((D, B), np.float32)
    total = np.empty(B, np.float32)
    rank = np.empty((D, B), np.int8)
    shift = np.empty(B, np.int8)           # rank + coord_sum, wrapped into 0..d
    move = np.empty(B, np.float32)         # +D when coord_sum < 0
    w = np.empty((D, B), np.float32)
    ws = np.empty(D, np.float32)
    for start in range(0, N, B):
        n = min(B, N - start)
        total[:n] = zero
        for i in range(D):                 # closest remainder-0 point (ties: down)
            for b in range(n):
                e = el[i, start + b]
                v = e / fD
                up = np.float32(np.ceil(v)) * fD
                down = np.float32(np.floor(v)) * fD
                r = up if (up - e) < (e - down) else down
                rem0[i, b] = r
                res[i, b] = e - r
                total[b] += r
        rank[:, :n] = 0                    # descending order of the residuals
        for i in range(d):
            for j in range(i + 1, D):
                for b in range(n):
                    below = np.int8(res[i, b] < res[j, b])            # i ranks after j
                    rank[i, b] += below
                    rank[j, b] += 1 - below
        for b in range(n):                 # |coord_sum| <= D / 2: one wrap at most
            coord_sum = np.int32(total[b] / fD)
            negative = coord_sum < 0
            shift[b] = coord_sum + D if negative else coord_sum
            move[b] = fD if negative else zero
        for i in range(D):
            for b in range(n):
                p = rank[i, b] + shift[b]
                over = p >= D
                r = rem0[i, b] + move[b]
                if over:
                    p -= D
                    r -= fD
                top[i, start + b] = d - p
                w[i, b] = (el[i, start + b] - r) / fD
                if i < d:
                    quot[i, start + b] = np.int32(r / fD)
        # barycentric coordinates: ws[t] = w of the coordinate with top t,
        # b[t] = ws[t] - ws[t-1], b[0] = ws[0] + (1 - ws[d])
        for b in range(n):
            k = start + b
            for i in range(D):
                ws[top[i, k]] = w[i, b]
            for t in range(1, D):
                bary[k, t] = ws[t] - ws[t - 1]
            bary[k, 0] = ws[0] + (one - ws[d])


@njit(cache=True, nogil=True)
def _slot(code, bits):
    return np.int64((np.uint64(code) * _GOLDEN) >> np.uint64(64 - bits))


@njit(cache=True, nogil=True)
def _grow(table, bits):
    """The table (pairs key, id) with twice the slots, every key re-entered."""
    bits += 1
    new = np.full(2 << bits, _EMPTY, np.int64)
    mask = (1 << bits) - 1
    for s in range(table.size // 2):
        c = table[2 * s]
        if c != _EMPTY:
            h = _slot(c, bits)
            while new[2 * h] != _EMPTY:
                h = (h + 1) & mask
            new[2 * h] = c
            new[2 * h + 1] = table[2 * s + 1]
    return new, bits


@njit(cache=True, nogil=True)
def _find(table, bits, code):
    """The id of ``code`` in the hash table, -1 when absent."""
    mask = (1 << bits) - 1
    h = _slot(code, bits)
    while True:
        c = table[2 * h]
        if c == code:
            return table[2 * h + 1]
        if c == _EMPTY:
            return np.int64(-1)
        h = (h + 1) & mask


@njit(cache=True, nogil=True)
def _enter(quot, top, bary, q_lo, m, ids, arrival, counts, mass, table, bits, k, M):
    """Enter the corners of the points from ``k`` on until the table would be half full.

    Corner ``r`` of a point has quotients ``q_i - [rank_i > d - r]`` and the code
    ``r + D sum_i (q_i - q_lo_i) m_i``: the subtracted ``m``'s are a suffix sum over the
    ranks. Every vertex counts its points and sums their weights (in point order).
    Returns the point reached and the number of distinct codes.
    """
    d, N = quot.shape
    D = d + 1
    mask = (1 << bits) - 1
    limit = 1 << (bits - 1)
    by_rank = np.zeros(D, np.int64)
    while k < N:
        if M + D > limit:
            return k, M
        base = np.int64(0)
        by_rank[d - top[d, k]] = 0                  # the implied coordinate's m is 0
        for i in range(d):
            base += (quot[i, k] - q_lo[i]) * m[i]
            by_rank[d - top[i, k]] = m[i]           # coordinate i's rank is d - top
        acc = np.int64(0)
        for r in range(D):
            if r > 0:
                acc += by_rank[D - r]
            code = r + D * (base - acc)
            h = _slot(code, bits)
            while True:
                c = table[2 * h]
                if c == code:
                    v = table[2 * h + 1]
                    break
                if c == _EMPTY:
                    table[2 * h] = code
                    table[2 * h + 1] = M
                    arrival[M] = code
                    counts[M] = 0
                    mass[M] = 0
                    v = M
                    M += 1
                    break
                h = (h + 1) & mask
            ids[k, r] = v
            counts[v] += 1
            mass[v] += bary[k, r]
        k += 1
    return k, M


@njit(cache=True, nogil=True)
def vertex_ids(quot, top, bary, q_lo, m, ids):
    """Number the lattice vertices in order of arrival: the corners of every point's simplex.

    ``quot``, ``top`` and ``bary`` come from :func:`simplices`; a vertex is coded as in the
    torch path, ``code = r + D sum_i (q_i - q_lo_i) m_i``, where ``q_lo`` includes the
    margin for corners and neighbours. Writes the vertex of each point's corner ``r`` to
    ``ids`` (N, D; int32 or int64). The hash table holds (code, id) pairs side by side, open
    addressing with linear probing, at most half full (it doubles when needed). Returns
    the codes in order of arrival (M,), each vertex's number of points (M,) and sum of
    their weights (M,) (the splat of ones, summed in point order), the table and its
    size ``bits`` (2^bits slots).
    """
    bits = np.int64(16)
    table = np.full(2 << bits, _EMPTY, np.int64)
    size = 1 << (bits - 1)
    arrival = np.empty(size, np.int64)
    counts = np.empty(size, np.int64)
    mass = np.empty(size, np.float32)
    k, M = _enter(quot, top, bary, q_lo, m, ids, arrival, counts, mass, table, bits,
                  np.int64(0), np.int64(0))
    while k < quot.shape[1]:
        table, bits = _grow(table, bits)
        size = 1 << (bits - 1)
        arrival, counts, mass = (_resized(arrival, size, M), _resized(counts, size, M),
                                 _resized(mass, size, M))
        k, M = _enter(quot, top, bary, q_lo, m, ids, arrival, counts, mass, table, bits, k, M)
    return arrival[:M].copy(), counts[:M].copy(), mass[:M].copy(), table, bits


@njit(cache=True, nogil=True)
def _resized(a, size, n):
    """A new array of ``size`` entries that starts with ``a[:n]``."""
    out = np.empty(size, a.dtype)
    out[:n] = a[:n]
    return out


@njit(cache=True, nogil=True)
def neighbours(codes, table, bits, m, code_size):
    """Blur neighbours (D, M+1) each: n2 = code + step[j] (+ the wrap from r = d), n1 its
    inverse; M (the zero row) when absent."""
    d = m.size
    D = d + 1
    M = codes.size
    base_m = np.int64(0)
    for i in range(d):
        base_m += m[i]
    n1 = np.full((D, M + 1), M, np.int64)
    n2 = np.full((D, M + 1), M, np.int64)
    wrap = D * (base_m - 1)
    for v in range(M):
        c = codes[v]
        w = wrap if c % D == d else 0
        for j in range(D):
            step = 1 if j == d else 1 - D * m[j]
            t = c + step + w
            if 0 <= t < code_size:
                u = _find(table, bits, t)
                if u >= 0:
                    n2[j, v] = u
                    n1[j, u] = v
    return n1, n2


@njit(cache=True, nogil=True)
def splat_rows(offsets, bary, counts, pre, nnz_base, crow, points, weights):
    """The splat matrix (M+1 x N) in CSR: a counting sort of the (point, corner) pairs by vertex.

    ``counts`` (M,) is the number of points of every vertex (from :func:`vertex_ids`).
    Writes the starts of the M+1 rows to ``crow`` (M+1,), shifted by ``nnz_base`` (the
    entries of lattices stacked above; the end of the last row, ``nnz_base + N D``, is the
    caller's to write), and ``points`` and ``weights`` (N D,): vertex ``v`` lists its
    points in increasing order, each with its barycentric weight on ``v`` times the
    point's ``pre`` scale (computed in the dtype of ``weights``).
    """
    N, D = offsets.shape
    M = counts.size
    fill = np.empty(M, np.int64)                    # next free entry of every row
    start = np.int64(0)
    for v in range(M):
        fill[v] = start
        crow[v] = start + nnz_base
        start += counts[v]
    crow[M] = start + nnz_base                        # the empty row M
    for k in range(N):
        p = pre[k]
        for r in range(D):
            v = offsets[k, r]
            e = fill[v]
            points[e] = k
            weights[e] = weights.dtype.type(bary[k, r]) * p
            fill[v] = e + 1


@njit(cache=True, nogil=True)
def stack_slice(offsets, bary, alpha, post, row_base, col_base, cols_out, vals_out):
    """Write one lattice's slice entries (N, D) into columns ``col_base...`` of stacked ones.

    The weight of corner ``r`` of point ``k`` is ``bary * alpha`` (in float32) times
    ``post[k]``; the vertex indices move down by ``row_base`` (the rows of the lattices
    above).
    """
    N, D = offsets.shape
    for k in range(N):
        p = post[k]
        for r in range(D):
            cols_out[k, col_base + r] = offsets[k, r] + row_base
            vals_out[k, col_base + r] = vals_out.dtype.type(bary[k, r] * alpha) * p


@njit(cache=True, nogil=True)
def splat(offsets, bary, x, M):
    """Splat values (N, C) onto the M vertices (and an empty row M): a scatter in point order."""
    N, D = offsets.shape
    C = x.shape[1]
    out = np.zeros((M + 1, C), x.dtype)
    for k in range(N):
        for r in range(D):
            v = offsets[k, r]
            w = x.dtype.type(bary[k, r])
            for c in range(C):
                out[v, c] += w * x[k, c]
    return out


@njit(cache=True, nogil=True)
def slice_(offsets, bary, alpha, lattice):
    """Read every point's value (N, C) back from its corners: weights ``bary * alpha``."""
    N, D = offsets.shape
    C = lattice.shape[1]
    out = np.zeros((N, C), lattice.dtype)
    for k in range(N):
        for r in range(D):
            v = offsets[k, r]
            w = lattice.dtype.type(bary[k, r] * alpha)
            for c in range(C):
                out[k, c] += w * lattice[v, c]
    return out
