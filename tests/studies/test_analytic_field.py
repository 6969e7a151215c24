import math

import pytest
import torch

from breathing_lib import BreathingEllipse, ConfigError, generate_truth
from breathing_lib.checks import Check, CheckFailed, Checks
from breathing_lib.problem import NUM_POINTS, NUM_TIME_STEPS, T_FINAL
from breathing_lib.studies import analytic_field as study

PROBLEM = BreathingEllipse(beta0=2.0, period=1.0)
PROSE_KEYS = {"fd_error", "beta_start", "beta_half", "blob_points", "tight_rtol", "blob_area_change",
              "blob_flow_error", "flow_error", "area_spread"}

pytestmark = pytest.mark.usefixtures("glued")  # Checks.show glues: keep the values


@pytest.fixture(scope="module")
def data():
    t, curves = generate_truth(PROBLEM.beta0, PROBLEM.omega, T_FINAL, NUM_POINTS, NUM_TIME_STEPS)
    return t, curves


def measured(curves, t, **changes) -> dict:
    """findings' inputs as the chapter computes them, with `changes` overriding any of them."""
    results = dict(t_final=T_FINAL, num_points=NUM_POINTS, num_time_steps=NUM_TIME_STEPS,
                   fd_error=study.finite_difference_error(PROBLEM, T_FINAL, 16)[0],
                   carried=study.carried_disc(PROBLEM, 40, T_FINAL, 1e-10), blob_points=40, tight_rtol=1e-10,
                   area_spread=study.area_spread(curves), self_intersections=study.most_self_intersections(curves),
                   flow_error=(PROBLEM.flow(curves[0], t) - curves).abs().max().item())
    return results | changes


def test_central_differences_converge_at_second_order():
    coarse, dt = study.finite_difference_error(PROBLEM, T_FINAL, 16, num_times=301)
    fine, fine_dt = study.finite_difference_error(PROBLEM, T_FINAL, 16, num_times=601)
    assert dt == pytest.approx(2 * fine_dt)
    assert coarse / fine == pytest.approx(4, rel=0.05)  # halving dt divides an O(dt^2) error by 4


def test_the_integrated_field_lands_on_the_closed_form_flow_and_keeps_the_area():
    carried = study.carried_disc(PROBLEM, 50, T_FINAL, 1e-10)
    assert carried["flow_error"] < 30e-10 and carried["area_change"] < 30e-10
    loose = study.carried_disc(PROBLEM, 50, T_FINAL, 1e-3)
    assert loose["flow_error"] > 100 * carried["flow_error"]  # the distance measures the solver, not a constant


def test_the_disc_is_a_seeded_circle_away_from_the_origin():
    rim = study.disc_rim(30)
    assert torch.equal(rim, study.disc_rim(30)) and not torch.equal(rim, study.disc_rim(30, seed=1))
    radius = (rim - torch.tensor([0.5, -0.2], dtype=torch.float64)).norm(dim=-1)
    assert torch.allclose(radius, torch.full_like(radius, 0.3))


def test_the_polygon_area_is_the_regular_polygons_and_tends_to_pi():
    assert study.polygon_area(5) == pytest.approx(2.0)  # four distinct points: the square inscribed in the circle
    assert study.polygon_area(4000) == pytest.approx(math.pi, rel=1e-6)


def test_the_area_spread_sees_a_curve_that_grows(data):
    _, curves = data
    assert study.area_spread(curves) < 1e-6
    grown = curves * torch.linspace(1, 1.1, len(curves))[:, None, None]
    assert study.area_spread(grown) == pytest.approx(1.1**2 - 1, rel=1e-4)


def test_self_intersections_count_a_figure_eight():
    s = torch.linspace(0, 2 * math.pi, 41)[:-1]
    eight = torch.stack([torch.sin(s), torch.sin(s) * torch.cos(s)], dim=-1)
    assert study.most_self_intersections(torch.stack([eight, eight])) >= 1


def test_findings_hold_the_prose_numbers_and_every_claim(data):
    t, curves = data
    numbers = study.findings(PROBLEM, curves, **measured(curves, t))
    assert PROSE_KEYS <= set(numbers)
    claims = {name: value for name, value in numbers.items() if isinstance(value, Check)}
    assert len(claims) == 9  # the original's two statistics are checked on the default grid
    assert sum(c.kind == "exact" for c in claims.values()) == 4
    assert claims["fd_error"].kind == "measured" and claims["simple_curves"].kind == "logical"
    assert numbers["beta_start"] == pytest.approx(2.0) and numbers["beta_half"] == pytest.approx(0.5)
    Checks("1").show(numbers)


def test_findings_off_the_default_grid_drop_the_comparison_with_the_original(data):
    t, curves = data
    numbers = study.findings(BreathingEllipse(beta0=2.5, period=1.0), curves, **measured(curves, t))
    assert "original_mean_gap" not in numbers and "original_std_gap" not in numbers


@pytest.mark.parametrize("change, claim", [
    (dict(flow_error=1e-3), "exact flow map"),
    (dict(self_intersections=1), "intersects itself"),
    (dict(num_points=64), "num_points points"),
    (dict(carried={"area_change": 1e-6, "flow_error": 0.0}), "area of a circle"),
])
def test_findings_that_break_a_claim_fail_the_chapter(data, change, claim):
    t, curves = data
    with pytest.raises(CheckFailed, match=claim):
        Checks("1").show(study.findings(PROBLEM, curves, **measured(curves, t, **change)))


def test_bad_input_names_the_parameter():
    with pytest.raises(ConfigError, match="num_times"):
        study.finite_difference_error(PROBLEM, T_FINAL, 16, num_times=2)
    with pytest.raises(ConfigError, match="tolerance"):
        study.carried_disc(PROBLEM, 10, T_FINAL, 0.0)
    with pytest.raises(ConfigError, match="num_points"):
        study.polygon_area(3)
