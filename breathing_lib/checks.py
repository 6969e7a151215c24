"""Claims with honest bounds: every number a chapter asserts goes through `Checks.check`.

A chapter's checks must pass on any machine, whatever its CPU kernels, thread count or library
versions. So every bound is one of three kinds, and says which:

- exact: an identity that holds to rounding. Its bound is a stated multiple of the dtype's
  machine epsilon times the quantity's scale (`rounding`), never a bare 1e-14.
- measured: a number that depends on training or on floating-point order. Its bound states the
  claim and lies at least `MARGIN` times from what the build measured, on the safe side; the
  book's results page lists every margin, and the site tests fail on a thinner one.
- logical: a yes/no fact (a count, an ordering, a verdict); it has no margin.

Each chapter keeps one `Checks` ledger. Its study (a `findings` function of `breathing_lib.studies`)
returns every number the chapter states, a claim as a `Check`; `show` glues them all and records the
claims, and `publish` glues the ledger's table for the results page.
"""

import ast
import html
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch

KINDS = ("exact", "measured", "logical")
MARGIN = 3.0


def rounding(scale, dtype=torch.float64, ulps: int = 64) -> float:
    """The bound of an identity that holds to rounding: `ulps` machine epsilons of `dtype` times `scale`."""
    return ulps * torch.finfo(dtype).eps * float(scale)


class CheckFailed(AssertionError):
    """A chapter's claim does not hold for the numbers this run measured."""


@dataclass(frozen=True)
class Check:
    claim: str
    value: float
    bound: float
    kind: str
    above: bool  # the claim is value > bound; otherwise value < bound

    @property
    def holds(self) -> bool:
        if self.kind == "logical":
            return bool(self.value)
        return self.value > self.bound if self.above else self.value < self.bound

    @property
    def margin(self) -> float | None:
        """How many times over the claim holds: bound / value below, value / bound above."""
        if self.kind == "logical":
            return None
        small, large = (self.bound, self.value) if self.above else (self.value, self.bound)
        if small <= 0:
            return math.inf if large > 0 else None
        return large / small


def bounded(claim: str, value, bound, kind: str = "measured", above: bool = False) -> Check:
    """A claim `value < bound` (or `value > bound` with `above`), not yet recorded."""
    if kind not in KINDS[:2]:
        raise ValueError(f"kind must be one of {KINDS[:2]} for a bound (use `fact` for yes/no), got {kind!r}")
    value, bound = float(value), float(bound)
    if not math.isfinite(bound):
        raise ValueError(f"bound must be finite, got {bound} for {claim!r}")
    return Check(claim, value, bound, kind, above)


def fact(claim: str, holds) -> Check:
    """A yes/no claim, not yet recorded."""
    return Check(claim, float(bool(holds)), 1.0, "logical", False)


class Checks:
    """The ledger of one chapter's checks, in the order the chapter makes them."""

    def __init__(self, chapter: str):
        self.chapter = chapter
        self.records: list[Check] = []
        self.untrained_on_purpose: dict[str, str] = {}  # store label -> why the chapter shows it untrained

    def check(self, claim: str, value, bound, kind: str = "measured", above: bool = False) -> Check:
        """Record `value < bound` (or `value > bound` with `above`); raise CheckFailed if it does not hold."""
        return self.record(bounded(claim, value, bound, kind, above))

    def fact(self, claim: str, holds) -> Check:
        """Record a yes/no claim (a count, an ordering, a verdict); raise CheckFailed if it is false."""
        return self.record(fact(claim, holds))

    def record(self, check: Check) -> Check:
        """Record a check made elsewhere (a study's verdicts); raise CheckFailed if it does not hold."""
        self.records.append(check)
        if not check.holds:
            if check.kind == "logical":
                raise CheckFailed(f"{self.chapter}: {check.claim}: false")
            sign = ">" if check.above else "<"
            raise CheckFailed(f"{self.chapter}: {check.claim}: measured {check.value:.4g}, "
                              f"claimed {sign} {check.bound:.4g} ({check.kind})")
        return check

    def show(self, numbers: Mapping[str, object]) -> None:
        """Glue every number under its name for the chapter's prose; a `Check` is glued by its value
        and recorded, so a number that carries a claim is stated and checked by the same call.
        Raises CheckFailed at the first claim that does not hold."""
        from myst_nb import glue

        for name, number in numbers.items():
            if isinstance(number, Check):
                number = self.record(number).value
            glue(name, number, display=False)

    def untrained(self, config, why: str) -> None:
        """State that the chapter shows the model of `config` with its initial weights, and why."""
        self.untrained_on_purpose[config.label()] = why

    def models_trained(self, served: dict) -> Check:
        """Record that every model the chapter used (store label -> FitResult) kept an epoch after
        its initial weights, unless the chapter stated otherwise: model selection must never pass
        off an untrained network as a result."""
        kept = {label: fit.kept_epoch for label, fit in served.items() if label not in self.untrained_on_purpose}
        untrained = sorted(label for label, epoch in kept.items() if epoch == 0)
        if untrained:
            claim = f"every model this chapter used is trained: {', '.join(untrained)} kept its initial weights"
        else:
            first = min(kept.values(), default=None)
            claim = (f"every model this chapter used is trained ({len(kept)}; earliest kept epoch {first})"
                     + "".join(f"; {label} untrained on purpose: {why}" for label, why in
                               self.untrained_on_purpose.items()))
        return self.fact(claim, not untrained)

    def rows(self) -> list[dict]:
        return [asdict(c) | {"margin": c.margin} for c in self.records]

    def html_table(self) -> str:
        def number(x):
            return "" if x is None else ("∞" if x == math.inf else f"{x:.3g}")

        body = "".join(
            f"<tr><td>{html.escape(c.claim)}</td><td>{c.kind}</td>"
            + ("<td>true</td><td></td><td></td>" if c.kind == "logical" else
               f"<td>{number(c.value)}</td><td>{'&gt;' if c.above else '&lt;'} {number(c.bound)}</td>"
               f"<td>{number(c.margin)}</td>")
            + "</tr>" for c in self.records)
        return ('<table class="table checks"><thead><tr><th>claim</th><th>kind</th><th>value</th>'
                f"<th>bound</th><th>margin</th></tr></thead><tbody>{body}</tbody></table>")

    def summary(self) -> str:
        counts = {k: sum(c.kind == k for c in self.records) for k in KINDS}
        return f"{len(self.records)} checks hold: " + ", ".join(f"{n} {k}" for k, n in counts.items())

    def publish(self):
        """Check that every model the chapter used is trained, then show the table, and glue it
        (`checks_table`, HTML) and its rows (`checks_json`) for the results page."""
        from IPython.display import HTML, display
        from myst_nb import glue

        from .store import served_models

        served = served_models()
        if served:
            self.models_trained(served)
        table = HTML(self.html_table())
        print(self.summary())
        display(table)
        glue("checks_table", table, display=False)
        glue("checks_json", json.dumps({"chapter": self.chapter, "checks": self.rows()}), display=False)


def published_checks(notebook) -> dict | None:
    """The `checks_json` a chapter's `publish` glued into an executed notebook (nbformat), if any."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("metadata", {}).get("scrapbook", {}).get("name") == "checks_json":
                text = next(v for k, v in output["data"].items() if k.endswith("text/plain"))
                return json.loads(ast.literal_eval(text))
    return None
