// Puts the Rust figures (benches/composition.rs → rust.json) beside the TypeScript peers
// (bench/peers/run.mjs → peers.json): prints one table and, with --write, replaces the
// generated part of docs/performance.md (between the BEGIN/END GENERATED markers).
//
//   node bench/report.mjs --rust <rust.json> --peers <peers.json> [--write docs/performance.md]
//                         [--load-before "<loadavg>"] [--load-after "<loadavg>"]
import { execSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const rust = JSON.parse(readFileSync(option('rust'), 'utf8'));
const peersFile = option('peers', undefined);
const peers = peersFile && existsSync(peersFile) ? JSON.parse(readFileSync(peersFile, 'utf8')) : { cases: [] };
const byId = new Map(rust.rows.map((row) => [row.id, row]));

function sh(command) {
  try {
    return execSync(command, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

const cpuModel = (() => {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    return line ? line.split(':')[1].trim() : 'unknown';
  } catch {
    return 'unknown';
  }
})();

const machine = {
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  uname: sh('uname -a'),
  nproc: sh('nproc'),
  cpu: cpuModel,
  rustc: sh('rustc --version'),
  node: process.version,
  loadBefore: option('load-before', 'not recorded'),
  loadAfter: option('load-after', 'not recorded'),
};

const ns = (v) => (v === undefined || v === null ? '—' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const times = (v) => (v === undefined || v === null ? '—' : v >= 100 ? `${v.toFixed(0)}×` : `${v.toFixed(1)}×`);

// ---- the unified table: every convoke case, with its peers ----------------------------

const peersOf = new Map();
for (const peer of peers.cases) {
  if (!peer.convoke_case) continue;
  if (!peersOf.has(peer.convoke_case)) peersOf.set(peer.convoke_case, []);
  peersOf.get(peer.convoke_case).push(peer);
}

const rows = [];
for (const row of rust.rows) {
  const label = `${row.label} [${row.target}]`;
  const base = { case: label, convoke: row.ns, floorRatio: row.ratio, allocs: row.allocs_per_call };
  const list = peersOf.get(row.id) ?? [];
  if (list.length === 0) rows.push({ ...base, peer: '—', peerNs: null, ratio: null });
  for (const peer of list) {
    rows.push({ ...base, peer: peer.label, peerNs: peer.ns, ratio: peer.ns / row.ns });
  }
}

function printTable() {
  const header = ['case', 'convoke ns/call', '× floor', 'allocs', 'peer', 'peer ns/call', 'peer ÷ convoke'];
  const lines = rows.map((r) => [r.case, ns(r.convoke), times(r.floorRatio), r.allocs.toFixed(2), r.peer, ns(r.peerNs), times(r.ratio)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const right = new Set([1, 2, 3, 5, 6]);
  const fmt = (cells) => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log();
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const line of lines) console.log(fmt(line));
  console.log();
}

function markdownTable() {
  const out = [
    '| case | convoke ns/call | × floor | allocs/call | peer | peer ns/call | peer ÷ convoke |',
    '|---|---:|---:|---:|---|---:|---:|',
  ];
  for (const r of rows) {
    out.push(`| ${r.case} | ${ns(r.convoke)} | ${times(r.floorRatio)} | ${r.allocs.toFixed(2)} | ${r.peer} | ${ns(r.peerNs)} | ${times(r.ratio)} |`);
  }
  return out.join('\n');
}

// ---- the targets ----------------------------------------------------------------------

const targets = [];

{
  // Judged on the trivial callee, where the floor is the call alone; with a `get` the
  // difference is the same overhead on top of a ~200 ns read, within that read's noise.
  const composed = rust.rows.filter(
    (r) => (r.context === 'query' || r.context === 'mutation') && !r.id.includes('/floor/') && r.target === 'trivial',
  );
  const worst = composed.reduce((a, b) => ((b.above_floor_ns ?? -Infinity) > (a?.above_floor_ns ?? -Infinity) ? b : a), null);
  const over = composed.filter((r) => r.above_floor_ns > 30);
  targets.push({
    goal: 'composed call in a query or mutation context: at most 30 ns above the floor (trivial callee)',
    met: composed.length > 0 ? over.length === 0 : null,
    detail: worst
      ? over.length === 0
        ? `worst: ${worst.label} [${worst.target}], +${worst.above_floor_ns.toFixed(1)} ns`
        : over.map((r) => `${r.label} [${r.target}]: +${r.above_floor_ns.toFixed(1)} ns (missed by ${(r.above_floor_ns - 30).toFixed(1)} ns)`).join('; ')
      : 'not measured',
  });
}

{
  const pairs = peers.cases.filter((p) => p.case.startsWith('trpc/')).map((p) => ({ peer: p, row: byId.get(p.convoke_case) })).filter((x) => x.row);
  const below = pairs.filter((x) => x.peer.ns / x.row.ns < 100);
  targets.push({
    goal: "at least 100× faster than the same call through tRPC's createCaller",
    met: pairs.length > 0 ? below.length === 0 : null,
    detail: pairs.length === 0
      ? 'peers not measured'
      : pairs.map((x) => `${x.peer.case}: ${times(x.peer.ns / x.row.ns)}`).join('; '),
  });
}

for (const [id, limit, goal] of [
  ['action_ctx/run_query/trivial', 500, 'run_query from an action (in-memory engine): under 500 ns'],
  ['action_ctx/run_mutation/trivial', 2000, 'run_mutation from an action (in-memory engine): under 2 µs'],
]) {
  const row = byId.get(id);
  targets.push({
    goal,
    met: row ? row.ns < limit : null,
    detail: row ? `${ns(row.ns)} ns (${id})` : 'not measured',
  });
}

{
  const sameTx = rust.rows.filter((r) => (r.context === 'query' || r.context === 'mutation') && !r.id.includes('/floor/'));
  const extra = sameTx.map((r) => ({ r, extra: r.allocs_per_call - (byId.get(r.floor_id)?.allocs_per_call ?? NaN) }));
  const bad = extra.filter((x) => Math.abs(x.extra - 1) > 1e-9);
  targets.push({
    goal: 'no heap allocation on the same-transaction path other than the call future',
    met: sameTx.length > 0 ? bad.length === 0 : null,
    detail: bad.length === 0
      ? `exactly 1 allocation per composed call above the floor in all ${sameTx.length} same-transaction cases (also asserted by tests/allocations.rs)`
      : bad.map((x) => `${x.r.id}: ${x.extra.toFixed(2)} above the floor`).join('; '),
  });
}

function printTargets() {
  const status = (met) => (met === null ? 'n/a   ' : met ? 'met   ' : 'MISSED');
  for (const t of targets) console.log(`${status(t.met)}  ${t.goal}: ${t.detail}`);
  console.log();
}

function markdownTargets() {
  const out = ['| goal | status | figures |', '|---|---|---|'];
  const status = (met) => (met === null ? 'not measured' : met ? 'met' : '**missed**');
  for (const t of targets) out.push(`| ${t.goal} | ${status(t.met)} | ${t.detail} |`);
  return out.join('\n');
}

// ---- output ---------------------------------------------------------------------------

printTable();
printTargets();

const write = option('write', undefined);
if (write) {
  const packages = Object.entries(peers.packages ?? {}).map(([p, v]) => `${p} ${v}`).join(', ');
  const generated = `<!-- BEGIN GENERATED by bench/run.sh: do not edit by hand -->
## Latest figures

Run on ${machine.date} with \`bench/run.sh\`.

- Machine: \`${machine.uname}\`
- CPU: ${machine.cpu}, \`nproc\` = ${machine.nproc}
- Toolchains: ${machine.rustc}; Node.js ${machine.node}${packages ? `; peers: ${packages}` : ''}
- Load average (1, 5, 15 min) before / after: ${machine.loadBefore} / ${machine.loadAfter}

convoke figures are criterion's median over 100 samples; peer figures are the median over
${peers.processes ?? '—'} fresh processes of each process's median run. "× floor" is the
ratio to the floor of the same callee kind in the same run; "allocs" is heap allocations
per call (counting allocator); "peer ÷ convoke" is how many times slower the peer is.

${markdownTable()}

### Targets

${markdownTargets()}
<!-- END GENERATED -->`;
  const begin = '<!-- BEGIN GENERATED';
  const end = '<!-- END GENERATED -->';
  let doc = existsSync(write) ? readFileSync(write, 'utf8') : `# Performance\n\n${begin} -->\n${end}\n`;
  const from = doc.indexOf(begin);
  const to = doc.indexOf(end);
  if (from < 0 || to < 0) throw new Error(`${write} has no generated block`);
  doc = doc.slice(0, from) + generated + doc.slice(to + end.length);
  writeFileSync(write, doc);
  console.log(`wrote ${write}`);
}
