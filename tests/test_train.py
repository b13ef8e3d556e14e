"""course_lib.train: config keys, fit, evaluate, checkpoints, the model cache, and
data-parallel training under torchrun equal to single-process training."""

import json
import os
import subprocess
import sys

import pytest
import torch

from course_lib import train
from course_lib.data.rendered import PastureSegmentation
from course_lib.models import FCN, SmallVGG


def _tiny_net(num_classes=21):
    return FCN(num_classes, ("pool4",), backbone=SmallVGG((4, 8, 8, 8, 8), (1, 1, 1, 1, 1)),
               head_channels=8, dropout=0.0)


def _toy_data(n=8, size=32, seed=0):
    """Images whose left half is class 10 (bright) and right half background (dark)."""
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 3, size, size, generator=g) * 60).to(torch.uint8)
    labels = torch.zeros(n, size, size, dtype=torch.uint8)
    images[..., : size // 2] += 150
    labels[..., : size // 2] = 10
    labels[:, 0, :] = 255                                   # a void row
    return PastureSegmentation(images, labels)


# --------------------------------------------------------------------------- config
def test_config_key_is_stable_and_changes_with_every_field():
    a, b = train.TrainConfig("fcn8s"), train.TrainConfig("fcn8s")
    assert a.key() == b.key() and len(a.key()) == 16
    for change in (dict(steps=301), dict(seed=1), dict(lr=1e-3), dict(model="fcn16s"),
                   dict(train_scenes=10), dict(augment=False), dict(model_kwargs={"dropout": 0.2})):
        assert train.TrainConfig(**{"model": "fcn8s", **change}).key() != a.key(), change


def test_config_round_trips_through_a_dict():
    cfg = train.TrainConfig("fcn16s", model_kwargs={"head_channels": 64}, scale=(0.5, 2.0))
    assert train.TrainConfig.from_dict(json.loads(json.dumps(cfg.as_dict()))) == cfg
    assert cfg.build_model().head[0].out_channels == 64


@pytest.mark.parametrize("kwargs, match", [
    (dict(model="unet"), "model must be one of"),
    (dict(steps=0), "steps must be an integer >= 1, got 0"),
    (dict(crop_size=-8), "crop_size must be an integer >= 1, got -8"),
    (dict(lr=float("nan")), "lr must be finite, got nan"),
    (dict(lr=0.0), "lr must be > 0, got 0"),
    (dict(warmup=1.0), r"warmup must be >= 0 and < 1, got 1"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train.TrainConfig(**{"model": "fcn32s", **kwargs})


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=2.5), "batch_size must be an integer, got float"),
    (dict(steps=True), "steps must be an integer, got bool"),
    (dict(num_classes="21"), "num_classes must be an integer, got str"),
    (dict(lr=True), "lr must be a real number, got bool"),
    (dict(lr="4e-3"), "lr must be a real number, got str"),
    (dict(warmup="0.1"), "warmup must be a real number, got str"),
])
def test_config_rejects_values_of_a_wrong_type(kwargs, match):
    with pytest.raises(TypeError, match=match):
        train.TrainConfig(**{"model": "fcn32s", **kwargs})


def test_config_numpy_scalars_give_the_key_of_python_numbers():
    import numpy as np

    cfg = train.TrainConfig("fcn32s", steps=np.int64(480), batch_size=np.int32(16),
                            lr=np.float64(4e-3), warmup=np.float64(0.05))
    assert cfg == train.TrainConfig() and cfg.key() == train.TrainConfig().key()
    assert type(cfg.steps) is int and type(cfg.lr) is float
    assert type(train.TrainConfig(lr=1).lr) is int      # ordinary values are stored as given


# --------------------------------------------------------------------------- fit / evaluate
def test_fit_learns_a_toy_problem_and_records_history():
    torch.manual_seed(0)
    net = _tiny_net()
    data = _toy_data()
    history = train.fit(net, data, steps=40, batch_size=4, lr=1e-2, eval_every=10,
                        progress=False, val=data)
    assert [r["step"] for r in history.rows] == [10, 20, 30, 40]
    assert history.rows[-1]["loss"] < 0.5 * history.rows[0]["loss"]
    result = train.evaluate(net, data)
    assert result.pixel_accuracy > 0.95
    assert set(torch.nonzero(~torch.isnan(result.iou)).flatten().tolist()) == {0, 10}
    assert abs(history.rows[-1]["val_miou"] - result.miou) < 1e-9
    assert not net.training


def test_fit_raises_when_the_loss_becomes_nan():
    data = _toy_data()
    net = _tiny_net()
    with torch.no_grad():
        net.score.bias.fill_(float("nan"))
    with pytest.raises(train.TrainingDiverged, match=r"loss became nan at step 0 \(lr"):
        train.fit(net, data, steps=3, batch_size=4, progress=False)


def test_fit_rejects_bad_arguments():
    data = _toy_data()
    with pytest.raises(TypeError, match="net must be a torch.nn.Module"):
        train.fit("net", data, steps=1)
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        train.fit(_tiny_net(), data, steps=0)
    with pytest.raises(TypeError, match="steps must be an integer, got bool"):
        train.fit(_tiny_net(), data, steps=True)
    with pytest.raises(TypeError, match="batch_size must be an integer, got float"):
        train.fit(_tiny_net(), data, steps=1, batch_size=4.0)
    with pytest.raises(TypeError, match="lr must be a real number, got str"):
        train.fit(_tiny_net(), data, steps=1, lr="1e-3")
    with pytest.raises(ValueError, match="lr must be > 0, got -1"):
        train.fit(_tiny_net(), data, steps=1, lr=-1.0)
    with pytest.raises(ValueError, match="fewer than one batch of 16"):
        train.fit(_tiny_net(), data, steps=1, batch_size=16)


def test_predict_and_evaluate_keep_shapes():
    net = _tiny_net().eval()
    data = _toy_data(n=3)
    pred = train.predict(net, data.images.float() / 255)
    assert pred.shape == (3, 32, 32) and pred.dtype == torch.int64
    r = train.evaluate(net, data, keep_predictions=True)
    assert r.predictions.shape == (3, 32, 32)
    assert "mIoU" in r.table()


# --------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip(tmp_path):
    cfg = train.TrainConfig("fcn32s", steps=5)
    net = cfg.build_model()
    history = train.History([{"step": 5, "loss": 1.0}])
    path = train.save_checkpoint(tmp_path / "m.pt", net, cfg, history)
    loaded, saved_cfg, saved_history = train.load_checkpoint(path, cfg)
    assert saved_cfg == cfg and saved_history.rows == history.rows
    for (k, v), w in zip(net.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(v, w), k


def test_checkpoint_from_another_configuration_is_refused(tmp_path):
    cfg = train.TrainConfig("fcn32s", steps=5)
    path = train.save_checkpoint(tmp_path / "m.pt", cfg.build_model(), cfg)
    with pytest.raises(ValueError, match=r"m\.pt was trained with another configuration.*steps"):
        train.load_checkpoint(path, train.TrainConfig("fcn32s", steps=6))


def test_checkpoint_that_is_not_ours_is_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"weights": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match=r"bad\.pt is not a course_lib checkpoint"):
        train.load_checkpoint(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a course_lib checkpoint"):
        train.load_checkpoint(junk)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train.load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_loading_runs_no_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"config": Evil()}, path)
    with pytest.raises(ValueError, match="not a course_lib checkpoint"):
        train.load_checkpoint(path)


# --------------------------------------------------------------------------- model cache
def test_train_or_load_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.delenv("COURSE_RETRAIN", raising=False)
    monkeypatch.setattr(train, "training_data", lambda cfg, progress=True: _toy_data())
    cfg = train.TrainConfig("fcn32s", steps=2, batch_size=4, model_kwargs={"head_channels": 8})
    calls = []
    real_fit = train.fit
    monkeypatch.setattr(train, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    net1, _ = train.train_or_load(cfg, device="cpu", progress=False)
    net2, _ = train.train_or_load(cfg, device="cpu", progress=False)
    assert len(calls) == 1
    assert (tmp_path / "models" / f"fcn32s-{cfg.key()}.pt").is_file()
    for v, w in zip(net1.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(v, w)
    train.train_or_load(cfg, device="cpu", progress=False, force=True)
    monkeypatch.setenv("COURSE_RETRAIN", "1")
    train.train_or_load(cfg, device="cpu", progress=False)
    assert len(calls) == 3


# --------------------------------------------------------------------------- data parallel
def _cli(tmp_path, out, nproc):
    env = dict(os.environ, COURSE_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    args = ["--model", "fcn16s", "--steps", "4", "--batch-size", "8", "--train-scenes", "16",
            "--image-size", "64", "--lr", "0.003", "--device", "cpu", "--float64", "--out",
            str(out)]
    if nproc == 1:
        cmd = [sys.executable, "-m", "course_lib.train", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "course_lib.train", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return torch.load(out, weights_only=True)["state_dict"]


@pytest.mark.slow
def test_two_processes_train_the_same_weights_as_one(tmp_path):
    """torchrun with 2 gloo processes x 4 items = one process x 8 items, step for step.

    Trained in float64 and compared within 1e-9: the two runs add the same numbers in a
    different order (the synchronised batch norm sums E[x] and E[x^2] over the processes,
    BatchNorm2d takes a two-pass variance), and Adam divides a gradient by its own size, so
    in float32 a weight whose gradient is ~1e-8 (rounding noise) can move by a full step
    of lr in either direction. In float64 that noise is ~1e-16 and stays invisible.
    """
    single = _cli(tmp_path, tmp_path / "one.pt", 1)
    double = _cli(tmp_path, tmp_path / "two.pt", 2)
    torch.manual_seed(0)                  # the CLI seeds the weights with --seed (0)
    init = FCN(21, ("pool4",)).state_dict()
    moved = 0.0
    for name, w in single.items():
        if w.is_floating_point():
            assert w.dtype == torch.float64
            torch.testing.assert_close(double[name], w, atol=1e-9, rtol=0, msg=name)
            moved = max(moved, float((w.float() - init[name]).abs().max()))
        else:
            assert torch.equal(double[name], w), name
    assert moved > 1e-3, "the weights did not move: the test would not see a difference"


def test_cli_help_runs():
    done = subprocess.run([sys.executable, "-m", "course_lib.train", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--model" in done.stdout
