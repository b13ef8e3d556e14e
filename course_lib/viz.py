"""Pictures of label maps: the VOC palette, colouring, overlays, grids with legends.

Every label map in the course is an integer array (H, W). To look at one we
give each class a colour. Pascal VOC fixed a palette that everybody uses (its
PNG files store it), so a VOC cow is always olive ``(64, 128, 0)`` and a
person pink ``(192, 128, 128)``; :func:`voc_palette` computes them all with the
bit trick of the VOC devkit.

>>> import numpy as np
>>> from course_lib import viz
>>> viz.voc_palette()[10].tolist()      # cow
[64, 128, 0]
>>> viz.colorize(np.array([[0, 10], [15, 255]])).shape
(2, 2, 3)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ._checks import (
    as_tensor,
    check_bool,
    check_int,
    check_positive,
    check_real,
    label_tensor,
    rgb_image,
)
from .data.classes import (
    DENSE_CLASSES,
    PART_NAMES,
    VOC_CLASSES,
    VOC_VOID,
    VOC_VOID_COLOUR,
    voc_palette,
)

__all__ = ["voc_palette", "dense_palette", "part_palette", "colorize", "overlay",
           "legend_handles", "show_label", "show_grid", "instance_palette", "plot_confusion", "to_numpy_image"]

VOID_COLOUR = VOC_VOID_COLOUR  # the colour VOC's PNGs give to void (255)


def dense_palette() -> np.ndarray:
    """uint8 (256, 3) colours for :data:`DENSE_CLASSES`: stuff, then the things in VOC colours.

    The things (cow, horse, sheep, dog, person) keep their VOC colours, so a cow is olive
    in every map of the course. The stuff colours (steel-blue sky, yellow-green grass,
    dark-green trees, khaki fence) were chosen to stay far from them and from each other:
    every pair of dense classes (and void) is at least 30 apart in CIELAB (ΔE*76), and
    at least 15 apart under simulated deuteranopia, protanopia and tritanopia, except
    VOC's own cow/sheep pair under deuteranopia (``tests/test_viz.py`` checks this).
    """
    pal = voc_palette().copy()
    pal[: len(DENSE_CLASSES)] = [
        (0, 0, 0), (90, 160, 200), (145, 220, 60), (20, 80, 55), (180, 170, 90),
        (64, 128, 0), (192, 0, 128), (128, 64, 0), (64, 0, 128), (192, 128, 128),
    ]
    return pal


def part_palette() -> np.ndarray:
    """uint8 (256, 3) colours for :data:`PART_NAMES` (none black, head, torso, legs, arms)."""
    pal = voc_palette().copy()
    pal[: len(PART_NAMES)] = [(0, 0, 0), (230, 80, 60), (60, 130, 230), (250, 200, 40),
                              (90, 200, 120)]
    return pal


def to_numpy_image(image: Tensor | np.ndarray) -> np.ndarray:
    """An (H, W, 3) NumPy image from an (H, W, 3) or (3, H, W) array or tensor.

    uint8 images (0..255) are returned as uint8, float images (0..1) as float. Anything else
    (a float image in 0..255, integers other than uint8, NaN) raises instead of being drawn
    all white.
    """
    return _numpy_image(image, "image")


def _numpy_image(image, name: str) -> np.ndarray:
    t = as_tensor(image, name)
    rgb = rgb_image(t, name, channels_first=None)                     # checks, float in [0, 1]
    if t.dtype == torch.uint8:
        return (rgb * 255).round().to(torch.uint8).cpu().numpy()
    return rgb.detach().cpu().numpy()


def _label_array(label, name: str = "label") -> np.ndarray:
    """A 2-D integer label map in 0..255 as a NumPy array (bool masks count as 0/1)."""
    lab = label_tensor(label, name, ndim=2, layout="(H, W), a 2-D label map")
    lab = lab.detach().cpu().numpy()
    if lab.size == 0:                                   # as images: nothing to draw
        raise ValueError(f"{name} must be non-empty, got shape {lab.shape}")
    if lab.min() < 0 or lab.max() > 255:
        raise ValueError(f"{name} values must be in [0, 255], got [{lab.min()}, {lab.max()}]")
    return lab


def _palette_array(palette, needed: int) -> np.ndarray:
    """A uint8 (n, 3) palette with more than ``needed`` entries."""
    if palette is None:
        return voc_palette()
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] != 3 or pal.shape[0] <= needed:
        raise ValueError(f"palette must be (n, 3) with n > max label = {needed}, got shape "
                         f"{pal.shape}")
    if not np.issubdtype(pal.dtype, np.number) or (pal.size and (pal.min() < 0 or pal.max() > 255)):
        raise ValueError(f"palette must hold colours in 0..255, got dtype {pal.dtype}")
    return pal.astype(np.uint8)


def _check_ax(ax) -> None:
    if not hasattr(ax, "imshow"):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")


def _check_names(names, name: str = "names") -> list:
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of str, got {type(names).__name__}")
    return [str(n) for n in names]


def _check_title(title, name: str = "title"):
    if title is not None and not isinstance(title, str):
        raise TypeError(f"{name} must be a str or None, got {type(title).__name__}")
    return title


def colorize(label: Tensor | np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """Colour a label map: uint8 (H, W, 3). ``palette`` defaults to :func:`voc_palette`."""
    label = _label_array(label)
    return _palette_array(palette, int(label.max(initial=0)))[label]


def overlay(image, label, alpha: float = 0.5, palette=None, *, background: int | None = 0):
    """Blend the coloured ``label`` over ``image``; ``background`` pixels stay unpainted.

    Returns float (H, W, 3) in [0, 1].
    """
    alpha = check_real(alpha, "alpha", low=0, high=1)
    if background is not None:
        background = check_int(background, "background")
    img = to_numpy_image(image)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    label = _label_array(label)
    if label.shape != img.shape[:2]:
        raise ValueError(f"label shape {label.shape} does not match image shape {img.shape[:2]}")
    col = colorize(label, palette).astype(np.float32) / 255.0
    paint = np.ones(label.shape, bool) if background is None else label != background
    out = img.copy()
    out[paint] = (1 - alpha) * img[paint] + alpha * col[paint]
    return out


def legend_handles(indices, names=VOC_CLASSES, palette=None):
    """Matplotlib patches for a legend: one per label index (255 is "void")."""
    from matplotlib.patches import Patch

    indices = [check_int(i, "indices[...]", low=0, high=255)
               for i in np.asarray(as_tensor(np.asarray(indices), "indices")).ravel()]
    names = _check_names(names)
    pal = _palette_array(palette, max(indices, default=0))
    handles = []
    for i in indices:
        name = "void" if i == VOC_VOID else (names[i] if i < len(names) else str(i))
        handles.append(Patch(facecolor=pal[i] / 255.0, edgecolor="0.3", label=name))
    return handles


def show_label(ax, label, names=VOC_CLASSES, palette=None, *, title=None, legend=True,
               image=None, alpha=0.6):
    """Draw a label map on ``ax`` (over ``image`` if given) with a legend of present classes."""
    _check_ax(ax)
    lab = _label_array(label)
    names = _check_names(names)
    title = _check_title(title)
    legend = check_bool(legend, "legend")
    if image is not None:
        ax.imshow(overlay(image, lab, alpha, palette, background=None))
    else:
        ax.imshow(colorize(lab, palette), interpolation="nearest")
    if title:
        ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if legend:
        present = np.unique(lab)
        ax.legend(handles=legend_handles(present, names, palette), loc="upper left",
                  bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return ax


def instance_palette(seed: int = 3) -> np.ndarray:
    """uint8 (256, 3) distinct random colours for instance ids (0 stays black)."""
    rng = np.random.default_rng(check_int(seed, "seed", low=0))
    pal = (rng.uniform(0.25, 1.0, (256, 3)) * 255).astype(np.uint8)
    pal[0] = 0
    pal[VOC_VOID] = VOID_COLOUR
    return pal


_KINDS = ("image", "label", "dense", "parts", "instances", "depth")


def _infer_kind(p):
    if p.ndim == 3:
        return "image"
    return "label" if np.issubdtype(p.dtype, np.integer) else "depth"


def show_grid(panels, titles=None, *, kinds=None, ncols=None, size=3.0, legend=True):
    """Show images and maps side by side, with a legend for each kind of label map.

    Parameters
    ----------
    panels : list
        (H, W, 3) images, (H, W) integer maps, (H, W) float maps (arrays or tensors).
    titles : list of str, optional
    kinds : list of str, optional
        One of ``"image"``, ``"label"`` (VOC indices), ``"dense"`` (DENSE_CLASSES),
        ``"parts"`` (PART_NAMES), ``"instances"`` (ids, random colours, no legend)
        or ``"depth"`` (float, with a colour bar) per panel. By default: images
        are images, integer maps VOC labels, float maps depth.
    ncols : int, optional
        Panels per row (default: all in one row; more than the panels count as all).
    size : float
        Inches per panel.
    legend : bool
        A legend for each kind of label map shown.
    """
    import matplotlib.pyplot as plt

    if isinstance(panels, (str, bytes)) or not isinstance(panels, (list, tuple)):
        raise TypeError(f"panels must be a list of images and maps, got {type(panels).__name__}")
    n = len(panels)
    if n == 0:
        raise ValueError("panels must not be empty")
    if titles is not None and len(_check_names(titles, "titles")) != n:
        raise ValueError(f"titles has {len(titles)} entries for {n} panels")
    ncols = n if ncols is None else min(check_int(ncols, "ncols", low=1), n)   # no empty columns
    arrays = [as_tensor(p, f"panels[{k}]").detach().cpu().numpy() for k, p in enumerate(panels)]
    arrays = [p.astype(np.uint8) if p.dtype == np.bool_ else p for p in arrays]   # masks: 0/1
    size = check_positive(size, "size")
    legend = check_bool(legend, "legend")
    kinds = [_infer_kind(p) for p in arrays] if kinds is None else _check_names(kinds, "kinds")
    if len(kinds) != n or any(k not in _KINDS for k in kinds):
        raise ValueError(f"kinds must hold {n} entries from {_KINDS}, got {kinds}")
    tables = {"label": (voc_palette(), VOC_CLASSES), "dense": (dense_palette(), DENSE_CLASSES),
              "parts": (part_palette(), PART_NAMES), "instances": (instance_palette(), None)}
    nrows = int(np.ceil(n / ncols))
    kinds_with_legend = [k for k in dict.fromkeys(kinds) if k in ("label", "dense", "parts")]
    extra = 1.8 if legend and kinds_with_legend else 0.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols + extra, size * nrows),
                             squeeze=False)
    present = {k: set() for k in kinds_with_legend}
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.axis("off")
            continue
        p, kind = arrays[k], kinds[k]
        if kind == "image":
            ax.imshow(_numpy_image(p, f"panels[{k}]"))
        elif kind == "depth":
            if p.ndim != 2 or not np.issubdtype(p.dtype, np.floating):
                raise ValueError(f"a depth panel must be a float (H, W) map, got "
                                 f"{p.dtype} {p.shape}")
            im = ax.imshow(p, cmap="magma_r")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="metres")
        else:
            ax.imshow(_palette_array(tables[kind][0], 255)[_label_array(p, f"panels[{k}]")],
                      interpolation="nearest")
            if kind in present:
                present[kind] |= set(np.unique(p).tolist())
        if titles is not None:
            ax.set_title(titles[k], fontsize=10)
    right = 1.0 - extra / (size * ncols + extra)
    for i, kind in enumerate(kinds_with_legend if legend else []):
        pal, names = tables[kind]
        fig.legend(handles=legend_handles(sorted(present[kind]), names, pal),
                   loc="upper left", bbox_to_anchor=(right, 1.0 - i / len(kinds_with_legend)),
                   fontsize=8, frameon=False, title=kind, title_fontsize=8)
    fig.tight_layout(rect=(0, 0, right, 1))
    return fig, axes


def plot_confusion(ax, cm, names, *, normalize: bool = True, title="Confusion matrix"):
    """Plot a confusion matrix (rows = ground truth, columns = prediction) with labels."""
    _check_ax(ax)
    names = _check_names(names)
    title = _check_title(title)
    cm = as_tensor(cm, "cm").detach().cpu().numpy()
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(names):
        raise ValueError(f"cm must be (K, K) with K = len(names) = {len(names)}, got {cm.shape}")
    if not np.isfinite(cm).all() or (cm < 0).any():
        raise ValueError("cm must hold finite, non-negative counts")
    normalize = check_bool(normalize, "normalize")
    shown = cm.astype(float)
    if normalize:
        rows = shown.sum(1, keepdims=True)
        shown = np.divide(shown, rows, out=np.zeros_like(shown), where=rows > 0)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    for i in range(len(names)):
        for j in range(len(names)):
            if shown[i, j] >= 0.005:
                ax.text(j, i, f"{shown[i, j]:.2f}" if normalize else f"{int(cm[i, j])}",
                        ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > 0.6 * shown.max() else "black")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                       label="fraction of the true class" if normalize else "pixels")
    return ax
