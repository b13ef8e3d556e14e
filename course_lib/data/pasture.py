"""Pasture: procedural farm scenes with every kind of label the course needs.

A Pasture scene is a photograph-like picture of a field seen from eye height: sky,
a line of trees on the horizon, grass, sometimes a wooden fence, and cows, horses,
sheep, dogs and people standing on the ground. Everything is drawn far to near
(the painter's algorithm), so near objects hide far ones, exactly as in a photo.
Because we drew it, we know for every pixel what a human annotator could only
guess:

============  =========================================================
field         meaning
============  =========================================================
image         uint8 (H, W, 3) RGB picture
label         int64 (H, W) semantic label, real Pascal VOC indices
              (0 background, 10 cow, 12 dog, 13 horse, 15 person, 17 sheep)
dense         int64 (H, W) dense "stuff and things" label (NYUv2 style):
              index into :data:`~course_lib.data.classes.DENSE_CLASSES`
instances     int64 (H, W) 0 = no object, k >= 1 = ``objects[k - 1]``
parts         int64 (H, W) body part, index into ``PART_NAMES``
              (0 none, 1 head, 2 torso, 3 legs, 4 arms)
depth         float32 (H, W) distance along the optical axis in metres
              (sky = ``SKY_DEPTH``)
objects       list of :class:`PastureObject`: category, VOC index, COCO id,
              visible and amodal masks, boxes, depth, crowd flag
============  =========================================================

Design choices that the notebooks rely on:

* Animals have **thin legs** (about 0.1 m wide, 1-3 pixels at 128 px): a
  coarse segmenter loses them while still scoring a high IoU.
* **Coats overlap between classes on purpose** (brown horses, brown dogs and
  brown cows; black-and-white cows and dogs), so colour alone cannot tell the
  classes apart and context and shape matter.
* The camera is a pinhole at 1.6 m above flat ground, so an object's size and
  its foot row both follow from its depth: ``y_foot = horizon + f * 1.6 / depth``.
* A distant flock of tiny sheep is sometimes one **crowd** region (COCO's
  ``iscrowd``), exported as RLE.

Examples
--------
>>> from course_lib.data import pasture
>>> scene = pasture.render_scene(7, size=128)
>>> scene.image.shape, scene.label.dtype.name
((128, 128, 3), 'int64')
>>> {o.category for o in scene.objects} <= {'cow', 'dog', 'horse', 'person', 'sheep'}
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._boundary import label_boundaries
from .._checks import as_tensor, check_int
from .classes import COCO_ID, DENSE_CLASSES, VOC_INDEX, VOC_VOID

__all__ = ["PastureObject", "Scene", "render_scene", "scenes", "void_border", "SKY_DEPTH",
           "CAMERA_HEIGHT"]

SKY_DEPTH = 80.0      # metres given to sky pixels (a depth sensor's "far")
CAMERA_HEIGHT = 1.6   # metres above the ground
_FOCAL = 1.7          # focal length in units of the image side
_MIN_SIZE, _MAX_SIZE = 32, 2048
_D = {name: DENSE_CLASSES.index(name) for name in DENSE_CLASSES}
_HEAD, _TORSO, _LEGS, _ARMS = 1, 2, 3, 4


@dataclass
class PastureObject:
    """One countable object (or one crowd region) of a scene."""

    instance_id: int
    category: str
    voc_index: int
    coco_id: int
    visible_mask: np.ndarray      # bool (H, W): pixels where the object is seen
    amodal_mask: np.ndarray       # bool (H, W): its whole extent, hidden parts included
    box: tuple                    # (x0, y0, x1, y1) of the visible mask, pixel edges
    amodal_box: tuple             # same for the amodal mask
    depth: float                  # metres
    iscrowd: bool = False

    @property
    def occlusion(self) -> float:
        """Fraction of the amodal extent hidden by nearer things (0 = fully visible)."""
        amodal = int(self.amodal_mask.sum())
        return 0.0 if amodal == 0 else 1.0 - int(self.visible_mask.sum()) / amodal


@dataclass
class Scene:
    """A rendered Pasture scene; see the module docstring for the fields."""

    image: np.ndarray
    label: np.ndarray
    dense: np.ndarray
    instances: np.ndarray
    parts: np.ndarray
    depth: np.ndarray
    objects: list = field(default_factory=list)
    seed: int = 0
    horizon: float = 0.0          # row of the horizon in pixels

    @property
    def boxes(self) -> np.ndarray:
        """float32 (K, 4) visible boxes ``(x0, y0, x1, y1)``."""
        return np.array([o.box for o in self.objects], dtype=np.float32).reshape(-1, 4)

    @property
    def box_labels(self) -> np.ndarray:
        """int64 (K,) VOC index of each box."""
        return np.array([o.voc_index for o in self.objects], dtype=np.int64)


# --------------------------------------------------------------------------- colours
_C = {
    "black": (0.10, 0.09, 0.09), "white": (0.93, 0.91, 0.87), "brown": (0.45, 0.28, 0.15),
    "dark_brown": (0.28, 0.17, 0.10), "chestnut": (0.62, 0.32, 0.13), "golden": (0.82, 0.62, 0.32),
    "grey": (0.62, 0.61, 0.60), "cream": (0.90, 0.86, 0.74), "dun": (0.70, 0.55, 0.36),
}
# (base coat, patch colour or None)
_COATS = {
    "cow": [("black", "white"), ("brown", None), ("dun", None), ("black", None),
            ("brown", "white"), ("white", "black")],
    "horse": [("brown", None), ("chestnut", None), ("black", None), ("grey", None),
              ("dark_brown", None), ("white", None)],
    "sheep": [("cream", None), ("white", None), ("grey", None)],
    "dog": [("brown", None), ("black", None), ("golden", None), ("white", "black"),
            ("black", "white"), ("chestnut", None)],
}
_SHIRTS = [(0.80, 0.20, 0.18), (0.20, 0.32, 0.70), _C["brown"], _C["white"], _C["black"],
           (0.90, 0.78, 0.20), (0.25, 0.50, 0.25)]
_TROUSERS = [(0.20, 0.25, 0.45), _C["dark_brown"], _C["black"], (0.45, 0.42, 0.35)]
_SKIN = [(0.95, 0.80, 0.66), (0.80, 0.60, 0.45), (0.55, 0.38, 0.25), (0.35, 0.22, 0.15)]
_SPECIES_P = {"cow": 0.30, "sheep": 0.22, "horse": 0.20, "dog": 0.12, "person": 0.16}


# --------------------------------------------------------------------------- primitives
class _Canvas:
    """Pixel-centre coordinates and shape-drawing helpers for one image."""

    def __init__(self, size: int):
        self.size = size
        c = np.arange(size, dtype=np.float32) + 0.5
        self.ys, self.xs = c[:, None], c[None, :]

    def _window(self, x0, y0, x1, y1):
        s = self.size
        r0, r1 = max(int(np.floor(y0)) - 1, 0), min(int(np.ceil(y1)) + 1, s)
        c0, c1 = max(int(np.floor(x0)) - 1, 0), min(int(np.ceil(x1)) + 1, s)
        return r0, r1, c0, c1

    def ellipse(self, cx, cy, rx, ry, angle=0.0):
        """Bool mask of a (rotated) ellipse; radii at least half a pixel."""
        rx, ry = max(rx, 0.5), max(ry, 0.5)
        ext = max(rx, ry)
        mask = np.zeros((self.size, self.size), bool)
        r0, r1, c0, c1 = self._window(cx - ext, cy - ext, cx + ext, cy + ext)
        if r0 >= r1 or c0 >= c1:
            return mask
        dx, dy = self.xs[:, c0:c1] - cx, self.ys[r0:r1] - cy
        ca, sa = np.cos(angle), np.sin(angle)
        u, v = dx * ca + dy * sa, -dx * sa + dy * ca
        mask[r0:r1, c0:c1] = (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
        return mask

    def capsule(self, x0, y0, x1, y1, r):
        """Bool mask of the points within ``r`` of the segment (x0, y0)-(x1, y1)."""
        r = max(r, 0.55)  # never thinner than about one pixel
        mask = np.zeros((self.size, self.size), bool)
        rr0, rr1, c0, c1 = self._window(min(x0, x1) - r, min(y0, y1) - r,
                                        max(x0, x1) + r, max(y0, y1) + r)
        if rr0 >= rr1 or c0 >= c1:
            return mask
        px, py = self.xs[:, c0:c1] - x0, self.ys[rr0:rr1] - y0
        vx, vy = x1 - x0, y1 - y0
        t = np.clip((px * vx + py * vy) / max(vx * vx + vy * vy, 1e-9), 0.0, 1.0)
        mask[rr0:rr1, c0:c1] = (px - t * vx) ** 2 + (py - t * vy) ** 2 <= r * r
        return mask

    def noise(self, rng, cells, amplitude):
        """Smooth value noise: a random ``cells x cells`` grid upsampled bilinearly."""
        grid = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
        t = np.linspace(0, cells, self.size, dtype=np.float32)
        i = np.minimum(t.astype(int), cells - 1)
        f = t - i
        rows = grid[i] * (1 - f)[:, None] + grid[i + 1] * f[:, None]        # (S, cells+1)
        out = rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]   # (S, S)
        return amplitude * out


class _Painter:
    """Holds the layers and paints things into them far to near."""

    def __init__(self, size, rng):
        self.cv = _Canvas(size)
        self.rng = rng
        self.image = np.zeros((size, size, 3), np.float32)
        self.dense = np.zeros((size, size), np.int64)
        self.instances = np.zeros((size, size), np.int64)
        self.parts = np.zeros((size, size), np.int64)
        self.depth = np.full((size, size), SKY_DEPTH, np.float32)

    def paint(self, mask, colour, dense, depth, *, instance=0, parts=None, texture=0.04):
        if not mask.any():
            return
        n = int(mask.sum())
        col = np.asarray(colour, np.float32)
        shade = col[None, :] * (1.0 + texture * self.rng.standard_normal((n, 1)).astype(np.float32))
        self.image[mask] = shade
        self.dense[mask] = dense
        self.instances[mask] = instance
        self.parts[mask] = 0 if parts is None else parts[mask]
        self.depth[mask] = depth


# --------------------------------------------------------------------------- scene parts
def _background(p: _Painter, horizon: float, focal: float):
    cv, rng, s = p.cv, p.rng, p.cv.size
    ys = cv.ys[:, 0]
    # Sky: a vertical gradient, paler at the horizon, with soft clouds.
    t = np.clip(ys / max(horizon, 1.0), 0, 1)[:, None]
    top = np.array([0.33, 0.58, 0.88], np.float32) * rng.uniform(0.9, 1.05)
    low = np.array([0.78, 0.86, 0.95], np.float32)
    sky = (1 - t) * top + t * low                                            # (S, 3)
    p.image[:] = sky[:, None, :]
    clouds = np.clip(cv.noise(rng, 4, 0.6) + rng.uniform(-0.6, 0.1), 0, 1)[..., None]
    p.image[:] = p.image * (1 - 0.6 * clouds) + 0.6 * clouds * np.float32(0.97)
    p.dense[:] = _D["sky"]
    # Grass: the ground plane below the horizon, depth from the pinhole camera.
    ground = (cv.ys > horizon + 0.5) & np.ones((1, s), bool)
    dy = np.maximum(cv.ys - horizon, 1e-3)
    ground_depth = np.minimum(focal * CAMERA_HEIGHT / dy, SKY_DEPTH) * np.ones((1, s), np.float32)
    far, near = np.array([0.58, 0.70, 0.38], np.float32), np.array([0.22, 0.50, 0.14], np.float32)
    w = np.clip((cv.ys - horizon) / max(s - horizon, 1.0), 0, 1)[..., None]   # (S, 1, 1)
    grass = (1 - w) * far + w * near
    patches = 1.0 + cv.noise(rng, 6, 0.10)[..., None] + cv.noise(rng, 24, 0.05)[..., None]
    grass = grass * patches
    p.image[ground] = (grass * np.ones((1, s, 1), np.float32))[ground]
    p.image[ground] *= 1.0 + 0.06 * rng.standard_normal((int(ground.sum()), 1)).astype(np.float32)
    p.dense[ground] = _D["grass"]
    p.depth[ground] = ground_depth[ground]


def _trees(p: _Painter, horizon, focal):
    rng, s = p.rng, p.cv.size
    depths = [rng.uniform(30, 60) for _ in range(rng.integers(2, 8))]
    if rng.random() < 0.25:  # sometimes one tree stands in the field
        depths.append(rng.uniform(12, 22))
    out = []
    for d in depths:
        scale = focal / d
        x = rng.uniform(-0.05, 1.05) * s
        foot = horizon + focal * CAMERA_HEIGHT / d
        out.append((d, lambda p, x=x, foot=foot, scale=scale, d=d: _draw_tree(p, x, foot, scale, d)))
    return out


def _draw_tree(p, x, foot, scale, d):
    rng, cv = p.rng, p.cv
    h = rng.uniform(6, 11) * scale
    trunk = cv.capsule(x, foot, x, foot - 0.45 * h, 0.25 * scale)
    p.paint(trunk, (0.33, 0.24, 0.15), _D["tree"], d)
    crown = np.zeros_like(trunk)
    cr = rng.uniform(2.0, 3.2) * scale
    for _ in range(rng.integers(3, 6)):
        cx = x + rng.uniform(-0.8, 0.8) * cr
        cy = foot - 0.45 * h - rng.uniform(0.2, 1.2) * cr
        crown |= cv.ellipse(cx, cy, cr * rng.uniform(0.7, 1.1), cr * rng.uniform(0.7, 1.0))
    green = np.array([0.13, 0.33, 0.12]) * rng.uniform(0.8, 1.25)
    p.paint(crown, green, _D["tree"], d, texture=0.15)


def _fence(p: _Painter, horizon, focal):
    rng, s = p.rng, p.cv.size
    d = rng.uniform(7, 16)
    scale = focal / d
    foot = horizon + focal * CAMERA_HEIGHT / d
    x0 = rng.uniform(-0.2, 0.4) * s
    x1 = rng.uniform(0.6, 1.2) * s
    wood = (0.55, 0.45, 0.34) if rng.random() < 0.6 else (0.62, 0.60, 0.56)

    def draw(p):
        cv = p.cv
        mask = np.zeros((s, s), bool)
        spacing = 2.5 * scale
        for k in range(int((x1 - x0) / spacing) + 1):
            px = x0 + k * spacing
            mask |= cv.capsule(px, foot, px, foot - 1.25 * scale, 0.07 * scale)
        for hgt in (0.55, 1.05):
            mask |= cv.capsule(x0, foot - hgt * scale, x1, foot - hgt * scale, 0.05 * scale)
        p.paint(mask, wood, _D["fence"], d, texture=0.08)

    return [(d, draw)]


def _coat(rng, species):
    base, patch = _COATS[species][rng.integers(len(_COATS[species]))]
    tint = rng.uniform(0.9, 1.1)
    return np.array(_C[base]) * tint, (None if patch is None else np.array(_C[patch]))


def _quadruped(cv, rng, species, x, foot, scale, facing):
    """Masks of a side-view four-legged animal: list of (mask, part)."""
    # Body plan in metres: length, torso height, leg length, leg half-width, head rx, ry.
    plan = {"cow": (2.0, 0.80, 0.70, 0.065, 0.30, 0.20),
            "horse": (1.9, 0.70, 1.00, 0.050, 0.34, 0.14),
            "sheep": (1.2, 0.62, 0.38, 0.040, 0.20, 0.14),
            "dog": (0.85, 0.32, 0.32, 0.035, 0.17, 0.12)}[species]
    L, H, leg, lw, hx, hy = (v * scale * rng.uniform(0.92, 1.08) for v in plan)
    f = facing  # +1 faces right, -1 faces left
    cy = foot - leg - 0.45 * H                   # torso centre row
    shapes = []
    # Far-side legs first (hidden behind the torso partly), then the torso, then near legs.
    def legs(offset, near):
        out = []
        for front in (True, False):
            lx = x + f * (0.36 if front else -0.36) * L + offset
            swing = rng.uniform(-0.18, 0.18) * leg
            out.append((cv.capsule(lx, cy + 0.2 * H, lx + swing, foot - lw, lw), _LEGS))
        return out
    shapes += legs(0.10 * L * f, near=False)
    torso = cv.ellipse(x, cy, 0.5 * L, 0.5 * H)
    if species == "sheep":  # fluffy wool: bumps along the outline
        for a in np.linspace(0, 2 * np.pi, 10, endpoint=False):
            torso |= cv.ellipse(x + 0.45 * L * np.cos(a), cy + 0.42 * H * np.sin(a),
                                0.16 * L, 0.2 * H)
    # Tail: thin, at the back; counted as torso.
    tx = x - f * 0.5 * L
    torso |= cv.capsule(tx, cy - 0.25 * H, tx - f * 0.08 * L, cy + 0.45 * H, 0.6 * lw)
    shapes.append((torso, _TORSO))
    shapes += legs(0.0, near=True)
    # Neck and head at the front.
    nx, ny = x + f * 0.45 * L, cy - 0.25 * H
    if species == "horse":
        hx_, hy_ = nx + f * 0.30 * L, ny - 0.42 * L
        shapes.append((cv.capsule(nx, ny, hx_, hy_, 0.13 * L), _TORSO))
        head = cv.ellipse(hx_ + f * 0.16 * L, hy_ + 0.10 * L, hx, hy, angle=f * 0.7)
    else:
        lift = {"cow": 0.1, "sheep": 0.25, "dog": 0.55}[species] * H
        head = cv.ellipse(nx + f * 0.6 * hx, ny - lift, hx, hy, angle=f * 0.3)
        if species == "dog":  # ears
            head |= cv.ellipse(nx + f * 0.3 * hx, ny - lift - 0.9 * hy, 0.35 * hx, 0.6 * hy)
    shapes.append((head, _HEAD))
    return shapes


def _person(cv, rng, x, foot, scale, facing):
    h = rng.uniform(1.6, 1.9) * scale
    leg_len, torso_h, lw = 0.48 * h, 0.32 * h, 0.045 * h
    hip, shoulder = foot - leg_len, foot - leg_len - torso_h
    shapes = []
    for dx in (-0.05 * h, 0.05 * h):
        shapes.append((cv.capsule(x + dx, hip, x + dx + rng.uniform(-0.06, 0.06) * h, foot - lw,
                                  lw), _LEGS))
    shapes.append((cv.capsule(x, hip - 0.04 * h, x, shoulder + 0.05 * h, 0.11 * h), _TORSO))
    for side in (-1, 1):
        ang = rng.uniform(0.15, 0.9)
        ex = x + side * (0.1 * h + np.sin(ang) * 0.3 * h)
        shapes.append((cv.capsule(x + side * 0.1 * h, shoulder + 0.03 * h, ex,
                                  shoulder + np.cos(ang) * 0.3 * h, 0.03 * h), _ARMS))
    shapes.append((cv.ellipse(x, shoulder - 0.07 * h, 0.06 * h, 0.07 * h), _HEAD))
    return shapes


def _thing(p: _Painter, species, x, d, horizon, focal, *, crowd_members=None):
    """Return a draw function for one object (or a crowd of small sheep)."""
    rng, cv, s = p.rng, p.cv, p.cv.size
    members = crowd_members or [(x, d)]
    facing = 1 if rng.random() < 0.5 else -1
    if species == "person":
        colours = {_LEGS: np.array(_TROUSERS[rng.integers(len(_TROUSERS))]),
                   _TORSO: np.array(_SHIRTS[rng.integers(len(_SHIRTS))]),
                   _HEAD: np.array(_SKIN[rng.integers(len(_SKIN))])}
        colours[_ARMS] = colours[_TORSO]
        patch = None
    else:
        base, patch = _coat(rng, species)
        colours = {k: base for k in (_HEAD, _TORSO, _LEGS)}
        if species == "sheep" and rng.random() < 0.6:
            colours[_HEAD] = colours[_LEGS] = np.array(_C["black"])
    patch_mask = None
    if patch is not None:
        patch_mask = (cv.noise(rng, max(4, int(s / (focal / d) / 0.6)), 1.0) > 0.35)

    def shapes():
        out = []
        for mx, md in members:
            foot = horizon + focal * CAMERA_HEIGHT / md
            sc = focal / md
            f = facing if crowd_members is None else (1 if rng.random() < 0.5 else -1)
            if species == "person":
                out += _person(cv, rng, mx, foot, sc, f)
            else:
                out += _quadruped(cv, rng, species, mx, foot, sc, f)
        return out

    shape_list = shapes()
    amodal = np.zeros((s, s), bool)
    part_map = np.zeros((s, s), np.int64)
    colour_img = np.zeros((s, s, 3), np.float32)
    for mask, part in shape_list:
        amodal |= mask
        part_map[mask] = part
        colour_img[mask] = colours[part]
    if patch_mask is not None:
        colour_img[amodal & patch_mask] = patch
    # Shading: lit from above, darker towards the feet.
    rows = np.nonzero(amodal.any(1))[0]
    if rows.size:
        t = np.clip((cv.ys - rows[0]) / max(rows[-1] - rows[0] + 1, 1), 0, 1)[..., None]
        colour_img *= (1.1 - 0.3 * t)

    def draw(p, instance):
        if not amodal.any():
            return None
        n = int(amodal.sum())
        p.image[amodal] = colour_img[amodal] * (
            1.0 + 0.05 * rng.standard_normal((n, 1)).astype(np.float32))
        p.dense[amodal] = _D[species]
        p.instances[amodal] = instance
        p.parts[amodal] = part_map[amodal]
        p.depth[amodal] = d
        return amodal

    return draw


def _blur(img):
    """A light 3x3 blur: the optics of a camera (labels stay exact)."""
    pad = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    acc = sum(pad[i:i + img.shape[0], j:j + img.shape[1]] for i in range(3) for j in range(3))
    return 0.55 * img + 0.45 * acc / 9.0


def _box(mask):
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return (0.0, 0.0, 0.0, 0.0)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


# --------------------------------------------------------------------------- public API
def _check_seed_size(seed, size):
    if check_int(seed, "seed") < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if not _MIN_SIZE <= check_int(size, "size") <= _MAX_SIZE:
        raise ValueError(f"size must be in [{_MIN_SIZE}, {_MAX_SIZE}] pixels, got {size}")


def render_scene(seed: int, size: int = 128) -> Scene:
    """Render the Pasture scene number ``seed`` as a ``size x size`` image.

    Parameters
    ----------
    seed : int
        Non-negative scene number; the same seed always gives the same scene.
    size : int, optional
        Side of the square image in pixels (32 to 2048). The same ``(seed, size)``
        always gives the same scene; the random draws depend on the size too, so
        one seed at two sizes gives two *different* scenes.

    Returns
    -------
    Scene
        Image and every label (see the module docstring).

    Raises
    ------
    TypeError, ValueError
        If ``seed`` or ``size`` is not an int in range.
    """
    _check_seed_size(seed, size)
    rng = np.random.default_rng([int(seed), 20241125])
    p = _Painter(int(size), rng)
    focal = _FOCAL * size
    horizon = float(rng.uniform(0.30, 0.42) * size)
    _background(p, horizon, focal)

    # Collect everything drawable with its depth, then paint far to near.
    items = [(d, "stuff", fn) for d, fn in _trees(p, horizon, focal)]
    if rng.random() < 0.55:
        items += [(d, "stuff", fn) for d, fn in _fence(p, horizon, focal)]
    n_things = int(rng.integers(2, 7))
    names, probs = list(_SPECIES_P), np.array(list(_SPECIES_P.values()))
    for _ in range(n_things):
        species = names[rng.choice(len(names), p=probs / probs.sum())]
        d = 6.5 + 22.0 * rng.random() ** 1.2
        x = rng.uniform(-0.05, 1.05) * size
        items.append((d, ("thing", species, False), _thing(p, species, x, d, horizon, focal)))
    if rng.random() < 0.3:  # a distant flock: one crowd region
        d0, x0 = rng.uniform(26, 38), rng.uniform(0.15, 0.85) * size
        members = [(x0 + rng.normal(0, 0.07) * size, d0 + rng.normal(0, 1.5))
                   for _ in range(int(rng.integers(5, 11)))]
        items.append((d0, ("thing", "sheep", True),
                      _thing(p, "sheep", x0, d0, horizon, focal, crowd_members=members)))

    items.sort(key=lambda it: -it[0])
    drawn = []  # (instance id, species, crowd, depth, amodal)
    for d, kind, fn in items:
        if kind == "stuff":
            fn(p)
            continue
        _, species, crowd = kind
        instance = len(drawn) + 1
        amodal = fn(p, instance)
        if amodal is not None:
            drawn.append((instance, species, crowd, d, amodal))

    # Objects hidden completely (or outside the frame) are dropped; ids become 1..K.
    remap = np.zeros(len(drawn) + 1, np.int64)
    objects = []
    for instance, species, crowd, d, amodal in drawn:
        visible = p.instances == instance
        if not visible.any():
            continue
        new_id = len(objects) + 1
        remap[instance] = new_id
        objects.append(PastureObject(
            instance_id=new_id, category=species, voc_index=VOC_INDEX[species],
            coco_id=COCO_ID[species], visible_mask=visible, amodal_mask=amodal,
            box=_box(visible), amodal_box=_box(amodal), depth=float(d), iscrowd=crowd))
    instances = remap[p.instances]
    label = np.zeros((size, size), np.int64)
    for o in objects:
        label[o.visible_mask] = o.voc_index
    parts = np.where(instances > 0, p.parts, 0)
    image = np.clip(_blur(p.image), 0, 1)
    return Scene(image=(image * 255 + 0.5).astype(np.uint8), label=label, dense=p.dense.copy(),
                 instances=instances, parts=parts, depth=p.depth.copy(), objects=objects,
                 seed=int(seed), horizon=horizon)


def scenes(n: int, seed: int = 0, size: int = 128) -> list:
    """Render ``n`` consecutive scenes: ``render_scene(seed + i, size)`` for i < n."""
    if check_int(n, "n") < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    _check_seed_size(seed, size)
    return [render_scene(seed + i, size) for i in range(n)]


def void_border(label: np.ndarray, width: int = 2) -> np.ndarray:
    """Return a copy of ``label`` with Pascal VOC's "void" band on object outlines.

    VOC annotators could not say exactly where an object ends, so a band about
    5 pixels wide around each object outline is marked 255 ("void") and ignored
    by training and evaluation. Here the pixels on both sides of every outline
    (4-neighbours with different labels, the boundary definition of
    :func:`course_lib.metrics.boundaries` with ``connectivity=4``) become 255, and the band
    grows by ``width // 2 - 1`` pixels on each side.

    The band is symmetric, so its width is even: it is ``2 * max(1, width // 2)`` pixels
    wide. An odd width rounds down (3 gives 2, 5 gives 4) and 1 rounds up to 2.

    Parameters
    ----------
    label : ndarray of int (H, W)
        Semantic (or instance) label map, any integer dtype.
    width : int
        Band width in pixels (>= 1); ``2`` marks the pixel on each side.

    Returns
    -------
    ndarray (H, W)
        In ``label``'s dtype, or the narrowest wider one that holds 255 (int8 becomes
        int16), so that void never wraps around.

    Raises
    ------
    TypeError
        If ``label`` does not hold integers or ``width`` is not an integer.
    ValueError
        If ``label`` is not 2-D, holds a negative value, or ``width < 1``.
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"label must be an integer (H, W) array, got shape {label.shape}")
    if not np.issubdtype(label.dtype, np.integer):
        raise TypeError(f"label must be an integer (H, W) array, got dtype {label.dtype}")
    width = check_int(width, "width", low=1)
    if label.size and int(label.min()) < 0:
        raise ValueError(f"label must hold class ids >= 0, got minimum {int(label.min())}")
    edge = label_boundaries(as_tensor(label, "label"), connectivity=4).numpy()
    # (each step grows the band by one 4-neighbour step: after H + W steps it covers the
    # image, so a wider band changes nothing)
    for _ in range(min(width // 2 - 1, sum(label.shape))):
        grown = edge.copy()
        grown[1:] |= edge[:-1]
        grown[:-1] |= edge[1:]
        grown[:, 1:] |= edge[:, :-1]
        grown[:, :-1] |= edge[:, 1:]
        edge = grown
    out = label.astype(np.promote_types(label.dtype, np.uint8))
    out[edge] = VOC_VOID
    return out


