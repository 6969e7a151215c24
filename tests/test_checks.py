"""The check helper: bounds of each kind, margins, failures that name the numbers."""

import math

import pytest
import torch

from breathing_lib.checks import MARGIN, CheckFailed, Checks, bounded, fact, rounding


def test_rounding_is_ulps_times_eps_times_scale():
    assert rounding(2.0) == 64 * 2.0**-52 * 2.0
    assert rounding(1.0, torch.float32, ulps=8) == 8 * 2.0**-23


def test_a_claim_below_its_bound_holds_with_its_margin():
    checks = Checks("ch")
    c = checks.check("error small", 1e-6, 1e-5)
    assert c.holds and c.margin == pytest.approx(10.0)
    above = checks.check("ratio large", 300.0, 100.0, above=True)
    assert above.margin == pytest.approx(3.0)
    assert checks.check("an identity", 0.0, rounding(1.0), kind="exact").margin == math.inf
    assert [r["claim"] for r in checks.rows()] == ["error small", "ratio large", "an identity"]


def test_a_failed_claim_raises_with_the_numbers_and_is_recorded():
    checks = Checks("ch 1")
    with pytest.raises(CheckFailed, match=r"ch 1: error small: measured 2e-05, claimed < 1e-05 \(measured\)"):
        checks.check("error small", 2e-5, 1e-5)
    with pytest.raises(CheckFailed, match="claimed > 100"):
        checks.check("ratio large", 50.0, 100.0, above=True)
    with pytest.raises(CheckFailed, match="ch 1: no folds: false"):
        checks.fact("no folds", False)
    assert len(checks.records) == 3 and not any(c.holds for c in checks.records)


def test_margins_of_each_kind():
    checks = Checks("ch")
    assert checks.check("thin", 1.0, 0.99 * MARGIN).margin < MARGIN < checks.check("wide", 1.0, 1.01 * MARGIN).margin
    assert checks.check("exact", 1.0, 1.5, kind="exact").margin == pytest.approx(1.5)
    assert checks.fact("a verdict", True).margin is None


def test_bad_kinds_and_bounds_are_refused():
    checks = Checks("ch")
    with pytest.raises(ValueError, match="kind"):
        checks.check("x", 1.0, 2.0, kind="logical")
    with pytest.raises(ValueError, match="bound must be finite"):
        checks.check("x", 1.0, float("nan"))


def test_the_table_escapes_claims_and_shows_each_kind():
    checks = Checks("ch")
    checks.check("|g| < <bound>", 1e-6, 1e-5)
    checks.fact("a verdict", True)
    table = checks.html_table()
    assert "|g| &lt; &lt;bound&gt;" in table and "<td>true</td>" in table and "<td>10</td>" in table
    assert checks.summary() == "2 checks hold: 0 exact, 1 measured, 1 logical"


def test_a_chapter_fails_when_a_model_it_used_kept_its_initial_weights():
    from types import SimpleNamespace

    from breathing_lib import TrainConfig

    trained, untrained = TrainConfig(), TrainConfig(model="autonomous")
    served = {trained.label(): SimpleNamespace(kept_epoch=700), untrained.label(): SimpleNamespace(kept_epoch=0)}
    with pytest.raises(CheckFailed, match=f"{untrained.label()} kept its initial weights"):
        Checks("ch").models_trained(served)
    stated = Checks("ch")
    stated.untrained(untrained, "the picture of a random field")
    check = stated.models_trained(served)
    assert check.holds and "earliest kept epoch 700" in check.claim and "random field" in check.claim


def test_show_glues_every_number_and_checks_the_claims_among_them(monkeypatch):
    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: glued.update({name: (value, display)}))
    ledger = Checks("test")
    ledger.show({"plain": 2.5, "ratio": bounded("ratio below 1", 0.25, 1.0), "folds": fact("it folds", True)})
    assert glued == {"plain": (2.5, False), "ratio": (0.25, False), "folds": (1.0, False)}
    assert [c.claim for c in ledger.records] == ["ratio below 1", "it folds"]
    with pytest.raises(CheckFailed, match="too big: measured 2"):
        ledger.show({"late": 1.0, "bad": bounded("too big", 2.0, 1.0), "never": 3.0})
    assert "never" not in glued and glued["late"] == (1.0, False)
