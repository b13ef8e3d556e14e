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


@pytest.fixture(params=["compiled", "torch"])
def lattice_build(request, monkeypatch):
    """How lattices are built on the CPU: by the compiled loops (numba, the default) or by the
    torch operations that CUDA uses; a module that lists it in ``pytestmark`` runs twice."""
    from course_lib.crf import permutohedral
    if request.param == "compiled" and not permutohedral._use_native(torch.device("cpu")):
        pytest.skip("numba is not installed")
    monkeypatch.setattr(permutohedral, "_NATIVE", request.param == "compiled")
    return request.param
