// The explorer on a page: controls, a canvas with the exact curve against the learned one, and
// readouts. One module for both homes: the book's static pages call mount(); JupyterLab's
// anywidget calls the default export's render(). The numbers come from core.js.
import { LearnedFlow, loadModel, maxPointError, shoelaceArea } from "./core.js";

const TRUTH = "#1f77b4"; // matplotlib's tab:blue and tab:red, as the book's figures
const LEARNED = "#d62728";
const FIELD = "#999999";
const STEPS = [0.0125, 0.025, 0.05];
const STYLE = `
.be-explorer { display: flex; flex-wrap: wrap; gap: 0.8rem 1.2rem; align-items: flex-start; font: 14px/1.4 system-ui, sans-serif; margin: 0.5rem 0 1rem; }
.be-explorer canvas { width: min(100%, 420px); aspect-ratio: 1; border: 1px solid #ddd; border-radius: 4px; background: #fff; touch-action: none; }
.be-explorer.be-compact canvas { width: min(100%, 300px); }
.be-panel { display: flex; flex-direction: column; gap: 0.5rem; max-width: 36rem; }
.be-grid { display: grid; grid-template-columns: max-content minmax(8rem, 14rem) 4.5rem; justify-content: start; gap: 0.35rem 0.6rem; align-items: center; }
.be-panel label { color: #444; }
.be-panel output { font-variant-numeric: tabular-nums; }
.be-panel .be-wide { display: flex; gap: 0.6rem; flex-wrap: wrap; align-items: center; }
.be-panel button { padding: 0.2rem 0.8rem; border: 1px solid #bbb; border-radius: 4px; background: #f6f6f6; cursor: pointer; }
.be-readouts { font-variant-numeric: tabular-nums; color: #222; }
.be-readouts .be-note { color: #a05a00; }
.be-legend { color: #444; }
.be-legend b { font-weight: 600; }
`;

function addStyle(root) {
  const doc = root.ownerDocument;
  if (doc.getElementById("be-explorer-style")) return;
  const style = doc.createElement("style");
  style.id = "be-explorer-style";
  style.textContent = STYLE;
  doc.head.appendChild(style);
}

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.appendChild(child);
  return node;
}

const format = {
  fixed: (digits) => (v) => v.toFixed(digits),
  int: (v) => String(Math.round(v)),
  error: (v) => (v < 1e-3 ? v.toExponential(2) : v.toPrecision(3)),
};

/**
 * Mounts an explorer of the given model documents in `root`. settings (all optional): model
 * (a document's name), beta0, period, numPoints, dt, tMax, time, field (draw the learned field),
 * compact (canvas and play button only). Returns the explorer's API, also at root.breathingExplorer.
 */
export function mount(root, documents, settings = {}) {
  if (!documents || documents.length === 0) throw new Error("the explorer needs at least one model document");
  addStyle(root);
  root.classList.add("breathing-explorer"); // the page's and the widget's explorers alike
  const models = new Map(documents.map((d) => [d.name, d]));
  const first = models.get(settings.model) || documents[0];
  const state = {
    model: first.name,
    beta0: settings.beta0 ?? first.config.beta0,
    period: settings.period ?? first.config.period,
    numPoints: settings.numPoints ?? 64,
    dt: settings.dt ?? 0.025,
    tMax: settings.tMax ?? 2 * first.config.t_final,
    step: 0,
    field: settings.field ?? !settings.compact,
    playing: false,
  };
  state.step = Math.round((settings.time ?? 0) / state.dt);
  let flow = null;
  let fieldPeak = 0; // the flow's problem's peak |alpha| over a period: the field arrows' scale
  const stats = { frames: 0, frameMs: [], firstFrame: null, lastFrame: null }; // while playing: the work of each frame

  // ---- the DOM
  const canvas = element("canvas", { width: 840, height: 840, "aria-label": "the breathing ellipse: exact and learned" });
  const grid = element("div", { class: "be-grid" }); // the sliders and menus, a row each
  const panel = element("div", { class: "be-panel" }, [grid]);
  const container = element("div", { class: "be-explorer" + (settings.compact ? " be-compact" : "") }, [canvas, panel]);
  root.replaceChildren(container);
  const controls = {};
  const row = (name, label, input, shown) => {
    const output = element("output", { "data-for": name });
    controls[name] = { input, output, shown };
    grid.append(element("label", { text: label }), input, output);
    input.setAttribute("data-control", name);
    input.setAttribute("aria-label", label);
  };
  const slider = (min, max, step) => element("input", { type: "range", min, max, step });

  if (!settings.compact) {
    const select = element("select", {}, documents.map((d) => element("option", { value: d.name, text: d.name })));
    row("model", "model", select, () => "");
    row("beta0", "\u03b2\u2080 (aspect ratio)", slider(1.05, 4, 0.05), format.fixed(2));
    row("period", "period T", slider(0.5, 2, 0.05), format.fixed(2));
    row("numPoints", "points N", slider(8, 1000, 1), format.int);
    const dt = element("select", {}, STEPS.map((s) => element("option", { value: s, text: String(s) })));
    row("dt", "RK4 step dt", dt, () => "");
  }
  row("time", "time t", slider(0, 1, 1), (k) => (k * state.dt).toFixed(3));
  const play = element("button", { type: "button", "data-control": "play", text: "\u25b6 play" });
  const buttons = [play];
  if (!settings.compact) {
    buttons.push(element("button", { type: "button", "data-control": "reset", text: "the model's training problem" }));
    const field = element("input", { type: "checkbox", "data-control": "field" });
    controls.fieldToggle = field;
    buttons.push(element("label", {}, [field, document.createTextNode(" learned field")]));
  }
  panel.append(element("div", { class: "be-wide" }, buttons));
  const readouts = element("div", { class: "be-readouts", "aria-live": "polite" });
  panel.append(readouts);
  if (!settings.compact) {
    panel.append(element("div", { class: "be-legend" }, [
      element("b", { text: "blue" }), document.createTextNode(": the exact motion of the sliders' ellipse; "),
      element("b", { text: "red" }), document.createTextNode(": the model's flow of its first curve (RK4, float64, in this page)"),
    ]));
  }

  // ---- state -> numbers
  const lastStep = () => Math.round(state.tMax / state.dt);
  const rebuild = () => {
    const { beta0, period, numPoints, dt } = state;
    flow = new LearnedFlow(loadCore(models.get(state.model)), { beta0, period, numPoints, dt });
    fieldPeak = peakRate(flow.problem);
    state.step = Math.min(state.step, lastStep());
  };

  function readings() {
    const predicted = flow.positionsAt(state.step);
    const truth = flow.truthAt(state.step);
    const t = state.step * state.dt;
    const config = models.get(state.model).config;
    return {
      t,
      maxPointError: maxPointError(predicted, truth),
      areaRatio: shoelaceArea(predicted) / shoelaceArea(truth),
      extrapolating: t > config.t_final + 1e-9,
      otherProblem: Math.abs(state.beta0 - config.beta0) > 1e-9 || Math.abs(state.period - config.period) > 1e-9,
      predicted,
      truth,
    };
  }

  // ---- drawing
  const ctx = canvas.getContext("2d");
  function draw() {
    const r = readings();
    const size = canvas.width;
    const extent = 1.2 * Math.sqrt(Math.max(state.beta0, 1 / state.beta0));
    const scale = size / (2 * extent);
    const X = (x) => size / 2 + x * scale;
    const Y = (y) => size / 2 - y * scale;
    ctx.clearRect(0, 0, size, size);
    ctx.strokeStyle = "#eee";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(0, size / 2); ctx.lineTo(size, size / 2); ctx.moveTo(size / 2, 0); ctx.lineTo(size / 2, size);
    ctx.stroke();
    if (state.field && flow.model.hasField) drawField(ctx, flow, r.t, extent, X, Y, fieldPeak);
    curve(ctx, r.truth, X, Y, TRUTH, 5, []);
    curve(ctx, r.predicted, X, Y, LEARNED, 4, [14, 10]);
    ctx.fillStyle = LEARNED;
    if (state.numPoints <= 200) {
      for (let i = 0; i < r.predicted.length; i += 2) {
        ctx.beginPath();
        ctx.arc(X(r.predicted[i]), Y(r.predicted[i + 1]), 4, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    showReadings(r);
    return r;
  }

  function showReadings(r) {
    const notes = [];
    if (r.extrapolating) notes.push("past the training window: extrapolation");
    if (r.otherProblem) notes.push("not the model's training problem");
    readouts.replaceChildren(
      document.createTextNode(`t = ${r.t.toFixed(4)} (RK4 step ${state.dt}) \u00b7 N = ${state.numPoints} \u00b7 max point error ` +
        `${format.error(r.maxPointError)} \u00b7 area ratio ${r.areaRatio.toFixed(5)}`),
      ...(notes.length ? [element("br"), element("span", { class: "be-note", text: notes.join("; ") })] : []),
    );
    readouts.dataset.maxPointError = r.maxPointError;
    readouts.dataset.areaRatio = r.areaRatio;
  }

  function syncControls() {
    for (const [name, { input, output, shown }] of Object.entries(controls)) {
      if (name === "fieldToggle") continue;
      if (name === "time") {
        input.max = lastStep();
        input.value = state.step;
        output.textContent = shown(state.step);
      } else {
        input.value = state[name];
        output.textContent = shown(state[name]);
      }
    }
    if (controls.fieldToggle) controls.fieldToggle.checked = state.field;
    play.textContent = state.playing ? "\u275a\u275a pause" : "\u25b6 play";
  }

  function set(changes) {
    const needsFlow = ["model", "beta0", "period", "numPoints", "dt"].some((k) => k in changes && changes[k] !== state[k]);
    if ("dt" in changes && changes.dt !== state.dt) state.step = Math.round((state.step * state.dt) / changes.dt);
    Object.assign(state, changes);
    if (needsFlow || !flow) rebuild();
    state.step = Math.max(0, Math.min(state.step, lastStep()));
    syncControls();
    return draw();
  }

  // ---- events
  const parse = { model: String, beta0: Number, period: Number, numPoints: (v) => Math.round(Number(v)), dt: Number };
  for (const [name, { input }] of Object.entries(controls)) {
    if (name === "fieldToggle") continue;
    input.addEventListener("input", () => {
      if (name === "time") set({ step: Math.round(Number(input.value)) });
      else set({ [name]: parse[name](input.value) });
    });
  }
  controls.fieldToggle?.addEventListener("change", () => set({ field: controls.fieldToggle.checked }));
  panel.querySelector('[data-control="reset"]')?.addEventListener("click", () => {
    const config = models.get(state.model).config;
    set({ beta0: config.beta0, period: config.period });
  });

  let frame = null;
  function tick() {
    const start = performance.now();
    state.step = state.step >= lastStep() ? 0 : state.step + 1; // one RK4 step a frame (new steps only)
    syncControls();
    draw();
    stats.frames += 1;
    stats.frameMs.push(performance.now() - start);
    stats.lastFrame = start;
    stats.firstFrame ??= start;
    if (stats.frameMs.length > 600) stats.frameMs.shift();
    frame = requestAnimationFrame(tick);
  }
  function setPlaying(on) {
    state.playing = on;
    if (frame !== null) cancelAnimationFrame(frame);
    frame = on ? requestAnimationFrame(tick) : null;
    syncControls();
  }
  play.addEventListener("click", () => setPlaying(!state.playing));

  set({});
  const api = {
    /** The predicted points at the current time, [[x, y], ...] (the browser tests read them). */
    points: () => pairs(flow.positionsAt(state.step)),
    truth: () => pairs(flow.truthAt(state.step)),
    readings: () => { const { predicted, truth, ...rest } = readings(); return rest; },
    settings: () => ({ ...state, time: state.step * state.dt }),
    models: () => documents.map((d) => d.name),
    set,
    play: () => setPlaying(true),
    pause: () => setPlaying(false),
    /** Start a fresh flow (nothing integrated yet), for timing one RK4 step a frame. */
    restart: () => { rebuild(); state.step = 0; Object.assign(stats, { frames: 0, frameMs: [], firstFrame: null }); return draw(); },
    stats,
  };
  root.breathingExplorer = api;
  (globalThis.breathingExplorers ||= []).push(api);
  return api;
}

const cores = new WeakMap();
function loadCore(doc) {
  // one parsed network per document, shared by every explorer of the page
  if (!cores.has(doc)) cores.set(doc, loadModel(doc));
  return cores.get(doc);
}

function pairs(flat) {
  const out = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

function curve(ctx, points, X, Y, color, width, dash) {
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  for (let i = 0; i < points.length; i += 2) {
    if (i === 0) ctx.moveTo(X(points[i]), Y(points[i + 1]));
    else ctx.lineTo(X(points[i]), Y(points[i + 1]));
  }
  ctx.closePath();
  ctx.stroke();
  ctx.setLineDash([]);
}

// the exact field's peak rate |alpha| over a period (64 samples): with the grid's edge, the arrows' scale
function peakRate(problem) {
  let peak = 0;
  for (let i = 0; i < 64; i++) peak = Math.max(peak, Math.abs(problem.alpha((i / 64) * problem.period)));
  return peak;
}

// arrows of the learned field on a 13 x 13 grid; an arrow one grid spacing long is the exact
// field's peak speed at the grid's edge over a period (peak: peakRate), so the scale stays put while time runs
function drawField(ctx, flow, t, extent, X, Y, peak) {
  const cells = 13, spacing = (2 * extent) / cells;
  const reference = peak * extent || 1;
  ctx.strokeStyle = FIELD;
  ctx.fillStyle = FIELD;
  ctx.lineWidth = 2;
  for (let i = 0; i < cells; i++) {
    for (let j = 0; j < cells; j++) {
      const x = -extent + (i + 0.5) * spacing, y = -extent + (j + 0.5) * spacing;
      const [u, v] = flow.model.velocity(t, x, y);
      const length = Math.hypot(u, v);
      if (!(length > 0)) continue;
      const k = Math.min(length / reference, 1.5) * 0.9 * spacing / length;
      const x1 = x + u * k, y1 = y + v * k;
      ctx.beginPath();
      ctx.moveTo(X(x), Y(y));
      ctx.lineTo(X(x1), Y(y1));
      ctx.stroke();
      const angle = Math.atan2(-(y1 - y), x1 - x), head = 9;
      ctx.beginPath();
      ctx.moveTo(X(x1), Y(y1));
      ctx.lineTo(X(x1) - head * Math.cos(angle - 0.45), Y(y1) - head * Math.sin(angle - 0.45));
      ctx.lineTo(X(x1) - head * Math.cos(angle + 0.45), Y(y1) - head * Math.sin(angle + 0.45));
      ctx.fill();
    }
  }
}

// JupyterLab (anywidget): the widget's model carries the documents and the settings
export default {
  render({ model, el }) {
    const explorer = mount(el, model.get("models"), model.get("settings"));
    return () => explorer.pause(); // the view is gone: stop its animation
  },
};
