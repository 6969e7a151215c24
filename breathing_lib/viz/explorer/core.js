// The explorer's numbers, with no DOM: a trained model read from its JSON document
// (breathing_lib/model_json.py), the breathing ellipse's exact motion, and the learned flow
// integrated with torchdiffeq's "rk4" step (the 3/8 rule), in float64 like the library's
// float64 predict. Node's tests import this file directly; view.js draws with it.

export const FORMAT = "breathing-ellipse-model";
export const VERSION = 1;

// ---------------------------------------------------------------- the exact motion

/** The breathing ellipse of area pi (xi = 1): beta(t) swings between beta0 and 1/beta0 with period T. */
export function ellipse(beta0, period) {
  if (!(beta0 > 0)) throw new RangeError(`beta0 must be positive, got ${beta0}`);
  if (!(period > 0)) throw new RangeError(`period must be positive, got ${period}`);
  const omega = (2 * Math.PI) / period;
  const mean = beta0 + 1 / beta0;
  const swing = beta0 - 1 / beta0;
  const beta = (t) => 0.5 * (mean + swing * Math.cos(omega * t));
  const alpha = (t) => (-0.5 * swing * omega * Math.sin(omega * t)) / (2 * beta(t));
  return {
    beta0, period, omega, beta, alpha,
    /** Points (x0, y0, x1, y1, ...) at time t, theta = linspace(0, 2 pi, n) as the library samples them. */
    curve(t, n) {
      const root = Math.sqrt(beta(t));
      const out = new Float64Array(2 * n);
      for (let i = 0; i < n; i++) {
        const theta = n === 1 ? 0 : (2 * Math.PI * i) / (n - 1);
        out[2 * i] = root * Math.cos(theta);
        out[2 * i + 1] = Math.sin(theta) / root;
      }
      return out;
    },
    /** The exact field alpha(t) (x, -y) at one point. */
    velocity(t, x, y) {
      const a = alpha(t);
      return [a * x, -a * y];
    },
  };
}

// ---------------------------------------------------------------- the network

function tensor(document, key) {
  const entry = document.state[key];
  if (!entry) throw new Error(`model document "${document.name}": state has no "${key}"`);
  const size = entry.shape.reduce((a, b) => a * b, 1);
  if (entry.values.length !== size) throw new Error(`model document "${document.name}": "${key}" has the wrong size`);
  // each value is the shortest decimal of a float32: fround gives back exactly torch's number
  return Float64Array.from(entry.values, Math.fround);
}

function scalar(document, key) {
  return tensor(document, key)[0];
}

/** The 3-layer tanh MLP of every model: weights row-major (out x in), as torch stores them. */
function mlp(document) {
  const layers = [0, 2, 4].map((i) => ({
    weight: tensor(document, `net.${i}.weight`),
    bias: tensor(document, `net.${i}.bias`),
    inputs: document.state[`net.${i}.weight`].shape[1],
    outputs: document.state[`net.${i}.weight`].shape[0],
  }));
  const hidden = layers.slice(0, 2).map((l) => new Float64Array(l.outputs));
  const affine = (layer, input, out) => {
    const { weight, bias, inputs, outputs } = layer;
    for (let o = 0; o < outputs; o++) {
      let sum = bias[o];
      const row = o * inputs;
      for (let i = 0; i < inputs; i++) sum += weight[row + i] * input[i];
      out[o] = sum;
    }
  };
  return {
    layers,
    inputs: layers[0].inputs,
    outputs: layers[2].outputs,
    hidden,
    /** out = net(z); the hidden activations stay in `hidden` (the stream field differentiates them). */
    evaluate(z, out) {
      affine(layers[0], z, hidden[0]);
      for (let j = 0; j < hidden[0].length; j++) hidden[0][j] = Math.tanh(hidden[0][j]);
      affine(layers[1], hidden[0], hidden[1]);
      for (let j = 0; j < hidden[1].length; j++) hidden[1][j] = Math.tanh(hidden[1][j]);
      affine(layers[2], hidden[1], out);
    },
  };
}

// ---------------------------------------------------------------- the fields, by kind

// Each kind: the state's size, the state at t0 from positions (and the exact velocity, for
// the second-order kinds), and rate(t, state, out) for one point. Mirrors models.py.
const KINDS = {
  "time-input": { dim: 2, timeInput: true, rate: firstOrder },
  autonomous: { dim: 2, timeInput: false, rate: firstOrder },
  phase: { dim: 3, timeInput: false, rate: phaseRate },
  stream: { dim: 2, timeInput: true, rate: streamRate },
  "second-order": { dim: 4, timeInput: false, rate: secondOrderRate },
  "second-order-time": { dim: 4, timeInput: true, rate: secondOrderRate },
};

export const MODEL_KINDS = Object.keys(KINDS);

function firstOrder(m, t, s, out) {
  const z = m.z;
  z[0] = (s[0] - m.mean[0]) / m.std[0];
  z[1] = (s[1] - m.mean[1]) / m.std[1];
  if (m.kind.timeInput) z[2] = (t - m.tMin) / m.span;
  m.net.evaluate(z, m.y);
  out[0] = m.y[0] * (m.std[0] / m.span);
  out[1] = m.y[1] * (m.std[1] / m.span);
}

function phaseRate(m, t, s, out) {
  const z = m.z;
  z[0] = (s[0] - m.mean[0]) / m.std[0];
  z[1] = (s[1] - m.mean[1]) / m.std[1];
  z[2] = Math.sin(s[2]);
  z[3] = Math.cos(s[2]);
  m.net.evaluate(z, m.y);
  out[0] = m.y[0] * (m.std[0] / m.span);
  out[1] = m.y[1] * (m.std[1] / m.span);
  out[2] = m.omega;
}

function secondOrderRate(m, t, s, out) {
  const z = m.z;
  z[0] = (s[0] - m.mean[0]) / m.std[0];
  z[1] = (s[1] - m.mean[1]) / m.std[1];
  z[2] = s[2] / m.vStd[0];
  z[3] = s[3] / m.vStd[1];
  if (m.kind.timeInput) z[4] = (t - m.tMin) / m.span;
  m.net.evaluate(z, m.y);
  out[0] = s[2];
  out[1] = s[3];
  out[2] = m.y[0] * m.aStd[0];
  out[3] = m.y[1] * m.aStd[1];
}

// velocity = (dpsi/dy, -dpsi/dx) of psi = net(z) sx sy / span, by the chain rule through the layers
function streamRate(m, t, s, out) {
  const z = m.z;
  z[0] = (s[0] - m.mean[0]) / m.std[0];
  z[1] = (s[1] - m.mean[1]) / m.std[1];
  z[2] = (t - m.tMin) / m.span;
  const net = m.net;
  net.evaluate(z, m.y);
  const [first, second, last] = net.layers;
  const [a1, a2] = net.hidden;
  const g2 = m.g2, g1 = m.g1; // d psi_net / d (pre-activation) of layers 2 and 1
  for (let j = 0; j < second.outputs; j++) g2[j] = last.weight[j] * (1 - a2[j] * a2[j]);
  for (let i = 0; i < first.outputs; i++) {
    let sum = 0;
    for (let j = 0; j < second.outputs; j++) sum += g2[j] * second.weight[j * second.inputs + i];
    g1[i] = sum * (1 - a1[i] * a1[i]);
  }
  let gx = 0, gy = 0;
  for (let i = 0; i < first.outputs; i++) {
    gx += g1[i] * first.weight[i * first.inputs];
    gy += g1[i] * first.weight[i * first.inputs + 1];
  }
  out[0] = (m.std[0] * gy) / m.span;
  out[1] = (-m.std[1] * gx) / m.span;
}

/** A trained model from its JSON document: evaluates the field at one point's state. */
export function loadModel(document) {
  if (!document || document.format !== FORMAT) throw new Error(`not a ${FORMAT} document`);
  if (document.version !== VERSION) throw new Error(`model document version ${document.version} unsupported (reads ${VERSION})`);
  const kind = KINDS[document.kind];
  if (!kind) throw new Error(`model kind "${document.kind}" unknown (known: ${MODEL_KINDS.join(", ")})`);
  const net = mlp(document);
  const tMin = scalar(document, "t_min");
  const m = {
    name: document.name,
    kind,
    kindName: document.kind,
    config: document.config,
    dim: kind.dim,
    net,
    mean: tensor(document, "X_mean"),
    std: tensor(document, "X_std"),
    tMin,
    span: scalar(document, "t_max") - tMin,
    omega: document.kind === "phase" ? scalar(document, "omega") : NaN,
    vStd: kind.dim === 4 ? tensor(document, "V_std") : null,
    aStd: kind.dim === 4 ? tensor(document, "A_std") : null,
    z: new Float64Array(net.inputs),
    y: new Float64Array(net.outputs),
    g1: new Float64Array(net.layers[0].outputs),
    g2: new Float64Array(net.layers[1].outputs),
  };
  return {
    name: m.name,
    kind: m.kindName,
    config: m.config,
    dim: m.dim,
    /** Does the state's rate give a velocity field f(x, y, t) to draw (not the second-order kinds)? */
    hasField: m.dim !== 4,
    /** d(state)/dt of one point. */
    rate: (t, state, out) => kind.rate(m, t, state, out),
    /** States (n * dim) at t0 of points (2n); the second-order kinds start from the exact velocity. */
    initialState(t0, points, problem) {
      const n = points.length / 2;
      const s = new Float64Array(n * m.dim);
      for (let i = 0; i < n; i++) {
        const x = points[2 * i], y = points[2 * i + 1];
        s[i * m.dim] = x;
        s[i * m.dim + 1] = y;
        if (m.dim === 3) s[i * m.dim + 2] = m.omega * t0;
        if (m.dim === 4) [s[i * m.dim + 2], s[i * m.dim + 3]] = problem.velocity(t0, x, y);
      }
      return s;
    },
    /** The learned velocity at (x, y, t), for the arrows (a first-order field's own rate). */
    velocity(t, x, y) {
      const s = Float64Array.of(x, y, m.omega * t);
      const out = new Float64Array(3);
      kind.rate(m, t, s, out);
      return [out[0], out[1]];
    },
  };
}

// ---------------------------------------------------------------- the integrator

/**
 * One step of torchdiffeq's "rk4" (its 3/8-rule variant) from t0 to t0 + dt for every point:
 * `state` (n * dim) is advanced into `out`. `work` holds scratch arrays (makeWork).
 */
export function rk4Step(model, t0, dt, state, out, work) {
  const d = model.dim, n = state.length / d;
  const { k1, k2, k3, k4, y } = work;
  const third = 1 / 3, twoThirds = 2 / 3;
  const t1 = t0 + dt;
  for (let p = 0; p < n; p++) {
    const s = state.subarray(p * d, (p + 1) * d);
    model.rate(t0, s, k1);
    for (let i = 0; i < d; i++) y[i] = s[i] + dt * k1[i] * third;
    model.rate(t0 + dt * third, y, k2);
    for (let i = 0; i < d; i++) y[i] = s[i] + dt * (k2[i] - k1[i] * third);
    model.rate(t0 + dt * twoThirds, y, k3);
    for (let i = 0; i < d; i++) y[i] = s[i] + dt * (k1[i] - k2[i] + k3[i]);
    model.rate(t1, y, k4);
    for (let i = 0; i < d; i++) out[p * d + i] = s[i] + (k1[i] + 3 * (k2[i] + k3[i]) + k4[i]) * dt * 0.125;
  }
  return out;
}

export function makeWork(dim) {
  return { k1: new Float64Array(dim), k2: new Float64Array(dim), k3: new Float64Array(dim), k4: new Float64Array(dim), y: new Float64Array(dim) };
}

/**
 * The learned flow of a problem's initial curve: states at t = k dt, computed on demand and kept,
 * so scrubbing back costs nothing and playing costs one RK4 step a frame.
 */
export class LearnedFlow {
  constructor(model, { beta0, period, numPoints, dt }) {
    if (!Number.isInteger(numPoints) || numPoints < 3) throw new RangeError(`numPoints must be an integer >= 3, got ${numPoints}`);
    if (!(dt > 0)) throw new RangeError(`dt must be positive, got ${dt}`);
    this.model = model;
    this.problem = ellipse(beta0, period);
    this.numPoints = numPoints;
    this.dt = dt;
    this.work = makeWork(model.dim);
    this.states = [model.initialState(0, this.problem.curve(0, numPoints), this.problem)];
  }

  /** Steps integrated so far. */
  get computed() {
    return this.states.length - 1;
  }

  /** The state (n * dim) at step k, integrating the steps not yet taken. */
  stateAt(k) {
    if (!Number.isInteger(k) || k < 0) throw new RangeError(`step must be an integer >= 0, got ${k}`);
    while (this.states.length <= k) {
      const j = this.states.length - 1;
      const previous = this.states[j];
      this.states.push(rk4Step(this.model, j * this.dt, this.dt, previous, new Float64Array(previous.length), this.work));
    }
    return this.states[k];
  }

  /** Positions (x0, y0, x1, y1, ...) at step k. */
  positionsAt(k) {
    const s = this.stateAt(k), d = this.model.dim, n = this.numPoints;
    if (d === 2) return s;
    const out = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      out[2 * i] = s[i * d];
      out[2 * i + 1] = s[i * d + 1];
    }
    return out;
  }

  /** The exact curve at step k: the flow of the same initial points. */
  truthAt(k) {
    return this.problem.curve(k * this.dt, this.numPoints);
  }
}

// ---------------------------------------------------------------- the readouts

/** Largest distance between corresponding points of two curves (x0, y0, x1, y1, ...). */
export function maxPointError(a, b) {
  let worst = 0;
  for (let i = 0; i < a.length; i += 2) worst = Math.max(worst, Math.hypot(a[i] - b[i], a[i + 1] - b[i + 1]));
  return worst;
}

/** Area enclosed by a closed polygon (x0, y0, x1, y1, ...), by the shoelace formula. */
export function shoelaceArea(points) {
  const n = points.length / 2;
  let twice = 0;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    twice += points[2 * i] * points[2 * j + 1] - points[2 * j] * points[2 * i + 1];
  }
  return Math.abs(twice) / 2;
}
