"""Unary costs: how much each pixel "dislikes" each class, from its colour alone.

A unary cost ``U[c, y, x] = -log p(colour(y, x) | c) - log p(c)`` is small
where the pixel looks like class ``c``. Here the appearance models are learned
from labelled pixels: a 3-D colour histogram per class (with Laplace
smoothing) or a Gaussian mixture per class (scikit-learn), as in GrabCut and
TextonBoost's colour potentials. :func:`unary_from_probabilities` and
:func:`unary_from_logits` turn a classifier's output into unaries instead.

Shapes: ``image`` (H, W, 3) uint8 (0..255) or float (0..1), numpy or torch;
``label`` (H, W) int64 with ``ignore_index`` (255) for void; unaries (C, H, W).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .._checks import (
    check_bool,
    check_choice,
    check_ignore_index,
    check_int,
    check_num_classes,
    check_real,
    float_tensor,
    label_tensor,
    rgb_image,
    valid_mask,
)

__all__ = [
    "ColorHistogramModel",
    "GaussianMixtureModel",
    "class_prior",
    "fit_color_histogram",
    "fit_gaussian_mixture",
    "unary_from_probabilities",
    "unary_from_probs",
    "unary_from_logits",
]


def _labels(label, image: Tensor, num_classes: int, ignore_index: int) -> Tensor:
    lab = label_tensor(label, "label", ndim=2, layout="(H, W)")
    if lab.shape != image.shape[:2]:
        raise ValueError(
            f"label of shape {tuple(lab.shape)} does not match image (H, W) = {tuple(image.shape[:2])}"
        )
    return _check_label_range(lab, num_classes, ignore_index).to(image.device)


def _check_label_range(lab: Tensor, num_classes: int, ignore_index: int | None) -> Tensor:
    """int64 labels; raise if a pixel that is not ``ignore_index`` is outside 0..C-1."""
    valid = valid_mask(lab, ignore_index)
    lab = lab.long()
    bad = (lab < 0) | (lab >= num_classes)
    if valid is not None:
        bad &= valid
    if bad.any():
        raise ValueError(
            f"label has values outside 0..{num_classes - 1} (and ignore_index={ignore_index}): "
            f"{torch.unique(lab[bad])[:5].tolist()}"
        )
    return lab


def class_prior(label: Tensor, num_classes: int, *, ignore_index: int = 255, alpha: float = 1.0) -> torch.Tensor:
    """Class frequencies of the labelled pixels, Laplace smoothed: ``p(c)``.

    Parameters
    ----------
    label : Tensor[H, W] (integer)
    num_classes : int
    ignore_index : int
    alpha : float
        Pseudo-count added to every class.

    Returns
    -------
    Tensor[C] (float32), sums to 1.
    """
    num_classes = check_num_classes(num_classes)
    ignore_index = check_ignore_index(ignore_index)
    alpha = check_real(alpha, "alpha", low=0)
    lab = label_tensor(label, "label")
    valid = valid_mask(lab, ignore_index)
    lab = _check_label_range(lab, num_classes, ignore_index)
    lab = lab if valid is None else lab[valid]
    counts = torch.bincount(lab.reshape(-1), minlength=num_classes).float() + alpha
    if float(counts.sum()) == 0:
        raise ValueError("with alpha=0, label needs at least one labelled pixel")
    return counts / counts.sum()


class ColorHistogramModel:
    """Per-class 3-D RGB histograms: ``p(colour | c)`` with ``bins**3`` cells.

    Build it with :func:`fit_color_histogram`; call it on an image to get unaries.

    Attributes
    ----------
    probs : Tensor[C, bins, bins, bins]
        ``p(cell | c)``, each class sums to 1.
    prior : Tensor[C]
        ``p(c)`` from the training pixels.
    bins : int
    """

    def __init__(self, probs: Tensor, prior: Tensor):
        probs = float_tensor(probs, "probs", ndim=4, layout="(C, bins, bins, bins)")
        prior = float_tensor(prior, "prior", ndim=1, layout="(C,)")
        C, bins = probs.shape[0], probs.shape[-1]
        if C < 1 or bins < 1 or probs.shape[1:] != (bins,) * 3 or prior.shape != (C,):
            raise ValueError(f"probs must be (C, bins, bins, bins) with C, bins >= 1 and prior "
                             f"(C,), got {tuple(probs.shape)} and {tuple(prior.shape)}")
        if bool((probs < 0).any()) or bool((prior < 0).any()):
            raise ValueError("probs and prior must be non-negative")
        self.probs = probs
        self.prior = prior
        self.bins = bins

    @property
    def num_classes(self) -> int:
        return self.probs.shape[0]

    def __repr__(self) -> str:
        return f"ColorHistogramModel(num_classes={self.num_classes}, bins={self.bins})"

    def cells(self, image: Tensor) -> torch.Tensor:
        """Histogram cell index of every pixel: Tensor[H, W] (int64)."""
        img = rgb_image(image)
        q = (img * self.bins).long().clamp_(0, self.bins - 1)  # (H, W, 3)
        return (q[..., 0] * self.bins + q[..., 1]) * self.bins + q[..., 2]

    def log_likelihood(self, image: Tensor) -> torch.Tensor:
        """``log p(colour | c)`` of every pixel: Tensor[C, H, W].

        The density is per histogram cell (a constant ``bins**3`` factor away
        from a density over the unit colour cube; it cancels between classes).
        """
        idx = self.cells(image)
        logp = self.probs.to(idx.device).reshape(self.num_classes, -1).log()  # (C, bins^3)
        return logp[:, idx]  # (C, H, W)

    def __call__(self, image, *, use_prior: bool = True) -> torch.Tensor:
        """Unary costs ``-log p(colour | c) - log p(c)``: Tensor[C, H, W]."""
        u = -self.log_likelihood(image)
        if check_bool(use_prior, "use_prior"):
            u = u - self.prior.to(u.device).log()[:, None, None]
        return u


def fit_color_histogram(
    image: Tensor,
    label: Tensor,
    num_classes: int,
    *,
    bins: int = 16,
    alpha: float = 1.0,
    ignore_index: int = 255,
) -> ColorHistogramModel:
    """Learn one colour histogram per class from labelled pixels.

    Parameters
    ----------
    image : Tensor[H, W, 3] or ndarray
        RGB, uint8 or float in [0, 1].
    label : Tensor[H, W] (integer)
        Class of each training pixel, ``ignore_index`` for unlabelled ones.
    num_classes : int
        ``C``; classes are ``0 .. C-1``.
    bins : int
        Cells per colour channel (``bins**3`` cells in all).
    alpha : float
        Laplace smoothing: pseudo-count added to every cell (and to the prior),
        so that an unseen colour is unlikely, not impossible.
    ignore_index : int

    Returns
    -------
    ColorHistogramModel

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((2, 2, 3), np.uint8); img[:, 1] = 255
    >>> model = fit_color_histogram(img, np.array([[0, 1], [0, 1]]), 2, bins=2)
    >>> model(img).argmin(0).tolist()
    [[0, 1], [0, 1]]
    """
    img = rgb_image(image)
    num_classes = check_num_classes(num_classes)
    ignore_index = check_ignore_index(ignore_index)
    bins = check_int(bins, "bins", low=1, high=256)
    alpha = check_real(alpha, "alpha", low=0)
    if num_classes * bins**3 > 2**28:
        raise ValueError(f"num_classes * bins**3 = {num_classes * bins**3} histogram cells are "
                         f"too many (at most 2**28); use fewer bins")
    lab = _labels(label, img, num_classes, ignore_index)
    model = ColorHistogramModel(torch.ones(num_classes, bins, bins, bins), torch.ones(num_classes))
    cell = model.cells(img)
    keep = valid_mask(lab, ignore_index)
    keep = torch.ones_like(lab, dtype=torch.bool) if keep is None else keep
    flat = lab[keep] * bins**3 + cell[keep]
    counts = torch.bincount(flat, minlength=num_classes * bins**3).float().cpu()
    counts = counts.reshape(num_classes, bins, bins, bins) + alpha
    total = counts.reshape(num_classes, -1).sum(1)
    if (total == 0).any():
        raise ValueError("with alpha=0 every class needs at least one labelled pixel")
    model.probs = counts / total[:, None, None, None]
    model.prior = class_prior(lab.cpu(), num_classes, ignore_index=ignore_index, alpha=alpha)
    return model


class GaussianMixtureModel:
    """Per-class Gaussian mixtures over RGB in [0, 1] (``sklearn.mixture``).

    Build it with :func:`fit_gaussian_mixture`. Classes without training pixels
    get the cost ``absent_cost`` everywhere.

    Attributes
    ----------
    mixtures : list of ``sklearn.mixture.GaussianMixture`` or None (absent class)
    prior : Tensor[C]
    absent_cost : float
    """

    def __init__(self, mixtures, prior: Tensor, absent_cost: float = 1e3):
        if isinstance(mixtures, (str, bytes)) or not isinstance(mixtures, (list, tuple)) \
                or not mixtures:
            raise TypeError(f"mixtures must be a non-empty list of fitted GaussianMixture (or "
                            f"None), got {type(mixtures).__name__}")
        for k, m in enumerate(mixtures):
            if m is not None and not hasattr(m, "score_samples"):
                raise TypeError(f"mixtures[{k}] must be a fitted sklearn GaussianMixture or "
                                f"None, got {type(m).__name__}")
        prior = float_tensor(prior, "prior", ndim=1, layout="(C,)")
        if prior.shape != (len(mixtures),) or bool((prior < 0).any()):
            raise ValueError(f"prior must be non-negative with shape (C,) = ({len(mixtures)},), "
                             f"got {tuple(prior.shape)}")
        self.mixtures = list(mixtures)
        self.prior = prior
        self.absent_cost = check_real(absent_cost, "absent_cost")

    @property
    def num_classes(self) -> int:
        return len(self.mixtures)

    def __repr__(self) -> str:
        k = next((m.n_components for m in self.mixtures if m is not None), 0)
        cov = next((m.covariance_type for m in self.mixtures if m is not None), "?")
        return f"GaussianMixtureModel(num_classes={self.num_classes}, n_components={k}, covariance_type={cov!r})"

    def log_likelihood(self, image: Tensor) -> torch.Tensor:
        """``log p(colour | c)`` (a density on the RGB unit cube): Tensor[C, H, W].

        Evaluated on the CPU with scikit-learn; returned on ``image.device``.
        """
        img = rgb_image(image)
        H, W, _ = img.shape
        x = img.reshape(-1, 3).detach().cpu().double().numpy()
        out = np.full((self.num_classes, H * W), -self.absent_cost)
        for c, m in enumerate(self.mixtures):
            if m is not None:
                out[c] = m.score_samples(x)
        return torch.from_numpy(out.reshape(-1, H, W)).float().to(img.device)

    def __call__(self, image, *, use_prior: bool = True) -> torch.Tensor:
        """Unary costs ``-log p(colour | c) - log p(c)``: Tensor[C, H, W]."""
        u = -self.log_likelihood(image)
        if check_bool(use_prior, "use_prior"):
            u = u - self.prior.to(u.device).log()[:, None, None]
        return u


def fit_gaussian_mixture(
    image: Tensor,
    label: Tensor,
    num_classes: int,
    *,
    n_components: int = 5,
    covariance_type: str = "full",
    ignore_index: int = 255,
    max_pixels: int = 20000,
    seed: int = 0,
    absent_cost: float = 1e3,
) -> GaussianMixtureModel:
    """Learn one Gaussian mixture of RGB colours per class (EM, scikit-learn).

    Parameters
    ----------
    image : Tensor[H, W, 3] or ndarray
        RGB, uint8 or float in [0, 1].
    label : Tensor[H, W] (integer)
        ``ignore_index`` for unlabelled pixels.
    num_classes : int
    n_components : int
        Gaussians per class (fewer when a class has fewer pixels).
    covariance_type : {"full", "diag", "spherical", "tied"}
    ignore_index : int
    max_pixels : int
        At most this many pixels per class are used (random subset), for speed.
    seed : int
        Seed of the subsampling and of EM's k-means initialisation.
    absent_cost : float
        Cost of a class with no training pixels.

    Returns
    -------
    GaussianMixtureModel
    """
    from sklearn.mixture import GaussianMixture

    img = rgb_image(image)
    num_classes = check_num_classes(num_classes)
    ignore_index = check_ignore_index(ignore_index)
    covariance_type = check_choice(covariance_type, "covariance_type",
                                   ("full", "diag", "spherical", "tied"))
    n_components = check_int(n_components, "n_components", low=1)
    max_pixels = check_int(max_pixels, "max_pixels", low=1)
    seed = check_int(seed, "seed", low=0, high=2**32 - 1)
    absent_cost = check_real(absent_cost, "absent_cost")
    lab = _labels(label, img, num_classes, ignore_index)
    x = img.reshape(-1, 3).detach().cpu().double().numpy()
    y = lab.reshape(-1).cpu().numpy()
    rng = np.random.default_rng(seed)
    mixtures = []
    for c in range(num_classes):
        xc = x[y == c]
        if len(xc) == 0:
            mixtures.append(None)
            continue
        if len(xc) > max_pixels:
            xc = xc[rng.choice(len(xc), max_pixels, replace=False)]
        # at most one component per distinct colour; a single pixel is repeated (EM needs
        # two samples) and gets one Gaussian of covariance reg_covar around it
        k = min(n_components, len(np.unique(xc, axis=0)))
        if len(xc) == 1:
            xc = np.repeat(xc, 2, axis=0)
        gm = GaussianMixture(k, covariance_type=covariance_type, reg_covar=1e-4, random_state=seed)
        mixtures.append(gm.fit(xc))
    prior = class_prior(lab.cpu(), num_classes, ignore_index=ignore_index)
    return GaussianMixtureModel(mixtures, prior, absent_cost)


def unary_from_probabilities(probs: Tensor, *, eps: float = 1e-8, atol: float = 1e-3) -> Tensor:
    """Unary costs ``-log max(p, eps)`` from class probabilities.

    The same as pydensecrf's ``unary_from_softmax``. ``unary_from_probs`` is another name
    of this function.

    Parameters
    ----------
    probs : Tensor[C, H, W]
        Probabilities, non-negative and summing to 1 over ``C`` at every pixel
        (within ``atol``).
    eps : float
        Clamp, so that a zero probability gives a large finite cost ``-log eps``.
    atol : float
        Tolerance of the sum-to-one check.

    Returns
    -------
    Tensor[C, H, W]
        On ``probs.device``, in its dtype (float32 for half precision).

    Raises
    ------
    TypeError
        If ``probs`` is not a floating-point tensor or array.
    ValueError
        If ``probs`` is not (C, H, W), holds NaN, has negative entries or does not sum to 1.
    """
    return _unary_from_probabilities(probs, "probs", eps=eps, atol=atol)


def _unary_from_probabilities(probs, name: str, *, eps: float = 1e-8,
                              atol: float = 1e-3) -> Tensor:
    """:func:`unary_from_probabilities` with messages naming the argument ``name``."""
    p = float_tensor(probs, name, ndim=3, layout="(C, H, W)")
    eps = check_real(eps, "eps", low=0, low_open=True, high=1)
    atol = check_real(atol, "atol", low=0)
    if p.dtype in (torch.float16, torch.bfloat16):
        p = p.float()
    if (p < 0).any():
        raise ValueError(f"{name} must be non-negative, got minimum {float(p.min()):.3g}")
    s = p.sum(0)
    if not torch.allclose(s, torch.ones_like(s), atol=atol):
        raise ValueError(
            f"{name} must sum to 1 over the class axis (dim 0), got sums in "
            f"[{float(s.min()):.4g}, {float(s.max()):.4g}]; pass softmax(logits, 0) or use "
            "unary_from_logits"
        )
    return -p.clamp_min(eps).log()


#: Another name of :func:`unary_from_probabilities`.
unary_from_probs = unary_from_probabilities


def unary_from_logits(logits: Tensor) -> Tensor:
    """Unary costs ``-log softmax(logits)`` over the class axis.

    Parameters
    ----------
    logits : Tensor[C, H, W]

    Returns
    -------
    Tensor[C, H, W]
    """
    z = float_tensor(logits, "logits", ndim=3, layout="(C, H, W)")
    return -torch.log_softmax(z, dim=0)
