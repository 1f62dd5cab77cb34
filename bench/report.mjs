#!/usr/bin/env node
// `node bench/report.mjs [--results bench/results.jsonl] [--run <id>] [--doc docs/benchmarks.md]`
//
// Rewrites the part of docs/benchmarks.md between `<!-- bench:begin -->` and
// `<!-- bench:end -->` (everything else in the file is hand-written and
// kept) from the results file and the result lines the doc keeps from its
// last generation: the issue's targets with pass/fail, a table of ratios
// pushgate/floor and pushgate/Socket.IO with the absolute numbers, and
// docs/benchmarks.svg, a bar chart of the main ratios. Each scenario is
// taken from the latest full (non-smoke) run that has it, so ratios always
// compare servers measured in the same run; its run, date, commit and load
// are shown with it. `--run` takes each scenario that run measured from it;
// the others keep their last numbers. The lines shown are written back at
// the end of the block (results files are not committed).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const argv = process.argv.slice(2);
const arg = (n) => {
  const i = argv.indexOf(`--${n}`);
  return i === -1 ? undefined : argv[i + 1];
};
const resultsFile = arg('results') ?? join(ROOT, 'bench/results.jsonl');
const onlyRun = arg('run');
const DOC = arg('doc') ?? join(ROOT, 'docs/benchmarks.md');
const SVG = join(dirname(DOC), 'benchmarks.svg');
const BEGIN = '<!-- bench:begin -->';
const END = '<!-- bench:end -->';

const DATA_BEGIN = '<!-- bench:data';
const DATA_END = '-->';
const previousDoc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '';

/**
 * The result lines the doc was last generated from, kept in it between
 * `<!-- bench:data` and `-->` (one JSON line each, `--` written as
 * `-\u002d` so no line can end the comment): the raw results file is not
 * committed, so a run of some scenarios keeps the others' numbers.
 */
function docLines(doc) {
  const b = doc.indexOf(DATA_BEGIN);
  if (b === -1) return [];
  const e = doc.indexOf(DATA_END, b + DATA_BEGIN.length);
  return doc.slice(b + DATA_BEGIN.length, e === -1 ? undefined : e).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

const fileLines = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const seen = new Set();
/** Every full-run line known, oldest run first (a stable sort keeps each run's own order). */
const lines = [...docLines(previousDoc), ...fileLines]
  .filter((l) => !l.smoke)
  .filter((l) => {
    const key = JSON.stringify(l);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  })
  .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
/** The lines behind what this report shows, written back into the doc. */
const used = new Set();

/**
 * The lines of `scenario` from the latest run that has real (not skipped/error) lines of it;
 * with `--run`, from that run when it measured the scenario.
 */
function latest(scenario) {
  const ranHere = onlyRun !== undefined && lines.some((l) => l.scenario === scenario && l.run === onlyRun && !l.skipped && !l.error);
  const pool = ranHere ? lines.filter((l) => l.run === onlyRun) : lines;
  const real = pool.filter((l) => l.scenario === scenario && !l.skipped && !l.error);
  if (real.length === 0) {
    const other = pool.filter((l) => l.scenario === scenario).at(-1);
    if (other) used.add(other);
    return { rows: [], note: other?.skipped ?? other?.error };
  }
  const run = real.at(-1).run;
  for (const l of pool) if (l.scenario === scenario && l.run === run) used.add(l);
  return { rows: real.filter((l) => l.run === run), meta: real.at(-1) };
}

const KiB = (b) => (b === undefined || b === null ? '–' : `${(b / 1024).toFixed(2)} KiB`);
const MiB = (b) => (b === undefined || b === null ? '–' : `${(b / 1048576).toFixed(1)} MiB`);
const num = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? '–' : Number(x).toFixed(d));
const ms = (x) => (x === undefined || x === null ? '–' : `${Number(x).toFixed(x < 10 ? 2 : 1)} ms`);
const ratio = (a, b) => (a === undefined || b === undefined || a === null || b === null || b === 0 ? '–' : `${(a / b).toFixed(2)}×`);
const ratioNum = (a, b) => (a === undefined || b === undefined || a === null || b === null || b === 0 ? undefined : a / b);

const out = [];
const chart = [];
const targetsRows = [];
const metaOf = (m) => (m ? `run \`${m.run}\`, ${m.date.slice(0, 16).replace('T', ' ')} UTC, commit \`${m.commit}\`, Node ${m.node}, ${m.cpus} CPUs, load average ${m.load1} at start` : '');

function by(rows, pred) {
  return Object.fromEntries(rows.filter(pred).map((r) => [r.target, r]));
}

/** One table row: metric, the three absolute values, two ratios (pushgate first). */
function row(label, t, get, fmt, better) {
  const p = t.pushgate && get(t.pushgate);
  const f = t.floor && get(t.floor);
  const s = t.socketio && get(t.socketio);
  const r = (a, b) => (better === '' ? '–' : ratio(a, b));
  out.push(`| ${label} | ${fmt(p)} | ${fmt(f)} | ${fmt(s)} | ${r(p, f)} | ${r(p, s)} | ${better} |`);
}
const HEAD = ['| metric | pushgate | floor | Socket.IO | pushgate / floor | pushgate / Socket.IO | better |', '|---|---|---|---|---|---|---|'];

function section(title, scenario, body) {
  const { rows, meta, note } = latest(scenario);
  out.push(`### ${title}`, '');
  if (rows.length === 0) {
    out.push(note ? `Not measured: ${note}.` : 'Not measured yet.', '');
    return;
  }
  out.push(`_${metaOf(meta)}._`, '');
  body(rows);
  out.push('');
}

section('idle connections', 'idle', (rows) => {
  out.push(...HEAD);
  for (const n of [...new Set(rows.map((r) => r.connections))]) {
    const t = by(rows, (r) => r.connections === n);
    row(`RSS per connection, ${n}`, t, (r) => r.rssPerConnBytes, KiB, 'lower');
    row(`connects/s, ${n}`, t, (r) => r.connectPerS, (x) => num(x), 'higher');
    row(`CPU per connect, ${n}`, t, (r) => r.cpuMsPerConn, (x) => (x === undefined ? '–' : `${num(x, 3)} ms`), 'lower');
  }
  const t = by(rows, (r) => r.connections === Math.max(...rows.map((x) => x.connections)));
  if (t.pushgate) {
    targetsRows.push([`≤ 8 KiB RSS per idle connection at ${t.pushgate.connections}`, KiB(t.pushgate.rssPerConnBytes), `floor ${KiB(t.floor?.rssPerConnBytes)}`, t.pushgate.rssPerConnBytes <= 8192]);
    chart.push({ label: `RSS/conn @${t.pushgate.connections}`, floor: ratioNum(t.pushgate.rssPerConnBytes, t.floor?.rssPerConnBytes), socketio: ratioNum(t.pushgate.rssPerConnBytes, t.socketio?.rssPerConnBytes), lowerBetter: true });
  }
});

section('latency (open loop, POST → WebSocket receipt)', 'latency', (rows) => {
  out.push(...HEAD);
  for (const rate of [...new Set(rows.map((r) => r.ratePerS))]) {
    const t = by(rows, (r) => r.ratePerS === rate);
    const c = rows[0].connections;
    for (const q of ['p50', 'p90', 'p99', 'p999', 'max']) row(`${q}, ${rate}/s, ${c} clients`, t, (r) => r.latencyMs[q], ms, 'lower');
    row(`lost, ${rate}/s`, t, (r) => r.lost, (x) => num(x), 'lower');
    row(`duplicates, ${rate}/s`, t, (r) => r.duplicates, (x) => num(x), 'lower');
    if (rate === 2000 && t.pushgate) {
      targetsRows.push([`p99 ≤ 10 ms at 2000/s, ${c} clients, nothing lost`, `p99 ${ms(t.pushgate.latencyMs.p99)}, lost ${t.pushgate.lost}`, `floor p99 ${ms(t.floor?.latencyMs.p99)}`, t.pushgate.latencyMs.p99 <= 10 && t.pushgate.lost === 0]);
      chart.push({ label: 'p99 latency @2000/s', floor: ratioNum(t.pushgate.latencyMs.p99, t.floor?.latencyMs.p99), socketio: ratioNum(t.pushgate.latencyMs.p99, t.socketio?.latencyMs.p99), lowerBetter: true });
    }
  }
  out.push('', 'Socket.IO delivers to every tab of the user (a room per user), pushgate and the floor to one tab per browser, so Socket.IO makes twice the deliveries.');
});

section('saturate (closed loop, 32 keep-alive connections)', 'saturate', (rows) => {
  out.push(...HEAD);
  const ns = [...new Set(rows.map((r) => r.connections))];
  for (const n of ns) {
    const t = by(rows, (r) => r.connections === n);
    row(`requests/s, ${n} clients`, t, (r) => r.requestsPerS, (x) => num(x), 'higher');
    row(`deliveries/s, ${n} clients`, t, (r) => r.deliveriesPerS, (x) => num(x), 'higher');
    row(`server CPU per request, ${n} clients`, t, (r) => r.serverCpuUsPerRequest, (x) => (x === undefined ? '–' : `${num(x, 1)} µs`), 'lower');
    if (t.pushgate) {
      targetsRows.push([`≥ 90 % of the floor's requests/s at ${n} clients`, `${num(t.pushgate.requestsPerS)}/s`, `floor ${num(t.floor?.requestsPerS)}/s = ${ratio(t.pushgate.requestsPerS, t.floor?.requestsPerS)}`, t.floor ? t.pushgate.requestsPerS >= 0.9 * t.floor.requestsPerS : false]);
      chart.push({ label: `time per request @${n}`, floor: ratioNum(t.pushgate.requestsPerS, t.floor?.requestsPerS), socketio: ratioNum(t.pushgate.requestsPerS, t.socketio?.requestsPerS), lowerBetter: false });
    }
    const w = rows.find((r) => r.connections === n && r.target === 'pushgate-workers2');
    if (w && t.pushgate) targetsRows.push([`--workers 2 ≥ 1.5× one process at ${n} clients`, `${num(w.requestsPerS)}/s`, `one process ${num(t.pushgate.requestsPerS)}/s = ${ratio(w.requestsPerS, t.pushgate.requestsPerS)}`, w.requestsPerS >= 1.5 * t.pushgate.requestsPerS]);
  }
  const pg = rows.filter((r) => r.target === 'pushgate');
  if (pg.length >= 2) out.push('', `pushgate requests/s at ${pg.at(-1).connections} clients / at ${pg[0].connections}: ${ratio(pg.at(-1).requestsPerS, pg[0].requestsPerS)} (delivery cost must not grow with connected users).`);
  if (!rows.some((r) => r.target === 'pushgate-workers2')) {
    const skip = lines.filter((l) => l.scenario === 'saturate' && l.target === 'pushgate-workers2' && l.skipped).at(-1);
    if (skip) out.push('', `\`--workers 2\`: ${skip.skipped}.`);
  }
});

section('broadcast (one ExportStatus to every connection)', 'broadcast', (rows) => {
  out.push(...HEAD);
  const t = by(rows, () => true);
  const c = rows[0].connections;
  row(`last client has it, ${c} clients (median of ${rows[0].rounds})`, t, (r) => r.lastMs, ms, 'lower');
  row('worst round', t, (r) => r.lastMsMax, ms, 'lower');
  row('median client', t, (r) => r.medianClientMs, ms, 'lower');
  row('server\'s own broadcast call (writing every socket)', t, (r) => r.serverLoopMs, ms, 'lower');
  if (t.pushgate) {
    targetsRows.push([`broadcast to ${c}: last delivery ≤ 100 ms`, ms(t.pushgate.lastMs), `floor ${ms(t.floor?.lastMs)}`, t.pushgate.lastMs <= 100]);
    chart.push({ label: `broadcast @${c}`, floor: ratioNum(t.pushgate.lastMs, t.floor?.lastMs), socketio: ratioNum(t.pushgate.lastMs, t.socketio?.lastMs), lowerBetter: true });
  }
});

section('slow reader (one paused client flooded, 1k others at a background rate)', 'slow-reader', (rows) => {
  out.push(...HEAD);
  const t = by(rows, () => true);
  row('flood accepted (200)', t, (r) => r.flood.accepted, (x) => num(x), '');
  row('read by the paused client', t, (r) => r.flood.delivered, (x) => num(x), '');
  row('closed by the server (counted)', t, (r) => (r.flood.closedByServer ? 1 : 0), (x) => (x === undefined ? '–' : x ? 'yes' : 'no'), '');
  row('silent drops', t, (r) => r.silentDrops, (x) => num(x), 'must be 0');
  row('server RSS growth (peak)', t, (r) => r.rssPeakGrowthBytes, MiB, 'lower');
  row('background p99', t, (r) => r.backgroundLatencyMs.p99, ms, 'lower');
  row('background lost', t, (r) => r.backgroundLost, (x) => num(x), 'lower');
  if (t.pushgate) targetsRows.push(['slow reader: 0 silent drops, RSS bounded', `${t.pushgate.silentDrops} silent, +${MiB(t.pushgate.rssPeakGrowthBytes)}`, `floor +${MiB(t.floor?.rssPeakGrowthBytes)}`, t.pushgate.silentDrops === 0]);
});

section('scale (`pushgate serve --workers N`)', 'scale', (rows) => {
  out.push('| workers | connections | RSS total | RSS per connection | RSS per process | /message posts | delivered | lost |', '|---|---|---|---|---|---|---|---|');
  for (const r of rows) out.push(`| ${r.workers} | ${r.connections} | ${MiB(r.rssTotalBytes)} | ${KiB(r.rssPerConnBytes)} | ${r.rssEachBytes.map(MiB).join(', ')} | ${r.posts} | ${r.delivered} | ${r.lost} |`);
});

section('sender start-up (`send_push_notification` vs `node -e 0`)', 'sender', (rows) => {
  const measured = rows.filter((r) => !r.skipped);
  out.push('| variant | wall p50 | wall p90 | CPU p50 | peak RSS | on disk | wall / `node -e 0` | CPU / `node -e 0` |', '|---|---|---|---|---|---|---|---|');
  for (const r of measured) {
    out.push(`| ${r.variant} | ${ms(r.wall_ms_p50)} | ${ms(r.wall_ms_p90)} | ${ms(r.cpu_ms_p50)} | ${MiB(r.rss_kib * 1024)} | ${r.bytes ? (r.bytes >= 1e6 ? `${num(r.bytes / 1e6, 1)} MB` : `${num(r.bytes / 1000, 1)} kB`) : '–'} | ${num(r.ratio_to_node_e0, 2)}× | ${num(r.cpu_ratio_to_node_e0, 2)}× |`);
  }
  const skipped = rows.filter((r) => r.skipped).map((r) => r.variant);
  if (skipped.length > 0) out.push('', `Not measured in this run: ${rows.filter((r) => r.skipped).map((r) => `${r.variant} (${r.skipped})`).join(', ')}.`);
  const best = measured.filter((r) => r.variant !== 'node-e0').sort((a, b) => a.ratio_to_node_e0 - b.ratio_to_node_e0)[0];
  if (best) targetsRows.push(['sender ≤ 1.2× `node -e 0` (wall)', `${best.variant} ${num(best.ratio_to_node_e0, 2)}×`, `bundle ${num(measured.find((r) => r.variant === 'bundle')?.ratio_to_node_e0, 2)}×`, best.ratio_to_node_e0 <= 1.2]);
});

section('Web Push (sends per second and CPU per push against a push-service stand-in)', 'web-push', (rows) => {
  const p = rows.find((r) => r.target === 'pushgate');
  const b = rows.find((r) => r.target === 'web-push-sendNotification');
  out.push(`${num(p?.pushes ?? b?.pushes)} pushes to ${num(p?.users)} subscriptions (one ECDH + aes128gcm each). pushgate: end to end from \`POST /message\` (journal, outbox, VAPID JWT reused per push service); baseline: the \`web-push\` package's \`sendNotification\` alone (a JWT signed per push), 16 in flight each.`, '');
  out.push('| metric | pushgate | web-push sendNotification | pushgate / baseline | better |', '|---|---|---|---|---|');
  out.push(`| pushes per second | ${num(p?.pushesPerS)} | ${num(b?.pushesPerS)} | ${ratio(p?.pushesPerS, b?.pushesPerS)} | higher |`);
  out.push(`| CPU per push | ${num(p?.cpuUsPerPush)} µs | ${num(b?.cpuUsPerPush)} µs | ${ratio(p?.cpuUsPerPush, b?.cpuUsPerPush)} | lower |`);
});

section('timer wheel (the outbox\'s retry waits: one `TimerWheel` vs one `setTimeout` per delivery)', 'timer-wheel', (rows) => {
  const w = rows.find((r) => r.target === 'wheel');
  const st = rows.find((r) => r.target === 'setTimeout');
  const ns = (x) => (x === undefined || x === null ? '–' : `${num(x, x < 100 ? 1 : 0)} ns`);
  const bytes = (x) => (x === undefined || x === null ? '–' : `${num(x)} B`);
  out.push(`${num(w?.items ?? st?.items)} pending items, delays spread over 0–300 s; medians of ${w?.rounds ?? st?.rounds} rounds, each implementation in processes of its own.`, '');
  out.push('| metric | wheel | setTimeout | wheel / setTimeout | better |', '|---|---|---|---|---|');
  const r = (label, get, fmt) => out.push(`| ${label} | ${fmt(w && get(w))} | ${fmt(st && get(st))} | ${ratio(w && get(w), st && get(st))} | lower |`);
  r('schedule, per item', (x) => x.scheduleNsPerItem, ns);
  r('cancel, per item', (x) => x.cancelNsPerItem, ns);
  r('heap per pending item', (x) => x.heapBytesPerItem, bytes);
  out.push(`| a tick with all pending, nothing due | ${ns(w?.idleTickNs)} | – | – | lower |`);
  out.push(`| firing, per item | ${ns(w?.fireNsPerItem)} | – | – | lower |`);
});

section('escalation (pending steps in one node\'s store, a due batch)', 'escalation', (rows) => {
  out.push('| pending steps | RSS for them | heap per step | CPU per second idle | due batch | last of the batch after its due time | planning them |', '|---|---|---|---|---|---|---|');
  for (const r of rows) out.push(`| ${num(r.steps)} | ${num(r.rssMiB, 1)} MiB | ${num(r.heapBytesPerStep)} B | ${num(r.idleCpuMsPerSec, 2)} ms | ${num(r.batch)} | ${ms(r.fireBatchMs)} | ${ms(r.planMs)} |`);
});

// The chart: pushgate's ratio to each baseline, oriented so that < 1 is always better for pushgate
// (a higher-is-better metric such as requests/s is drawn as its inverse, the time per request).
function svg(items) {
  const W = 640;
  const rowH = 34;
  const left = 170;
  const top = 40;
  const max = Math.max(2, ...items.flatMap((i) => [i.floor, i.socketio].filter((x) => x !== undefined).map((x) => (i.lowerBetter ? x : 1 / x))));
  const scale = (W - left - 70) / max;
  const H = top + items.length * rowH + 40;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${left}" y="18" font-weight="bold">pushgate cost relative to each baseline (same run; below 1 = pushgate better)</text>`,
    `<rect x="${left}" y="24" width="10" height="10" fill="#4a7ab5"/><text x="${left + 14}" y="33">÷ floor (ws + node:http)</text>`,
    `<rect x="${left + 170}" y="24" width="10" height="10" fill="#d08a3c"/><text x="${left + 184}" y="33">÷ Socket.IO</text>`,
  ];
  items.forEach((it, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 6}" y="${y + 18}" text-anchor="end">${it.label}</text>`);
    [['floor', '#4a7ab5', 4], ['socketio', '#d08a3c', 17]].forEach(([k, color, dy]) => {
      if (it[k] === undefined) return;
      const v = it.lowerBetter ? it[k] : 1 / it[k];
      parts.push(`<rect x="${left}" y="${y + dy}" width="${Math.max(1, v * scale).toFixed(1)}" height="12" fill="${color}"/>`);
      parts.push(`<text x="${(left + v * scale + 4).toFixed(1)}" y="${y + dy + 10}">${v.toFixed(2)}</text>`);
    });
  });
  const one = left + scale;
  parts.push(`<line x1="${one}" y1="${top - 4}" x2="${one}" y2="${H - 30}" stroke="#000" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${one}" y="${H - 16}" text-anchor="middle">1.0 = same as baseline</text>`, '</svg>');
  return `${parts.join('\n')}\n`;
}

const body = [];
body.push('## Gateway suite (`pnpm bench`)', '');
body.push('Generated by `node bench/report.mjs` from `bench/results.jsonl` (not committed; `pnpm bench` writes it and runs the report at the end) and the result lines kept at the end of this block; each scenario shows its latest full run. Do not edit between the markers. How it measures: see "How the suite works" below.', '');
if (targetsRows.length > 0 || out.length > 0) {
  body.push('### Targets (issue 9 §2)', '', '| target | pushgate | reference | met |', '|---|---|---|---|');
  for (const [what, val, ref, ok] of targetsRows) body.push(`| ${what} | ${val} | ${ref} | ${ok ? 'yes' : '**no**'} |`);
  body.push('');
}
if (chart.length > 0) {
  writeFileSync(SVG, svg(chart));
  body.push('![pushgate relative to the floor and Socket.IO](benchmarks.svg)', '');
}
body.push(...out);

if (used.size > 0) {
  const kept = lines.filter((l) => used.has(l)).map((l) => JSON.stringify(l).replace(/--/g, '-\\u002d'));
  body.push('', `${DATA_BEGIN} (the result lines behind the tables above, read back by bench/report.mjs)`, ...kept, DATA_END);
}

const doc = previousDoc || '# Benchmarks\n';
const block = `${BEGIN}\n${body.join('\n').trimEnd()}\n${END}`;
const b = doc.indexOf(BEGIN);
const e = doc.indexOf(END);
let next;
if (b !== -1 && e > b) next = doc.slice(0, b) + block + doc.slice(e + END.length);
else {
  // First run: after the introduction (before the first "## " section).
  const first = doc.indexOf('\n## ');
  next = first === -1 ? `${doc.trimEnd()}\n\n${block}\n` : `${doc.slice(0, first + 1)}${block}\n\n${doc.slice(first + 1)}`;
}
writeFileSync(DOC, next);
process.stderr.write(`bench: wrote ${DOC}${chart.length ? ` and ${SVG}` : ''}\n`);
