"""Conditional random fields for segmentation.

* unaries from per-class appearance models (:mod:`.unary`);
* the 4/8-connected grid CRF: Potts / contrast-sensitive energy, ICM, mean field, graph cut
  (:mod:`.grid`);
* the fully connected CRF of Krähenbühl & Koltun with mean field as Gaussian filtering
  (:mod:`.dense`), done by the permutohedral lattice or by brute force (:mod:`.permutohedral`).
"""

from . import dense, grid, permutohedral, unary
from .dense import *  # noqa: F403
from .grid import *  # noqa: F403
from .permutohedral import *  # noqa: F403
from .unary import *  # noqa: F403

__all__ = list(dict.fromkeys([*dense.__all__, *permutohedral.__all__, *unary.__all__,
                             *grid.__all__]))
