"""Helpers shared by several test files (imported as ``helpers``: tests/ is on sys.path)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def overfit_one_scene(net: torch.nn.Module, size: int, *, steps: int = 60,
                      lr: float = 1e-2) -> tuple[list[float], float, float]:
    """Train ``net`` with Adam for ``steps`` steps on Pasture scene 3 at ``size`` px.

    Returns the losses, the final pixel accuracy on that image and the background share (the
    accuracy of predicting background everywhere). Seed torch before building ``net``.
    """
    from course_lib.data import pasture

    scene = pasture.render_scene(3, size)
    x = torch.from_numpy(scene.image).permute(2, 0, 1)[None].float() / 255
    y = torch.from_numpy(scene.label)[None]
    opt = torch.optim.Adam(net.parameters(), lr)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    acc = float((net(x).argmax(1) == y).double().mean())
    background = float((y == 0).double().mean())
    return losses, acc, background
