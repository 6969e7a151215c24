import pytest
import torch

from breathing_lib import BreathingEllipse, ConfigError
from breathing_lib.checks import Check, CheckFailed, Checks
from breathing_lib.inference import predict
from breathing_lib.models import AnalyticField
from breathing_lib.studies import resolution as study

PROBLEM = BreathingEllipse(beta0=2.0, period=1.0)
POINTS, STEPS = [21, 64, 128, 512], [32, 128]
PROSE_KEYS = {"mse_train", "maxerr_train", "spatial_pct", "temporal_pct", "dense_rel", "area_to_error",
              "field_err", "curve_rel", "space_gap", "time_gap", "area_drift_512"}

pytestmark = pytest.mark.usefixtures("glued")  # Checks.show glues: keep the values


def rows(mse=lambda n, k: 1e-4 * (1 + 0.01 * (n == 21)) * (1 + 0.2 * (k == 128)), **counts) -> list[dict]:
    """Hand-made table rows: an MSE 1 % higher at N = 21 and 20 % higher at K = 128, no folds."""
    return [{"N": n, "K": k, "curve MSE": mse(n, k), "max point error": 0.02, "area drift": 0.01,
             "self-intersections": counts.get("self_intersections", 0), "order swaps": counts.get("order_swaps", 0)}
            for n in POINTS for k in STEPS]


def findings(table=None, **changes):
    inputs = dict(point_counts=POINTS, step_counts=STEPS, num_points=128, num_time_steps=32,
                  gaps={"space_gap": 0.0, "time_gap": 1e-6, "shared_mse": 1e-4},
                  area={"learned": 0.01, "truth": 1e-8, "relative_rms": 0.01}, field_err=0.5,
                  truth=torch.ones(32, 128, 2))  # mean |X|^2 = 2: the curve's relative RMS error is 1 %
    return study.findings(table or rows(), **inputs | changes)


def test_the_table_has_a_row_per_resolution_and_the_exact_field_scores_zero():
    table = study.resolution_rows(AnalyticField(PROBLEM), PROBLEM, [16, 33], [8, 16], 1.5, "dopri5")
    assert [(r["N"], r["K"]) for r in table] == [(16, 8), (16, 16), (33, 8), (33, 16)]
    assert all(r["max point error"] < 1e-4 and r["self-intersections"] == r["order swaps"] == 0 for r in table)
    assert study.row_at(table, 33, 8) is table[2]
    with pytest.raises(ConfigError, match="N = 64"):
        study.row_at(table, 64, 8)


def test_mse_changes_measure_the_spread_across_n_and_the_change_across_k():
    spread, change = study.mse_changes(rows(), POINTS, STEPS)
    assert spread == pytest.approx([0.01, 0.01])
    assert change == pytest.approx([0.2] * len(POINTS))
    with pytest.raises(ConfigError, match="one row per"):
        study.mse_changes(rows()[:-1], POINTS, STEPS)


def test_the_exact_flow_is_invariant_to_the_batch_and_the_output_grid():
    gaps = study.invariance(AnalyticField(PROBLEM), PROBLEM, 1.5, 32, 9, "dopri5", few=7, many=40, refine=2)
    assert gaps["space_gap"] < 1e-5 and gaps["time_gap"] < 1e-5 and gaps["shared_mse"] < 1e-10


def test_area_drifts_of_a_growing_curve_and_of_the_truth():
    exact = predict(AnalyticField(PROBLEM), PROBLEM, num_points=64, num_time_steps=9, t_final=1.5)
    grown = exact._replace(pred=exact.truth * torch.linspace(1, 1.1, 9)[:, None, None])
    area = study.area_drifts(grown)
    assert area["learned"] == pytest.approx(1.1**2 - 1, rel=1e-4) and area["truth"] < 1e-6
    assert 0 < area["relative_rms"] < 0.1


def test_findings_hold_the_prose_numbers_and_every_claim():
    numbers = findings()
    assert PROSE_KEYS <= set(numbers)
    claims = [value for value in numbers.values() if isinstance(value, Check)]
    assert len(claims) == 11  # and publish adds that every model used is trained: 12
    assert [c.kind for c in claims].count("exact") == 1 and [c.kind for c in claims].count("logical") == 2
    assert numbers["curve_rel"] == pytest.approx(0.01) and numbers["temporal_pct"] == pytest.approx(20)
    assert numbers["spatial_pct"] == pytest.approx(1) and numbers["area_to_error"] == pytest.approx(1)
    Checks("3").show(numbers)


@pytest.mark.parametrize("change, claim", [
    (dict(table=rows(order_swaps=1)), "no order swaps"),
    (dict(table=rows(mse=lambda n, k: 1e-4 * (1 + 0.2 * (n == 21)))), "relative MSE spread across N"),
    (dict(gaps={"space_gap": 1e-3, "time_gap": 0.0, "shared_mse": 1e-4}), "different batch"),
    (dict(area={"learned": 0.5, "truth": 1e-8, "relative_rms": 0.01}), "curve's relative RMS error, below"),
    (dict(field_err=0.02), "swept region"),
])
def test_findings_that_break_a_claim_fail_the_chapter(change, claim):
    with pytest.raises(CheckFailed, match=claim):
        Checks("3").show(findings(**change))
