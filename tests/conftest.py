"""Shared fixtures: every device test runs on the CPU always, and on CUDA when present."""

import pytest
import torch

_CUDA = pytest.param(
    "cuda",
    marks=[pytest.mark.cuda,
           pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")],
)


@pytest.fixture(params=["cpu", _CUDA])
def device(request):
    """A ``torch.device``: ``cpu``, and ``cuda`` when a GPU is present (else skipped)."""
    return torch.device(request.param)
