// Runs one peer case in this process: warm-up, calibration, then several timed runs.
// Prints one JSON line: { case, iters, runs: [ns/call...], median }.
//
//   node case.mjs <case> [--runs 7] [--run-ms 200] [--warmup-ms 1000]
import { betterConvexCases } from './better-convex/cases.mjs';
import { trpcCases } from './trpc.mjs';

export const cases = { ...trpcCases, ...betterConvexCases };

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main() {
  const name = process.argv[2];
  const run = cases[name];
  if (!run) {
    console.error(`unknown case ${name}; cases: ${Object.keys(cases).join(', ')}`);
    process.exit(2);
  }
  const runs = option('runs', 7);
  const runMs = option('run-ms', 200);
  const warmupMs = option('warmup-ms', 1000);

  // Warm-up (lets V8 optimise the whole path), growing the batch to calibrate.
  let iters = 1000;
  let nsPerCall = Infinity;
  const warmupEnd = Date.now() + warmupMs;
  while (Date.now() < warmupEnd) {
    const ns = await run(iters);
    nsPerCall = ns / iters;
    if (ns < 20e6) iters *= 2;
  }
  iters = Math.max(1000, Math.round((runMs * 1e6) / nsPerCall));

  const perCall = [];
  for (let r = 0; r < runs; r++) {
    perCall.push((await run(iters)) / iters);
  }
  console.log(JSON.stringify({ case: name, iters, runs: perCall, median: median(perCall) }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
