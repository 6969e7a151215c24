import math

import numpy as np
import pytest
import torch

from breathing_lib.checks import rounding
from breathing_lib.metrics import (
    area_drift,
    curve_errors,
    field_rel_error,
    order_swaps,
    self_intersections,
    shoelace_area,
    swept_region_points,
    to_numpy,
)
from breathing_lib.models import AnalyticField

SQUARE = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
BOW_TIE = np.array([[0, 0], [1, 1], [1, 0], [0, 1]], dtype=float)


def test_shoelace_on_known_polygons():
    assert shoelace_area(SQUARE) == pytest.approx(1.0)
    assert shoelace_area(SQUARE[::-1]) == pytest.approx(-1.0)
    triangle = np.array([[0, 0], [4, 0], [0, 3]], dtype=float)
    assert shoelace_area(triangle) == pytest.approx(6.0)
    assert shoelace_area(BOW_TIE) == pytest.approx(0.0)  # the two lobes cancel


def test_self_intersections_on_known_polygons():
    assert self_intersections(SQUARE) == 0
    assert self_intersections(BOW_TIE) == 1
    # a pentagram: five edges, each crossing two non-adjacent ones
    k = np.arange(5) * 2 % 5
    star = np.stack([np.cos(2 * np.pi * k / 5), np.sin(2 * np.pi * k / 5)], axis=1)
    assert self_intersections(star) == 5


def test_repeated_end_point_is_not_a_crossing(problem):
    curves = problem.sample(torch.linspace(0, 1.5, 8), 128)  # float32, theta = 0 and 2 pi both present
    assert all(self_intersections(c) == 0 for c in curves)


def test_area_drift_and_curve_errors():
    traj = np.stack([SQUARE, SQUARE * 1.1])
    assert area_drift(traj) == pytest.approx(0.21)
    errors = curve_errors(traj[1], traj[0])
    assert errors["max_point_error"] == pytest.approx(0.1 * math.sqrt(2))
    assert errors["curve_mse"] == pytest.approx(np.mean((0.1 * SQUARE) ** 2))


def test_order_swaps_counts_points_passing_each_other(problem):
    traj = problem.sample(torch.linspace(0, 1.5, 10), 64)
    assert order_swaps(traj) == 0
    swapped = traj.clone()
    swapped[5:, [10, 11]] = swapped[5:, [11, 10]]  # two neighbours exchange places from t5 on
    assert order_swaps(swapped) > 0


def test_swept_region_is_the_union_of_the_ellipses(problem):
    t = torch.linspace(0, 1.0, 50)
    pts = swept_region_points(problem, t, grid_size=61)
    a, b = problem.semi_axes(t.double())
    assert pts.shape[0] > 0
    # every point inside some ellipse, and the region reaches the widest extent sqrt(beta0)
    inside = ((pts[:, None, 0] / a) ** 2 + (pts[:, None, 1] / b) ** 2 <= 1 + rounding(1.0)).any(dim=1)
    assert bool(inside.all())
    assert pts[:, 0].abs().max().item() == pytest.approx(math.sqrt(2.0), rel=0.05)


def test_field_error_is_zero_for_the_exact_field_and_one_for_zero(problem):
    t = torch.linspace(0, 1.5, 16)
    assert field_rel_error(AnalyticField(problem), problem, t) < 1e-6  # float32 evaluation

    class Zero(torch.nn.Module):
        def forward(self, t, h):
            return torch.zeros_like(h)

    assert field_rel_error(Zero(), problem, t) == pytest.approx(1.0)


def test_to_numpy_detaches_tensors_and_passes_arrays_through():
    tensor = torch.tensor([[1.0, 2.0]], requires_grad=True) * 3
    array = to_numpy(tensor)
    assert isinstance(array, np.ndarray) and array.dtype == np.float32
    np.testing.assert_array_equal(array, [[3.0, 6.0]])
    np.testing.assert_array_equal(to_numpy([[1, 2]]), np.array([[1, 2]]))
    assert to_numpy(SQUARE) is SQUARE  # an array is not copied
