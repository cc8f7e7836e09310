// Runs every peer case, each in fresh processes, and reports the median ns/call.
//
//   node run.mjs [--processes 5] [--runs 5] [--run-ms 200] [--warmup-ms 1000]
//                [--out <file.json>] [case...]
//
// Each process warms up, calibrates, then times `--runs` runs of the case (case.mjs) and
// reports their median; the figure of a case is the median over its processes.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { cases, median } from './case.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** What each case measures, and the convoke case it is the peer of. */
export const descriptions = {
  'js/floor': ['floor: the async handler awaited directly (JavaScript)', 'query_ctx/floor/trivial'],
  'trpc/query': ['tRPC createCaller, query, no input validation, caller reused', 'query_ctx/query_reused/trivial'],
  'trpc/query_zod': ['tRPC createCaller, query, zod input, caller reused', 'query_ctx/query_reused/trivial'],
  'trpc/query_per_call': ['tRPC createCaller(ctx) per call, query, no input validation', 'query_ctx/query_per_call/trivial'],
  'trpc/mutation': ['tRPC createCaller, mutation, no input validation, caller reused', 'mutation_ctx/mutation_reused/trivial'],
  'trpc/mutation_zod': ['tRPC createCaller, mutation, zod input, caller reused', 'mutation_ctx/mutation_reused/trivial'],
  'better-convex/query_ctx_query': ['better-convex createBenchCaller(ctx), query ctx → query (zod)', 'query_ctx/query_per_call/trivial'],
  'better-convex/mutation_ctx_query': ['better-convex createBenchCaller(ctx), mutation ctx → query (zod)', 'mutation_ctx/query_per_call/trivial'],
  'better-convex/mutation_ctx_mutation': ['better-convex createBenchCaller(ctx), mutation ctx → mutation (zod)', 'mutation_ctx/mutation_per_call/trivial'],
  'better-convex/action_ctx_query': ['better-convex createBenchCaller(ctx), action ctx → query via ctx.runQuery (in-process)', 'action_ctx/caller_query/trivial'],
  'better-convex/action_ctx_mutation': ['better-convex createBenchCaller(ctx), action ctx → mutation via ctx.runMutation (in-process)', 'action_ctx/caller_mutation/trivial'],
  'better-convex/action_ctx_action': ['better-convex createBenchCaller(ctx).actions, action ctx → action (in-process)', 'action_ctx/actions/trivial'],
};

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

function version(pkg) {
  const file = join(here, 'node_modules', ...pkg.split('/'), 'package.json');
  return JSON.parse(readFileSync(file, 'utf8')).version;
}

const processes = Number(option('processes', 5));
const passOn = ['runs', 'run-ms', 'warmup-ms'].flatMap((name) => {
  const value = option(name, undefined);
  return value === undefined ? [] : [`--${name}`, value];
});
const out = option('out', undefined);
const optionValues = new Set(['processes', 'runs', 'run-ms', 'warmup-ms', 'out'].map((o) => option(o, undefined)));
const selected = process.argv.slice(2).filter((a) => !a.startsWith('--') && !optionValues.has(a));
const names = Object.keys(cases).filter((name) => selected.length === 0 || selected.some((s) => name.includes(s)));

const results = [];
for (const name of names) {
  const medians = [];
  for (let p = 0; p < processes; p++) {
    const child = spawnSync(process.execPath, [join(here, 'case.mjs'), name, ...passOn], { encoding: 'utf8' });
    if (child.status !== 0) {
      console.error(child.stderr);
      throw new Error(`case ${name} failed`);
    }
    const lines = child.stdout.trim().split('\n');
    medians.push(JSON.parse(lines[lines.length - 1]).median);
  }
  const [label, convokeCase] = descriptions[name] ?? [name, null];
  const result = {
    case: name,
    label,
    convoke_case: convokeCase,
    ns: median(medians),
    min: Math.min(...medians),
    max: Math.max(...medians),
    processes: medians,
  };
  results.push(result);
  console.log(
    `${name.padEnd(38)} ${result.ns.toFixed(1).padStart(10)} ns/call  (processes: ${medians.map((m) => m.toFixed(0)).join(', ')})`,
  );
}

const report = {
  node: process.version,
  packages: Object.fromEntries(['@trpc/server', 'better-convex', 'convex', 'zod'].map((p) => [p, version(p)])),
  processes,
  cases: results,
};
if (out) {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2));
  console.log(`wrote ${out}`);
}
