"""Grid CRF: Potts energy on the 4- (or 8-) connected pixel grid, and its minimisers.

The energy of a labelling ``y`` (one label per pixel) is

.. math:: E(y) = \\sum_p U_p(y_p) + \\sum_{(p, q) \\in \\mathcal{N}} w_{pq} [y_p \\neq y_q]

with unary costs ``U`` (C, H, W) and one non-negative weight per grid edge.
Edge weights are stored as a tensor ``weights`` of shape (E, H, W): channel
``e`` holds the weight of the edge from pixel ``(y, x)`` to ``(y, x) + OFFSETS[e]``
(0 where that neighbour is outside the image). ``E = 2`` is the 4-connected
grid (right, down), ``E = 4`` adds the two diagonals (8-connected).

Minimisers: :func:`icm` (Besag 1986), :func:`mean_field_grid`, exact
:func:`graph_cut` for two labels and :func:`alpha_expansion` for many
(Boykov, Veksler & Zabih 2001). ICM and mean field run in torch on the device
of ``unary``; the graph cuts convert to numpy and run PyMaxflow on the CPU,
returning results on the input's device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import (
    as_tensor,
    check_choice,
    check_device,
    check_finite,
    check_float_dtype,
    check_int,
    check_iterations,
    check_real,
    check_size_pair,
    float_tensor,
    label_tensor,
)

__all__ = [
    "OFFSETS",
    "GridResult",
    "potts_pairwise",
    "contrast_weights",
    "energy",
    "free_energy",
    "icm",
    "mean_field_grid",
    "graph_cut",
    "alpha_expansion",
]

#: (dy, dx) of each edge channel: right, down, down-right, down-left
OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))


@dataclass(frozen=True, eq=False)
class GridResult:
    """What every grid minimiser returns: a labelling and the history of its energy.

    Attributes
    ----------
    labels : Tensor[H, W] (int64)
        The labelling found, on the unary's device.
    energy : list of float
        :func:`energy` of the labelling before the first step and after each step;
        ``energy[-1]`` is the energy of ``labels``.
    method : str
        ``"icm"``, ``"mean_field"``, ``"graph_cut"`` or ``"alpha_expansion"``.
    q : Tensor[C, H, W] or None
        Mean field's marginals (``labels == q.argmax(0)``); None for the other methods.
    free_energy : list of float or None
        Mean field's :func:`free_energy` history; None for the other methods.

    Notes
    -----
    Code written for the earlier tuple results keeps working: a result unpacks (and
    indexes) as that tuple, ``(labels, energy)`` for :func:`icm` and
    :func:`alpha_expansion`, ``(labels, final_energy)`` for :func:`graph_cut` and
    ``(q, labels, {"energy": ..., "free_energy": ...})`` for :func:`mean_field_grid`.
    """

    labels: Tensor
    energy: list
    method: str
    q: Tensor | None = None
    free_energy: list | None = None

    @property
    def final_energy(self) -> float:
        """Energy of :attr:`labels` (``energy[-1]``)."""
        return self.energy[-1]

    def _as_tuple(self) -> tuple:
        if self.method == "graph_cut":
            return self.labels, self.final_energy
        if self.method == "mean_field":
            return self.q, self.labels, {"energy": self.energy, "free_energy": self.free_energy}
        return self.labels, self.energy

    def __iter__(self):
        return iter(self._as_tuple())

    def __getitem__(self, index):
        return self._as_tuple()[index]

    def __len__(self) -> int:
        return len(self._as_tuple())


# ----------------------------------------------------------------------------- validation
def _check_unary(unary) -> Tensor:
    return float_tensor(unary, "unary", ndim=3, layout="(C, H, W)", non_empty=True)


def _check_weights(weights, H: int, W: int, device) -> Tensor:
    w = as_tensor(weights, "weights")
    if w.ndim != 3 or w.shape[0] not in (2, 4) or tuple(w.shape[1:]) != (H, W):
        raise ValueError(
            f"weights must have shape (2, H, W) or (4, H, W) with (H, W) = {(H, W)} "
            f"(the unary's), got shape {tuple(w.shape)}"
        )
    w = float_tensor(w, "weights")
    if (w < 0).any():
        raise ValueError(f"weights must be non-negative (Potts needs w >= 0), got minimum "
                         f"{float(w.min()):.3g}")
    return w.to(device)


def _check_labels(labels, C: int, H: int, W: int, device, name: str = "labels") -> Tensor:
    y = label_tensor(labels, name)
    if tuple(y.shape) != (H, W):
        raise ValueError(f"{name} must have shape (H, W) = {(H, W)}, got shape {tuple(y.shape)}")
    lo, hi = (int(v) for v in torch.aminmax(y.reshape(-1).long()))
    if lo < 0 or hi > C - 1:
        raise ValueError(f"{name} must be in 0..{C - 1}, got range [{lo}, {hi}]")
    return y.long().to(device)


def _check_connectivity(connectivity) -> int:
    return check_choice(check_int(connectivity, "connectivity"), "connectivity", (4, 8))


def _edge_scale(E: int, dtype, device) -> Tensor:
    """(E,) length correction of each edge channel: 1 for the axes, 1/sqrt(2) for diagonals."""
    return torch.tensor([1.0, 1.0, 1 / math.sqrt(2), 1 / math.sqrt(2)][:E], dtype=dtype,
                        device=device)


def _edge_mask(H: int, W: int, E: int, device) -> torch.Tensor:
    """(E, H, W) bool: does the edge (y, x) -> (y, x) + OFFSETS[e] stay in the image?"""
    m = torch.zeros(E, H, W, dtype=torch.bool, device=device)
    for e, (dy, dx) in enumerate(OFFSETS[:E]):
        m[e, : H - dy, max(0, -dx): W - max(0, dx)] = True
    return m


def _shift(x: torch.Tensor, dy: int, dx: int, fill: float = 0.0) -> torch.Tensor:
    """out[..., y, x] = x[..., y + dy, x + dx] (``fill`` outside)."""
    H, W = x.shape[-2:]
    out = torch.full_like(x, fill)
    ys, yd = slice(max(dy, 0), H + min(dy, 0)), slice(max(-dy, 0), H + min(-dy, 0))
    xs, xd = slice(max(dx, 0), W + min(dx, 0)), slice(max(-dx, 0), W + min(-dx, 0))
    out[..., yd, xd] = x[..., ys, xs]
    return out


# ----------------------------------------------------------------------------- weights
def potts_pairwise(shape, w: float = 1.0, *, connectivity: int = 4, device=None,
                   dtype=torch.float32) -> torch.Tensor:
    """Constant Potts weights on the grid: every neighbouring pair costs ``w`` if labels differ.

    Parameters
    ----------
    shape : (H, W)
    w : float, >= 0
    connectivity : {4, 8}
        With 8, diagonal edges get ``w / sqrt(2)`` (their length), so that the
        cost of a boundary is closer to its Euclidean length.

    Returns
    -------
    weights : Tensor[E, H, W]
        ``E = 2`` (4-connected) or 4; 0 on edges that leave the image.
    """
    H, W = check_size_pair(shape, "shape")
    w = check_real(w, "w", low=0)
    E = 2 if _check_connectivity(connectivity) == 4 else 4
    dtype = check_float_dtype(dtype)
    device = check_device(device)
    scale = _edge_scale(E, dtype, device)
    return _edge_mask(H, W, E, device).to(dtype) * (w * scale)[:, None, None]


def contrast_weights(image: Tensor, w: float = 1.0, *, connectivity: int = 4, beta: float | None = None,
                     eps: float = 0.0) -> torch.Tensor:
    """Contrast-sensitive Potts weights: ``w * (exp(-||I_p - I_q||^2 / (2 beta)) + eps)``.

    Neighbours of similar colour are bound strongly (no boundary crossed, so
    their labels should agree); across an image edge the weight drops towards
    0 and a label change there is cheap. ``beta`` defaults to the mean of
    ``||I_p - I_q||^2`` over all neighbour pairs (Boykov & Jolly 2001; Rother
    et al. 2004, GrabCut), which makes the weights independent of the image's
    contrast and intensity range.

    Parameters
    ----------
    image : Tensor[H, W, 3] or Tensor[H, W] or ndarray
        RGB (or grey) image, any numeric dtype and range.
    w : float
        Weight of an edge between identical colours (times ``1 + eps``).
    connectivity : {4, 8}
        Diagonal edges are divided by ``sqrt(2)``.
    beta : float, optional
        Override the automatic ``beta`` (> 0).
    eps : float
        A constant added inside, so that edges never become free.

    Returns
    -------
    weights : Tensor[E, H, W] (float32) on ``image.device``.
    """
    img = as_tensor(image, "image")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3) or min(img.shape[:2]) < 1:
        raise ValueError(f"image must have shape (H, W, 3) or (H, W) with H, W >= 1, got shape "
                         f"{tuple(image.shape)}")
    if img.dtype == torch.bool or img.is_complex():
        raise TypeError(f"image must hold real colour values, got dtype {img.dtype}")
    check_finite(img, "image")
    E = 2 if _check_connectivity(connectivity) == 4 else 4
    w = check_real(w, "w", low=0)
    eps = check_real(eps, "eps", low=0)
    if beta is not None:
        beta = check_real(beta, "beta", low=0, low_open=True)
    H, W, _ = img.shape
    x = img.permute(2, 0, 1).float()  # (3, H, W)
    mask = _edge_mask(H, W, E, x.device)
    d2 = torch.stack([((_shift(x, dy, dx) - x) ** 2).sum(0) for dy, dx in OFFSETS[:E]])  # (E, H, W)
    if not bool(torch.isfinite(d2).all()):
        raise ValueError(f"image values are too large for the contrast term (up to "
                         f"{float(img.abs().max()):.3g}: squared colour differences overflow "
                         f"float32); rescale the image, e.g. to [0, 1] or 0..255")
    if beta is None:
        beta = float(d2[mask].mean()) if mask.any() else 1.0
        beta = beta if beta > 0 else 1.0
    scale = _edge_scale(E, x.dtype, x.device)
    wts = w * (torch.exp(-d2 / (2 * beta)) + eps) * scale[:, None, None]
    return wts * mask


# ----------------------------------------------------------------------------- energy
def energy(labels: Tensor, unary: Tensor, weights: Tensor) -> Tensor:
    """Exact Potts energy of a labelling.

    Parameters
    ----------
    labels : Tensor[H, W] (integer)
        ``0 .. C-1``.
    unary : Tensor[C, H, W]
    weights : Tensor[E, H, W]
        See the module docstring.

    Returns
    -------
    Tensor[] (float64): ``sum_p U_p(y_p) + sum_edges w_pq [y_p != y_q]``.
    """
    u = _check_unary(unary)
    C, H, W = u.shape
    w = _check_weights(weights, H, W, u.device)
    y = _check_labels(labels, C, H, W, u.device)
    return _energy(y, u, w)


def _energy(y: torch.Tensor, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    e = torch.gather(u.double(), 0, y[None]).sum()
    for k, (dy, dx) in enumerate(OFFSETS[: w.shape[0]]):
        yq = _shift(y, dy, dx, fill=-1)  # -1: the edge leaves the image
        e = e + (w[k].double() * ((yq != y) & (yq >= 0))).sum()
    return e


def _neighbour_agreement(q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """m[l, p] = sum_q w_pq q[l, q] over the neighbours q of p. q (C, H, W) -> (C, H, W)."""
    m = torch.zeros_like(q)
    for k, (dy, dx) in enumerate(OFFSETS[: w.shape[0]]):
        wk = w[k]
        m += wk * _shift(q, dy, dx)  # p -> p + offset, weight stored at p
        m += _shift(wk * q, -dy, -dx)  # p - offset -> p, weight stored at p - offset
    return m


def _colouring(H: int, W: int, E: int, device) -> list[torch.Tensor]:
    """Independent sets of the grid: 2 (checkerboard) for 4-connectivity, 4 for 8."""
    yy = torch.arange(H, device=device)[:, None]
    xx = torch.arange(W, device=device)[None, :]
    if E == 2:
        c = (yy + xx) % 2
        return [c == 0, c == 1]
    c = (yy % 2) * 2 + xx % 2
    return [c == k for k in range(4)]


def free_energy(q: Tensor, unary: Tensor, weights: Tensor) -> Tensor:
    """Mean-field free energy ``KL(Q || P) - log Z`` = E_Q[E(y)] - H(Q).

    Parameters
    ----------
    q : Tensor[C, H, W]
        Per-pixel distributions (sum to 1 over C).
    unary : Tensor[C, H, W]
    weights : Tensor[E, H, W]

    Returns
    -------
    Tensor[] (float64). Checkerboard mean-field updates never increase it.
    """
    u = _check_unary(unary)
    C, H, W = u.shape
    w = _check_weights(weights, H, W, u.device)
    q = float_tensor(q, "q").to(u.device)
    if q.shape != u.shape:
        raise ValueError(f"q must have the unary's shape {tuple(u.shape)}, got {tuple(q.shape)}")
    qd, ud, wd = q.double(), u.double(), w.double()
    expected = (qd * ud).sum()
    for k, (dy, dx) in enumerate(OFFSETS[: w.shape[0]]):
        agree = (qd * _shift(qd, dy, dx)).sum(0)  # P(y_p == y_q) under Q
        expected = expected + (wd[k] * (1 - agree)).sum()
    entropy = -(qd * qd.clamp_min(1e-300).log()).sum()
    return expected - entropy


# ----------------------------------------------------------------------------- ICM
def icm(unary: Tensor, weights: Tensor, iterations: int = 10, *,
        init: Tensor | None = None) -> GridResult:
    """Iterated conditional modes (Besag 1986), with a checkerboard schedule.

    Each step gives every pixel of one colour class (pixels of one class share
    no edge) the label that minimises the energy with all its neighbours fixed;
    a pixel changes only if that strictly lowers the energy. This equals the
    sequential ICM sweep in raster-by-colour order, so the energy never
    increases; it stops at a local minimum where no single pixel can improve.

    Parameters
    ----------
    unary : Tensor[C, H, W]
    weights : Tensor[E, H, W]
    iterations : int
        Full sweeps (all colour classes once).
    init : Tensor[H, W], optional
        Start labelling; default the unary argmin.

    Returns
    -------
    GridResult
        ``labels`` (Tensor[H, W] int64) and ``energy``: the energy before the first sweep
        and after each sweep (stops early at a fixed point).
    """
    u = _check_unary(unary)
    C, H, W = u.shape
    w = _check_weights(weights, H, W, u.device).to(u.dtype)
    n = check_iterations(iterations, "iterations")
    y = u.argmin(0) if init is None else _check_labels(init, C, H, W, u.device, "init").clone()
    history = [float(_energy(y, u, w))]
    colours = _colouring(H, W, w.shape[0], u.device)
    total = _neighbour_agreement(torch.ones(1, H, W, dtype=u.dtype, device=u.device), w)[0]
    for _ in range(n):
        changed = False
        for mask in colours:
            onehot = F.one_hot(y, C).permute(2, 0, 1).to(u.dtype)  # (C, H, W)
            cost = u + total - _neighbour_agreement(onehot, w)  # (C, H, W)
            best = cost.argmin(0)
            cur = torch.gather(cost, 0, y[None])[0]
            better = mask & (cost.gather(0, best[None])[0] < cur - 1e-6 * (1 + cur.abs()))
            if better.any():
                y = torch.where(better, best, y)
                changed = True
        history.append(float(_energy(y, u, w)))
        if not changed:
            break
    return GridResult(y, history, "icm")


# ----------------------------------------------------------------------------- mean field
def mean_field_grid(unary: Tensor, weights: Tensor, iterations: int = 10, *,
                    damping: float = 0.0, schedule: str = "checkerboard") -> GridResult:
    """Mean-field inference for the grid Potts CRF.

    Approximates ``P(y) ~ exp(-E(y))`` by a product of per-pixel distributions
    ``Q_p``. The update for pixel ``p`` is

    .. math:: Q_p(l) \\propto \\exp\\big(-U_p(l) + \\sum_{q \\in N(p)} w_{pq} Q_q(l)\\big)

    (the Potts cost ``w [l != y_q]`` averaged under ``Q_q`` is ``w (1 - Q_q(l))``).
    With ``schedule="checkerboard"`` the two (four) colour classes are updated in
    turn: each step is an exact block minimisation of :func:`free_energy`, and
    with ``damping`` a convex combination with the old ``Q``, so the free energy
    never increases. ``schedule="parallel"`` updates all pixels at once (what
    dense-CRF implementations do); it can oscillate without damping.

    Parameters
    ----------
    unary : Tensor[C, H, W]
    weights : Tensor[E, H, W]
    iterations : int
    damping : float in [0, 1)
        ``Q <- damping * Q_old + (1 - damping) * Q_new``.
    schedule : {"checkerboard", "parallel"}

    Returns
    -------
    GridResult
        ``q`` (Tensor[C, H, W]): the final marginals; ``labels`` (Tensor[H, W] int64):
        ``q.argmax(0)``; ``energy``: energy of the argmax labelling and ``free_energy``,
        before the first and after each iteration.
    """
    u = _check_unary(unary)
    C, H, W = u.shape
    w = _check_weights(weights, H, W, u.device).to(u.dtype)
    n = check_iterations(iterations, "iterations")
    damping = check_real(damping, "damping", low=0, high=1, high_open=True)
    schedule = check_choice(schedule, "schedule", ("checkerboard", "parallel"))
    q = torch.softmax(-u, 0)
    hist = {"energy": [float(_energy(q.argmax(0), u, w))], "free_energy": [float(free_energy(q, u, w))]}
    masks = _colouring(H, W, w.shape[0], u.device) if schedule == "checkerboard" else [None]
    for _ in range(n):
        for mask in masks:
            new = torch.softmax(-u + _neighbour_agreement(q, w), 0)
            new = damping * q + (1 - damping) * new
            q = new if mask is None else torch.where(mask, new, q)
        hist["energy"].append(float(_energy(q.argmax(0), u, w)))
        hist["free_energy"].append(float(free_energy(q, u, w)))
    return GridResult(q.argmax(0), hist["energy"], "mean_field", q=q,
                      free_energy=hist["free_energy"])


# ----------------------------------------------------------------------------- graph cuts
def _maxflow_binary(d0: np.ndarray, d1: np.ndarray, pair: list) -> np.ndarray:
    """Minimise sum_p d_x(p) + sum c [x_p = 0, x_q = 1] exactly. Returns x (H, W) bool.

    ``pair`` is a list of (dy, dx, cap) with cap (H, W) >= 0 the capacity of the
    directed edge p -> p + (dy, dx). PyMaxflow: a node in the sink segment
    (``get_grid_segments`` True, our x = 1) pays its source capacity.
    """
    import maxflow

    H, W = d0.shape
    g = maxflow.Graph[float]()
    nodes = g.add_grid_nodes((H, W))
    for dy, dx, cap in pair:
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1
        g.add_grid_edges(nodes, weights=cap, structure=structure, symmetric=False)
    m = np.minimum(d0, d1)
    g.add_grid_tedges(nodes, d1 - m, d0 - m)
    g.maxflow()
    return g.get_grid_segments(nodes)


def graph_cut(unary: Tensor, weights: Tensor) -> GridResult:
    """Exact minimum of a two-label Potts energy by an s-t minimum cut.

    With two labels and ``w >= 0`` the energy is submodular, so a min cut of
    the graph (one node per pixel, a terminal edge for each unary cost, an
    edge of capacity ``w_pq`` per grid edge) is a global minimum (Greig,
    Porteous & Seheult 1989; Boykov & Kolmogorov 2004). Runs PyMaxflow on the
    CPU in float64; the labels come back on ``unary.device``.

    Parameters
    ----------
    unary : Tensor[2, H, W]
    weights : Tensor[E, H, W]

    Returns
    -------
    GridResult
        ``labels`` (Tensor[H, W] int64), a global minimum, and ``energy``: its energy
        (a one-entry history).
    """
    u = _check_unary(unary)
    C, H, W = u.shape
    if C != 2:
        raise ValueError(f"graph_cut needs exactly 2 labels (unary of shape (2, H, W)), got C={C}; "
                         "use alpha_expansion for more")
    w = _check_weights(weights, H, W, u.device)
    un = u.detach().cpu().double().numpy()
    wn = w.detach().cpu().double().numpy()
    pair = [(dy, dx, wn[k]) for k, (dy, dx) in enumerate(OFFSETS[: wn.shape[0]])]
    # Potts: cost w for (0, 1) and (1, 0); symmetric edges p -> q and q -> p
    pair += [(-dy, -dx, _shift_np(wn[k], dy, dx)) for k, (dy, dx) in enumerate(OFFSETS[: wn.shape[0]])]
    x = _maxflow_binary(un[0], un[1], pair)
    y = torch.from_numpy(x.astype(np.int64)).to(u.device)
    return GridResult(y, [float(_energy(y, u, w))], "graph_cut")


def _shift_np(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[y, x] = a[y - dy, x - dx]: the weight of edge p - d -> p, stored at p."""
    return _shift(torch.from_numpy(a), -dy, -dx).numpy()


def alpha_expansion(unary: Tensor, weights: Tensor, *, max_cycles: int = 5,
                    init: Tensor | None = None) -> GridResult:
    """Alpha-expansion for the multi-label Potts energy (Boykov, Veksler & Zabih 2001).

    For each label ``alpha`` in turn, the best *expansion move* (every pixel
    either keeps its label or switches to ``alpha``) is a binary submodular
    problem solved exactly by a min cut. Moves are accepted only when they
    lower the energy, so the energy never increases; the result is within a
    factor 2 of the global minimum for Potts. Cycles over all labels until no
    move helps or ``max_cycles`` is reached. Runs on the CPU (PyMaxflow).

    Parameters
    ----------
    unary : Tensor[C, H, W]
    weights : Tensor[E, H, W]
    max_cycles : int, default 5
        Cycles over all labels at most.
    init : Tensor[H, W], optional
        Start labelling (default: the unary argmin).

    Returns
    -------
    GridResult
        ``labels`` (Tensor[H, W] int64, on ``unary.device``) and ``energy``: the energy at
        the start and after each accepted or rejected move.
    """
    u = _check_unary(unary)
    C, H, W = u.shape
    w = _check_weights(weights, H, W, u.device)
    cycles = check_int(max_cycles, "max_cycles", low=0)
    y0 = u.argmin(0) if init is None else _check_labels(init, C, H, W, u.device, "init")
    un = u.detach().cpu().double().numpy()
    wn = w.detach().cpu().double().numpy()
    yt = y0.cpu()
    y = yt.numpy().copy()
    ucpu, wcpu = u.detach().cpu().double(), w.detach().cpu().double()
    e = float(_energy(yt, ucpu, wcpu))
    history = [e]
    for _ in range(cycles):
        improved = False
        for alpha in range(C):
            if C == 1:
                break
            d0 = np.take_along_axis(un, y[None], 0)[0]  # keep current label
            d1 = un[alpha].copy()  # switch to alpha
            pair = []
            for k, (dy, dx) in enumerate(OFFSETS[: wn.shape[0]]):
                wk = wn[k]
                yq = _shift(torch.from_numpy(y), dy, dx, fill=-1).numpy()  # label of q = p + d
                valid = (yq >= 0) & (wk > 0)
                e00 = wk * (y != yq)
                e01 = wk * (y != alpha)  # p keeps, q -> alpha
                e10 = wk * (yq != alpha)  # p -> alpha, q keeps
                e11 = np.zeros_like(wk)
                e00, e01, e10 = (np.where(valid, t, 0.0) for t in (e00, e01, e10))
                # E = E00 + (E10 - E00) x_p + (E11 - E10) x_q + (E01 + E10 - E00 - E11)(1 - x_p) x_q
                d1 += e10 - e00
                d1 += _shift_np(e11 - e10, dy, dx)  # term on q, stored at q
                pair.append((dy, dx, np.maximum(e01 + e10 - e00 - e11, 0.0)))
            x = _maxflow_binary(d0, d1, pair)
            cand = np.where(x, alpha, y)
            e_new = float(_energy(torch.from_numpy(cand), ucpu, wcpu))
            if e_new < e - 1e-9 * (1 + abs(e)):
                y, e = cand, e_new
                improved = True
            history.append(e)
        if not improved:
            break
    return GridResult(torch.from_numpy(y).to(u.device), history, "alpha_expansion")
