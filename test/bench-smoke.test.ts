/**
 * Keeps the benchmark suite working (benchmarks are not tests: nothing here
 * looks at a number's size). `pnpm bench --smoke` runs every scenario with
 * tiny N against pushgate, the floor and Socket.IO; each must print valid
 * JSON lines (or a skip line), none may fail, and pushgate must have
 * delivered every accepted notification exactly once. Then the report
 * generator renders those results into a copy of docs/benchmarks.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCENARIOS = ['micro', 'timer-wheel', 'escalation', 'start', 'idle', 'latency', 'saturate', 'broadcast', 'slow-reader', 'sender', 'storm', 'scale'];

t.setTimeout(240_000);

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('pnpm bench --smoke: every scenario prints JSON lines', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-bench-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const results = join(dir, 'results.jsonl');
  const r = await run(['bench/run.mjs', '--smoke', '--results', results]);
  t.equal(r.code, 0, `run.mjs exits 0\n${r.stderr}`);

  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(readFileSync(results, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)), lines, 'the results file holds the same lines');
  const runIds = new Set(lines.map((l) => l.run));
  t.equal(runIds.size, 1, 'one run id');
  for (const l of lines) {
    t.equal(l.smoke, true, 'tagged as smoke');
    t.type(l.commit, 'string');
    t.type(l.load1, 'number');
    t.notOk(l.error, `${String(l.scenario)}: no error (${String(l.error)})`);
  }
  for (const s of SCENARIOS) t.ok(lines.some((l) => l.scenario === s), `${s} printed a line`);

  // Every scenario that ran (not skipped) measured all three servers.
  for (const s of ['idle', 'latency', 'saturate', 'broadcast', 'slow-reader']) {
    const targets = new Set(lines.filter((l) => l.scenario === s && !l.skipped).map((l) => l.target));
    t.same([...targets].filter((x) => x !== 'pushgate-workers2').sort(), ['floor', 'pushgate', 'socketio'], `${s}: all three servers`);
  }
  const latency = lines.find((l) => l.scenario === 'latency' && l.target === 'pushgate') as { accepted: number; lost: number; duplicates: number; unexpected: number };
  t.ok(latency.accepted > 0, 'pushgate accepted notifications');
  t.equal(latency.lost, 0, 'pushgate lost none');
  t.equal(latency.duplicates, 0, 'pushgate duplicated none');
  t.equal(latency.unexpected, 0, 'pushgate delivered nothing it had not accepted');
  const slow = lines.find((l) => l.scenario === 'slow-reader' && l.target === 'pushgate') as { silentDrops: number };
  t.equal(slow.silentDrops, 0, 'no silent drop for the slow reader');

  // The report renders full runs only: mark these lines as one and render into a copy of the doc.
  writeFileSync(results, lines.map((l) => JSON.stringify({ ...l, smoke: false })).join('\n') + '\n');
  const doc = join(dir, 'benchmarks.md');
  writeFileSync(doc, '# Benchmarks\n\nIntro.\n\n## sender start-up\n\nHand-written.\n');
  const rep = await run(['bench/report.mjs', '--results', results, '--doc', doc]);
  t.equal(rep.code, 0, `report.mjs exits 0\n${rep.stderr}`);
  const text = readFileSync(doc, 'utf8');
  t.match(text, /<!-- bench:begin -->[\s\S]*\| pushgate \/ floor \|[\s\S]*<!-- bench:end -->/, 'ratio table between the markers');
  t.match(text, /## sender start-up\n\nHand-written\./, 'the hand-written part survives');
  const again = await run(['bench/report.mjs', '--results', results, '--doc', doc]);
  t.equal(again.code, 0);
  t.equal(readFileSync(doc, 'utf8'), text, 'regenerating rewrites the same block in place');
});
