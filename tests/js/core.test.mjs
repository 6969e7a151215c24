// The explorer's numeric core outside a browser: `node --test tests/js` (tests/test_explorer.py runs it).
import assert from "node:assert/strict";
import { test } from "node:test";

import { LearnedFlow, MODEL_KINDS, ellipse, loadModel, makeWork, maxPointError, rk4Step, shoelaceArea } from "../../breathing_lib/viz/explorer/core.js";

const EPS = Number.EPSILON;

/** A document of the given kind with small random weights (a fixed generator: the test repeats). */
function randomDocument(kind) {
  let seed = 12345;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.6;
  const inputs = { "time-input": 3, autonomous: 2, phase: 4, stream: 3, "second-order": 4, "second-order-time": 5 }[kind];
  const outputs = kind === "stream" ? 1 : 2;
  const sizes = [[32, inputs], [64, 32], [outputs, 64]];
  const state = {};
  sizes.forEach(([o, i], n) => {
    state[`net.${2 * n}.weight`] = { shape: [o, i], values: Array.from({ length: o * i }, random) };
    state[`net.${2 * n}.bias`] = { shape: [o], values: Array.from({ length: o }, random) };
  });
  const buffer = (values) => ({ shape: values.length > 1 ? [values.length] : [], values });
  Object.assign(state, { X_mean: buffer([0.01, -0.02]), X_std: buffer([0.9, 0.7]), t_min: buffer([0]), t_max: buffer([1.5]) });
  if (kind === "phase") state.omega = buffer([2 * Math.PI]);
  if (kind.startsWith("second-order")) Object.assign(state, { V_std: buffer([1.1, 0.8]), A_std: buffer([5, 4]) });
  return { format: "breathing-ellipse-model", version: 1, name: kind, kind, config: { beta0: 2, period: 1, t_final: 1.5 }, state };
}

test("the exact ellipse keeps its area pi and its field is alpha(t) (x, -y)", () => {
  const problem = ellipse(2, 1);
  for (const t of [0, 0.13, 0.5, 1.7]) {
    const area = shoelaceArea(problem.curve(t, 4001));
    assert.ok(Math.abs(area - Math.PI) < 2e-6, `area ${area} at t = ${t}`); // the polygon's deficit ~ pi (2 pi / N)^2 / 6
    const [u, v] = problem.velocity(t, 0.3, -0.4);
    assert.equal(u, problem.alpha(t) * 0.3);
    assert.equal(v, problem.alpha(t) * 0.4);
  }
  assert.ok(Math.abs(problem.beta(0) - 2) < 4 * EPS && Math.abs(problem.beta(0.5) - 0.5) < 4 * EPS);
  assert.throws(() => ellipse(0, 1), /beta0/);
  assert.throws(() => ellipse(2, -1), /period/);
});

test("rk4Step is fourth order: halving dt divides the error of dy/dt = -y by about 16", () => {
  const decay = { dim: 1, rate: (t, s, out) => { out[0] = -s[0]; } };
  const error = (dt) => {
    let y = Float64Array.of(1);
    for (let k = 0; k < Math.round(1 / dt); k++) y = rk4Step(decay, k * dt, dt, y, new Float64Array(1), makeWork(1));
    return Math.abs(y[0] - Math.exp(-1));
  };
  const ratio = error(0.1) / error(0.05);
  assert.ok(ratio > 14 && ratio < 18, `ratio ${ratio}`);
});

test("every kind loads, and the stream model's field is divergence-free", () => {
  for (const kind of MODEL_KINDS) {
    const model = loadModel(randomDocument(kind));
    assert.equal(model.dim, kind === "phase" ? 3 : kind.startsWith("second") ? 4 : 2);
    assert.equal(model.hasField, !kind.startsWith("second"));
  }
  const stream = loadModel(randomDocument("stream"));
  const h = 1e-5;
  for (const [x, y, t] of [[0.3, -0.2, 0.1], [-1.1, 0.5, 0.9]]) {
    const du = (stream.velocity(t, x + h, y)[0] - stream.velocity(t, x - h, y)[0]) / (2 * h);
    const dv = (stream.velocity(t, x, y + h)[1] - stream.velocity(t, x, y - h)[1]) / (2 * h);
    assert.ok(Math.abs(du + dv) < 1e-8 * (Math.abs(du) + Math.abs(dv) + 1), `divergence ${du + dv}`);
  }
});

test("the second-order kinds start from the exact velocity, the phase kind from phi = omega t0", () => {
  const problem = ellipse(2, 1);
  const points = problem.curve(0.2, 5);
  const second = loadModel(randomDocument("second-order")).initialState(0.2, points, problem);
  const [u, v] = problem.velocity(0.2, points[2], points[3]);
  assert.deepEqual(Array.from(second.subarray(4, 8)), [points[2], points[3], u, v]);
  const phase = loadModel(randomDocument("phase")).initialState(0.2, points, problem);
  assert.equal(phase[2], Math.fround(2 * Math.PI) * 0.2); // omega as the document holds it: a float32
});

test("the learned flow caches its steps and validates its settings", () => {
  const flow = new LearnedFlow(loadModel(randomDocument("time-input")), { beta0: 2, period: 1, numPoints: 16, dt: 0.05 });
  const later = flow.positionsAt(10);
  assert.equal(flow.computed, 10);
  assert.equal(flow.positionsAt(10), later);
  assert.equal(maxPointError(flow.positionsAt(0), flow.truthAt(0)), 0);
  assert.throws(() => new LearnedFlow(flow.model, { beta0: 2, period: 1, numPoints: 2, dt: 0.05 }), /numPoints/);
  assert.throws(() => new LearnedFlow(flow.model, { beta0: 2, period: 1, numPoints: 8, dt: 0 }), /dt/);
  assert.throws(() => flow.positionsAt(-1), /step/);
});

test("bad documents are refused with what is wrong", () => {
  assert.throws(() => loadModel({ format: "other" }), /breathing-ellipse-model/);
  assert.throws(() => loadModel({ ...randomDocument("time-input"), version: 2 }), /version 2/);
  assert.throws(() => loadModel({ ...randomDocument("time-input"), kind: "spline" }), /kind "spline"/);
  const broken = randomDocument("time-input");
  delete broken.state["net.2.bias"];
  assert.throws(() => loadModel(broken), /net\.2\.bias/);
});
