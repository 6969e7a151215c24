import json
import subprocess
import sys

import numpy as np
import pytest

from breathing_lib.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "breathing_lib", *map(str, args)], capture_output=True, text=True)


SMALL = ["--num-points", 16, "--num-time-steps", 8, "--epochs", 3, "--lbfgs-steps", 0, "--quiet"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    done = run("train", "--out", out, "--beta0", 3.0, "--period", 2.0, "--t-final", 1.0, "--no-adjoint", *SMALL)
    assert done.returncode == 0, done.stderr
    return out


def test_train_writes_checkpoint_and_metrics(checkpoint):
    metrics = json.loads((checkpoint / "metrics.json").read_text())
    assert {"train_mse", "epochs", "wall_seconds", "device"} <= set(metrics)
    assert metrics["epochs"] == 3 and metrics["device"] in ("cpu", "cuda")


def test_evaluate_prints_one_json_report(checkpoint):
    done = run("evaluate", checkpoint / "model.pt", "--num-points", 24, "--num-time-steps", 5)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for key in ("curve_mse", "max_point_error", "area_rel_drift", "self_intersections", "field_rel_error"):
        assert np.isfinite(report[key])


def test_predict_writes_the_contracted_arrays(checkpoint, tmp_path):
    out = tmp_path / "traj.npz"
    done = run("predict", checkpoint / "model.pt", "--out", out, "--num-points", 30, "--num-time-steps", 7,
               "--t-final", 4.0)
    assert done.returncode == 0, done.stderr
    data = np.load(out)
    assert data["t"].shape == (7,) and data["x"].shape == (7, 30, 2)
    assert data["t"][-1] == pytest.approx(4.0)
    # the first frame is the seed's initial curve of the trained problem (beta0 = 3)
    theta = np.linspace(0, 2 * np.pi, 30)
    np.testing.assert_allclose(data["x"][0], np.stack([np.sqrt(3) * np.cos(theta), np.sin(theta) / np.sqrt(3)], 1),
                               atol=1e-6)


@pytest.mark.parametrize(
    "args, word",
    [(["train", "--out", "X", "--beta0", 0], "beta0"),
     (["train", "--out", "X", "--beta0", -1], "beta0"),
     (["train", "--out", "X", "--beta0", "nan"], "beta0"),
     (["train", "--out", "X", "--num-points", 2], "num_points"),
     (["train", "--out", "X", "--t-final", 0], "t_final"),
     (["train", "--out", "X", "--lr", "nan"], "lr"),
     (["evaluate", "missing.pt"], "not found"),
     (["predict", "missing.pt", "--out", "x.npz"], "not found")],
)
def test_bad_input_exits_nonzero_with_one_line(args, word, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([str(a) for a in args]) != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and word in lines[0]
    assert not (tmp_path / "X").exists()


def test_corrupt_checkpoint_and_bad_grid(checkpoint, tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes((checkpoint / "model.pt").read_bytes()[:300])
    for args, word in [(["evaluate", bad], "corrupt"), (["evaluate", checkpoint / "model.pt", "--num-points", 0], "num_points"),
                       (["evaluate", checkpoint / "model.pt", "--t-final", -1], "t_final")]:
        assert main([str(a) for a in args]) != 0
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and word in lines[0]


def test_the_module_exits_with_the_error_code_and_no_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "breathing_lib", "evaluate", str(tmp_path / "none.pt")],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: checkpoint not found") and "Traceback" not in done.stderr


def test_original_flag_starts_from_the_original_recipe_and_options_override():
    from breathing_lib import TrainConfig
    from breathing_lib.cli import _parser, _train_config, train_config

    parse = _parser().parse_args
    assert _train_config(parse(["train", "--out", "x"])) == TrainConfig()
    assert _train_config(parse(["train", "--out", "x", "--original"])) == TrainConfig.original()
    tuned = _train_config(parse(["train", "--out", "x", "--original", "--epochs", "7", "--no-adjoint", "--beta0", "3"]))
    assert tuned == TrainConfig.original(epochs=7, adjoint=False, beta0=3.0)
    fixed = train_config(["train", "--out", "x", "--original", "--time-scale", "window"])
    assert fixed == TrainConfig.original(time_scale="window")


@pytest.mark.parametrize("model_args", [["--model", "autonomous"], ["--model", "phase", "--omega", 5.5, "--learn-omega"],
                                        ["--model", "second-order"], ["--model", "stream"]])
def test_every_model_trains_and_predicts_beyond_the_window(model_args, tmp_path, capsys):
    def cli(*args):  # in process: the subprocess contract is covered above
        assert main([str(a) for a in args]) == 0
        return capsys.readouterr().out

    cli("train", "--out", tmp_path, *model_args, *SMALL)
    out = tmp_path / "traj.npz"
    cli("predict", tmp_path / "model.pt", "--out", out, "--num-time-steps", 9, "--t-final", 4.5)
    assert np.load(out)["x"].shape == (9, 16, 2) and np.isfinite(np.load(out)["x"]).all()
    report = json.loads(cli("evaluate", tmp_path / "model.pt"))
    assert np.isfinite(report["curve_mse"])
    # the second-order model's velocity is state, not a field of position: no field error to report
    assert (report["field_rel_error"] is None) == (model_args[1] == "second-order")


def test_the_former_model_name_still_trains_the_time_input_field_and_says_it_is_deprecated(capsys):
    from breathing_lib import TrainConfig
    from breathing_lib.cli import train_config

    assert train_config(["train", "--out", "x", "--model", "seed"]) == TrainConfig(model="time-input")
    assert "--model seed is deprecated: it is now called time-input" in capsys.readouterr().err
    assert train_config(["train", "--out", "x", "--model", "time-input"]).model == "time-input"
    assert capsys.readouterr().err == ""
