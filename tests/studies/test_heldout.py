import html
import inspect
import math
import re
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from breathing_lib import BreathingEllipse, ConfigError, TrainConfig
from breathing_lib.checks import CheckFailed, Checks, rounding
from breathing_lib.models import AnalyticField
from breathing_lib.solve import integrate
from breathing_lib.studies import heldout
from breathing_lib.studies.heldout import BEYOND, BOOK_MODELS, IN_SAMPLE, heldout_errors, heldout_table, plot_heldout
from breathing_lib.viz.tables import html_table

SETTINGS = [IN_SAMPLE, "N = 17", "N = 600", "4x times", BEYOND]
TOLERANCE = {name: inspect.signature(integrate).parameters[name].default for name in ("rtol", "atol")}


class StopsAt(nn.Module):
    """The exact field up to t_stop, and no motion after: right in the window, wrong beyond it."""

    def __init__(self, problem, t_stop):
        super().__init__()
        self.problem, self.t_stop = problem, t_stop

    def forward(self, t, h):
        return self.problem.velocity(h, t) * (t <= self.t_stop)


def tolerance_bound(problem: BreathingEllipse, nfe: int) -> float:
    """An upper bound on the curve MSE of the exact field's dopri5 flow, from the solver's tolerances.

    dopri5 accepts a step when the RMS over all components of its local error estimate is under
    atol + rtol |x|, and rounds each update y + h sum b_i k_i by a few float32 ulps of |x| (8
    allowed). The exact flow is linear and carries an error made at time s to time t multiplied
    by the stretch sqrt(beta(t) / beta(s)) or its inverse, at most beta0 (beta spans [1/beta0,
    beta0]); so by the triangle inequality for the RMS norm the RMS error at any output time is
    at most beta0 times the sum over the steps of the per-step error. Every attempted step costs
    six new evaluations (the seventh stage is the next step's first), so nfe / 6 bounds the
    steps. The true curve is itself rounded to float32 (8 more ulps). The curve MSE is the
    square of that RMS. The controller's estimate stands in for the true local error; dopri5
    advances with its higher-order solution, whose error is smaller in practice.
    """
    scale = problem.xi * math.sqrt(problem.beta0)  # the largest coordinate of the curve
    per_step = TOLERANCE["rtol"] * scale + TOLERANCE["atol"] + rounding(scale, torch.float32, ulps=8)
    rms = problem.beta0 * math.ceil(nfe / 6) * per_step + rounding(scale, torch.float32, ulps=8)
    return rms**2


def number_of_values(config: TrainConfig, setting: str, points: int) -> int:
    times = {IN_SAMPLE: config.num_time_steps, "4x times": 4 * config.num_time_steps,
             BEYOND: config.num_time_steps - 1}.get(setting, config.num_time_steps)
    return 2 * points * times


def test_the_exact_field_scores_zero_to_the_solvers_tolerance_everywhere():
    config = TrainConfig()
    errors = heldout_errors(AnalyticField(config.problem), config)
    assert list(errors) == SETTINGS
    points = {IN_SAMPLE: config.num_points, "N = 17": 17, "N = 600": 600}
    for setting, e in errors.items():
        bound = tolerance_bound(config.problem, e["nfe"])
        assert e["curve_mse"] < bound, (setting, e, bound)
        # one point's distance is at most the 2-norm of every error: sqrt(number of values * MSE)
        values = number_of_values(config, setting, points.get(setting, config.num_points))
        assert e["max_point_error"] < math.sqrt(values * bound), (setting, e)


def test_a_field_wrong_only_beyond_the_window_scores_worse_only_there(tiny_config):
    """Only the beyond-the-window setting reads times after t_final, and it reads no earlier one."""
    problem = tiny_config.problem
    errors = heldout_errors(StopsAt(problem, tiny_config.t_final), tiny_config)
    for setting in SETTINGS[:-1]:
        assert errors[setting]["curve_mse"] < tolerance_bound(problem, errors[setting]["nfe"]), setting
    # frozen from t_final on while the truth keeps breathing: errors of the curve's size
    assert errors[BEYOND]["curve_mse"] > 1e-2 and errors[BEYOND]["max_point_error"] > 0.1


def test_a_wrong_period_scores_worse_beyond_the_window_than_in_sample(tiny_config):
    errors = heldout_errors(AnalyticField(BreathingEllipse(period=1.1)), tiny_config)
    assert errors[BEYOND]["curve_mse"] > 3 * errors[IN_SAMPLE]["curve_mse"] > 0
    assert errors[BEYOND]["max_point_error"] > errors[IN_SAMPLE]["max_point_error"]


def test_settings_keys_and_grids(tiny_config):
    errors = heldout_errors(AnalyticField(tiny_config.problem), tiny_config, coarse_points=5, fine_points=40,
                            time_factor=3)
    assert list(errors) == [IN_SAMPLE, "N = 5", "N = 40", "3x times", BEYOND]
    for setting, e in errors.items():
        assert set(e) == {"curve_mse", "max_point_error", "nfe", "in_sample", "grid"}
        assert e["in_sample"] == (setting == IN_SAMPLE)
        assert math.isfinite(e["curve_mse"]) and e["curve_mse"] >= 0 and e["nfe"] > 0
    assert errors[IN_SAMPLE]["grid"] == "N = 16, 8 times in [0, 1.5]"
    assert errors["N = 5"]["grid"] == "N = 5, 8 times in [0, 1.5]"
    assert errors["3x times"]["grid"] == "N = 16, 24 times in [0, 1.5]"
    assert errors[BEYOND]["grid"] == "N = 16, 7 times in (1.5, 3]"


def test_a_model_whose_state_carries_the_velocity_is_scored(tiny_config):
    from breathing_lib.models import build_model

    config = TrainConfig(model="second-order", num_points=16, num_time_steps=8, epochs=1, lbfgs_steps=0)
    errors = heldout_errors(build_model("second-order").eval(), config, fine_points=20)
    assert all(math.isfinite(e["curve_mse"]) for e in errors.values())


@pytest.mark.parametrize("kwargs, name", [
    (dict(model="not a field"), "model"),
    (dict(config={"num_points": 16}), "config"),
    (dict(coarse_points=2), "coarse_points"),
    (dict(fine_points=16), "fine_points"),  # the training grid's N: not held out
    (dict(fine_points=40.0), "fine_points"),
    (dict(time_factor=1), "time_factor"),
    (dict(time_factor=True), "time_factor"),
])
def test_bad_input_names_the_parameter(tiny_config, kwargs, name):
    args = dict(model=AnalyticField(tiny_config.problem), config=tiny_config) | kwargs
    with pytest.raises(ConfigError, match=name):
        heldout_errors(args.pop("model"), args.pop("config"), **args)


def fake_errors(config: TrainConfig, mse: float) -> dict:
    settings = [IN_SAMPLE, "N = 17", "N = 600", "4x times", BEYOND]
    return {s: {"curve_mse": mse * (i + 1), "max_point_error": 0.5 * (i + 1), "nfe": 10, "in_sample": i == 0,
                "grid": f"N = {config.num_points}, {config.num_time_steps} times in [0, 1.5]"}
            for i, s in enumerate(settings)}


def test_the_table_says_where_each_error_is_measured():
    errors = {"phase": fake_errors(TrainConfig(), 1e-7), "a<b": fake_errors(TrainConfig(num_points=32), 2e-3)}
    table = heldout_table(errors)
    headers = [html.unescape(h) for h in re.findall(r"<th(?: [^>]*)?>(.*?)</th>", table)]
    assert headers[:4] == ["", "curve MSE against the exact flow", "largest point error", "model"]
    assert headers.count("training grid (in-sample)") == 2
    assert sum(h.endswith("(held-out)") for h in headers) == 8
    assert "beyond the window, t_f < t ≤ 2 t_f (held-out)" in headers and "4× the times (held-out)" in headers
    cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", table)]
    assert cells[:4] == ["phase", "N = 128, 32 times in [0, 1.5]", "1.0e-07", "2.0e-07"]
    assert "a&lt;b" in table and "N = 32, 32 times in [0, 1.5]" in cells
    assert len(cells) == 2 * 12


def test_the_table_rejects_mismatched_input():
    good = fake_errors(TrainConfig(), 1e-6)
    with pytest.raises(ConfigError, match="errors"):
        heldout_table({})
    with pytest.raises(ConfigError, match="errors"):
        heldout_table({"a": good, "b": {k: good[k] for k in list(good)[:3]}})


def test_plot_heldout_draws_a_bar_per_model_and_setting():
    errors = {"a": fake_errors(TrainConfig(), 1e-6), "b": fake_errors(TrainConfig(), 0.0)}
    ax = plot_heldout(errors)
    assert ax.get_yscale() == "log" and len(ax.patches) == 2 * 5
    plt.close("all")
    with pytest.raises(ConfigError, match="quantity"):
        plot_heldout(errors, quantity="nfe")


def test_html_table_groups_labels_and_escapes():
    table = html_table([{"a": 1.234, "b": None}, {"a": 2.0, "b": "x<y"}], {"a": ".1f"}, labels={"b": "B"},
                       groups=[("both", 2)], css_class="table t")
    assert table.startswith('<table class="table t"><thead><tr><th colspan="2">both</th></tr><tr><th>a</th>')
    assert "<td>1.2</td><td>–</td>" in table and "<td>x&lt;y</td>" in table and "<th>B</th>" in table
    with pytest.raises(ValueError, match="groups"):
        html_table([{"a": 1}], groups=[("g", 2)])
    with pytest.raises(ValueError, match="columns"):
        html_table([{"a": 1}, {"b": 2}])
    with pytest.raises(ValueError, match="rows"):
        html_table([])


def test_book_models_are_the_books_configs():
    assert BOOK_MODELS["original recipe"] == TrainConfig.original()
    assert BOOK_MODELS["default recipe"] == TrainConfig()
    kinds = {config.model for config in BOOK_MODELS.values()}
    assert {"time-input", "autonomous", "phase", "second-order", "second-order-time", "stream"} <= kinds
    assert BOOK_MODELS["Fourier loss"].loss == "fourier"
    assert len({config.label() for config in BOOK_MODELS.values()}) == len(BOOK_MODELS)


READ_TIME = {name for name, c in BOOK_MODELS.items() if c.model in ("time-input", "stream", "second-order-time")}


def explorer_errors(**phase) -> dict:
    """Largest point errors that tell chapter 12's story: both models fit their own problem, miss the
    others by the size of the curve, and only the phase model keeps its accuracy beyond the window."""
    own, beyond, beta0, period = heldout.point_error_columns(TrainConfig(), 3.0, 3.0, 0.8)
    return {"time-input": {own: 0.02, beyond: 3.0, beta0: 0.8, period: 0.9},
            "phase": {own: 0.01, beyond: 0.02, beta0: 0.7, period: 0.6} | phase}


def book_errors(in_sample=None, changes=None) -> dict:
    """heldout_errors of every book model: the sampling inside the window changes nothing, the models
    that read t fail beyond it, the phase model does not, the autonomous one is poor everywhere.
    in_sample: {model: its in-sample MSE} instead of these; changes: {(model, setting): its MSE there}."""
    in_sample = {name: 1e-2 if name == "autonomous" else 1e-7 if name == "phase" else 1e-5
                 for name in BOOK_MODELS} | (in_sample or {})
    growth = {name: 1e3 if name in READ_TIME else 5.0 for name in BOOK_MODELS}
    errors = {}
    for name, mse in in_sample.items():
        errors[name] = {s: {"curve_mse": mse * f, "max_point_error": 2.0 if s == BEYOND and name in READ_TIME else 0.01,
                            "nfe": 10, "in_sample": s == IN_SAMPLE, "grid": ""}
                        for s, f in zip(SETTINGS, (1.0, 1.1, 0.9, 1.0, growth[name]))}
    for (name, setting), mse in (changes or {}).items():
        errors[name][setting]["curve_mse"] = mse
    return errors


def chapter_findings(errors=None, book=None, training=None) -> dict:
    return heldout.findings(errors or explorer_errors(), book or book_errors(), training or TrainConfig(), t_max=3.0,
                            other_beta0=3.0, other_period=0.8, heldout_points=(17, 600), time_factor=4,
                            browser_tolerance=1e-9)


def test_findings_state_every_number_of_the_prose_and_check_every_claim(glued, quoted):
    numbers = chapter_findings()
    ledger = Checks("12")
    ledger.show(numbers)
    prose, results_page = quoted("12_explorer")
    assert prose and results_page and prose | results_page - {"checks_table", "heldout_table"} <= set(glued)
    kinds = [c.kind for c in ledger.records]
    assert (kinds.count("exact"), kinds.count("measured"), kinds.count("logical")) == (0, 20, 5)
    assert numbers["headline_xyt_own"].claim == "time-input: largest point error on its own problem, in the window"
    assert numbers["headline_phase_beta"].claim == ("phase, beta0 = 3: largest point error, over a fifth of the "
                                                    "smallest semi-axis") and numbers["headline_phase_beta"].above
    assert glued["headline_extrapolates"] == "phase" and glued["headline_phase_beyond"] == 0.02
    assert glued["heldout_points_text"] == "17 or 600" and glued["heldout_interp_max"] == pytest.approx(1.1)
    assert glued["heldout_time_models"] == ", ".join(name for name in BOOK_MODELS if name in READ_TIME)
    assert 0.5 < glued["axis_min"] < glued["axis_max"] < 1.5


@pytest.mark.parametrize("claim, spoil", [
    ("phase: error beyond the window over the fit's",
     lambda: dict(errors=explorer_errors(**{"own, 1.5 < t <= 3": 1.0}))),
    ("time-input, T = 0.8: largest point error over the fit's",
     lambda: dict(errors={**explorer_errors(), "time-input": {**explorer_errors()["time-input"], "T = 0.8": 0.15}})),
    ("held-out table: every book model was trained on 32 times", lambda: dict(training=TrainConfig(num_time_steps=16))),
    ("held-out inside the window (17 or 600 points, 4x times): largest MSE",
     lambda: dict(book=book_errors(changes={("stream function", "N = 600"): 2e-4}))),
    ("phase: MSE beyond the window / training-grid MSE",
     lambda: dict(book=book_errors(changes={("phase", BEYOND): 1e-5}))),
    ("autonomous / default recipe: MSE on the training grid",
     lambda: dict(book=book_errors(in_sample={"autonomous": 1e-4}))),
])
def test_a_result_that_breaks_a_claim_fails_the_chapter(glued, claim, spoil):
    with pytest.raises(CheckFailed, match=re.escape(claim)):
        Checks("12").show(chapter_findings(**spoil()))


def test_findings_name_the_models_they_lack():
    with pytest.raises(ConfigError, match="errors"):
        chapter_findings(errors={"phase": explorer_errors()["phase"]})
    with pytest.raises(ConfigError, match="heldout"):
        chapter_findings(book={name: e for name, e in book_errors().items() if name != "autonomous"})


def test_point_errors_ask_each_model_about_its_window_beyond_it_and_two_other_problems():
    class Lab:
        t_max, step = 3.0, 0.025

        def max_point_error(self, model, beta0, period, num_points, t_from=0.0, t_to=None):
            return (model, beta0, period, num_points, t_from, t_to)

    errors = heldout.point_errors(Lab(), ["phase"], TrainConfig(), other_beta0=3.0, other_period=0.8, num_points=64)
    assert errors == {"phase": {"own, t <= 1.5": ("phase", 2.0, 1.0, 64, 0.0, 1.5),
                                "own, 1.5 < t <= 3": ("phase", 2.0, 1.0, 64, 1.525, None),
                                "beta0 = 3": ("phase", 3.0, 1.0, 64, 0.0, 1.5),
                                "T = 0.8": ("phase", 2.0, 0.8, 64, 0.0, 1.5)}}


def test_every_book_model_is_scored_from_the_store(monkeypatch):
    served, scored = [], []
    monkeypatch.setattr(heldout, "trained_model",
                        lambda config, progress: served.append(config) or SimpleNamespace(model=config.label()))
    monkeypatch.setattr(heldout, "heldout_errors",
                        lambda model, config, **grids: scored.append((model, grids)) or model)
    errors = heldout.book_heldout_errors(coarse_points=17, fine_points=600, time_factor=4)
    assert served == list(BOOK_MODELS.values()) and errors == {name: c.label() for name, c in BOOK_MODELS.items()}
    assert scored[0][1] == {"coarse_points": 17, "fine_points": 600, "time_factor": 4}
