// bench/scenarios/sender.mjs keeps its contract with
// bench/run.mjs: one JSON line per variant on stdout, numbers or a
// reason for skipping. One round of the baseline and the bundle only, so
// this stays a second or two; no timing is asserted.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const script = join(root, 'bench', 'scenarios', 'sender.mjs');
const bundle = join(root, 'packages', 'sender', 'dist', 'send_push_notification.mjs');

function scenario(args: string[]): { status: number | null; lines: Array<Record<string, unknown>>; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 60_000 });
  const lines = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, lines, stdout: r.stdout, stderr: r.stderr };
}

t.test('one JSON line per variant: the baseline and the bundle, measured or skipped with a reason', async (t) => {
  const r = scenario(['--only', 'bundle', '--runs', '1', '--warmup', '0']);
  t.equal(r.status, 0, r.stderr);
  t.same(r.lines.map((l) => [l.scenario, l.variant]), [['sender', 'node-e0'], ['sender', 'bundle']]);
  for (const line of r.lines) {
    if (typeof line.skipped === 'string') {
      // Only a machine without python3 skips these two (the bundle is built by `pnpm build`).
      t.match(line.skipped, /python3/, `${String(line.variant)} skipped: ${line.skipped}`);
      continue;
    }
    for (const key of ['wall_ms_p50', 'wall_ms_p90', 'cpu_ms_p50', 'cpu_ms_p90', 'rss_kib', 'ratio_to_node_e0', 'cpu_ratio_to_node_e0']) {
      t.ok(typeof line[key] === 'number' && (line[key] as number) > 0, `${String(line.variant)} ${key} is a positive number`);
    }
    t.equal(line.runs, 1);
  }
  const [base, sender] = r.lines;
  if (typeof base?.skipped !== 'string') {
    t.equal(base?.ratio_to_node_e0, 1);
    t.equal(base?.bytes, 0);
    t.equal(sender?.bytes, statSync(bundle).size);
  }
});

t.test('bad options exit 2 with a message saying what is wrong, and print no JSON', async (t) => {
  for (const [args, message] of [
    [['--runs', '0'], /--runs wants a whole number > 0, got "0"/],
    [['--only', 'bundel'], /--only: unknown variant bundel; known: node-e0, bundle, compiled/],
    [['--fast'], /Unknown option '--fast'/],
  ] as const) {
    const r = scenario([...args]);
    t.equal(r.status, 2, args.join(' '));
    t.match(r.stderr, message);
    t.equal(r.stdout, '');
  }
});
