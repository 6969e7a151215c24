// Reads {document, beta0, period, numPoints, dt, steps} as JSON on stdin; prints the explorer core's
// predicted points after `steps` RK4 steps as JSON: tests/test_explorer.py holds them to torch's.
import { LearnedFlow, loadModel } from "../../breathing_lib/viz/explorer/core.js";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { document, beta0, period, numPoints, dt, steps } = JSON.parse(input);
const flow = new LearnedFlow(loadModel(document), { beta0, period, numPoints, dt });
const flat = flow.positionsAt(steps);
const points = [];
for (let i = 0; i < flat.length; i += 2) points.push([flat[i], flat[i + 1]]);
process.stdout.write(JSON.stringify(points));
