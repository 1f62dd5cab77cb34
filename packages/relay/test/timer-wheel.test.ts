import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { TimerWheel } from '../src/timer-wheel.js';

/** A wheel on a clock the test moves by hand; `advance()` is what the interval would call. */
function manual(tickMs = 100) {
  let now = 1_000_000;
  const fired: Array<[string, number]> = [];
  const wheel = new TimerWheel({ tickMs, now: () => now });
  const fire = (name: string) => fired.push([name, now]);
  return {
    wheel,
    fired,
    fire,
    /** Moves the clock by `ms` in steps of at most `step` ms, advancing the wheel after each. */
    move(ms: number, step = tickMs) {
      const end = now + ms;
      while (now < end) {
        now = Math.min(end, now + step);
        wheel.advance();
      }
    },
    get now() {
      return now;
    },
  };
}

t.test('items fire in due order, none before its delay, at most one tick late', async (t) => {
  const m = manual(100);
  t.teardown(() => m.wheel.close());
  const start = m.now;
  const delays = [950, 0, 120, 5000, 250, 3000, 25_000, 60_000, 30 * 60_000];
  for (const d of delays) m.wheel.schedule(d, m.fire, String(d));
  t.equal(m.wheel.size, delays.length);
  m.move(31 * 60_000, 10);
  t.same(m.fired.map(([name]) => name), ['0', '120', '250', '950', '3000', '5000', '25000', '60000', '1800000']);
  for (const [name, at] of m.fired) {
    const d = Number(name);
    t.ok(at - start >= d, `${name} fired ${at - start} ms after scheduling, not before`);
    t.ok(at - start <= d + 100, `${name} fired within one tick of its due time (${at - start} ms)`);
  }
  t.equal(m.wheel.size, 0);
});

t.test('items due within the same tick fire together on that tick', async (t) => {
  const m = manual(100);
  t.teardown(() => m.wheel.close());
  for (const d of [101, 150, 199, 200]) m.wheel.schedule(d, m.fire, String(d));
  m.move(199, 1);
  t.same(m.fired, [], 'nothing before the tick that starts at or after 200 ms (101 ms is due in that tick)');
  m.move(1, 1);
  t.same(m.fired.map(([n]) => n).sort(), ['101', '150', '199', '200']);
});

t.test('a cancelled item never fires; cancelling twice or after firing returns false', async (t) => {
  const m = manual();
  t.teardown(() => m.wheel.close());
  const a = m.wheel.schedule(500, m.fire, 'a');
  const b = m.wheel.schedule(500, m.fire, 'b');
  const c = m.wheel.schedule(70_000, m.fire, 'c');
  t.equal(m.wheel.cancel(b), true);
  t.equal(m.wheel.cancel(b), false);
  t.equal(m.wheel.cancel(c), true, 'an item in a higher level cancels too');
  t.equal(b.pending, false);
  t.equal(m.wheel.size, 1);
  m.move(100_000, 1000);
  t.same(m.fired.map(([n]) => n), ['a']);
  t.equal(a.pending, false);
  t.equal(m.wheel.cancel(a), false, 'a fired item is no longer pending');
  const other = new TimerWheel();
  t.teardown(() => other.close());
  const foreign = other.schedule(1000, () => {}, null);
  t.equal(m.wheel.cancel(foreign), false, "another wheel's item is left alone");
  t.equal(other.size, 1);
});

t.test('an item may cancel another item due in the same tick, and schedule new ones', async (t) => {
  const m = manual();
  t.teardown(() => m.wheel.close());
  const names: string[] = [];
  const handles: Record<string, ReturnType<TimerWheel['schedule']>> = {};
  const fn = (name: string) => {
    names.push(name);
    for (const h of Object.values(handles)) m.wheel.cancel(h);
    if (name.length < 3) m.wheel.schedule(0, fn, `${name}+`);
  };
  handles.x = m.wheel.schedule(200, fn, 'x');
  handles.y = m.wheel.schedule(200, fn, 'y');
  m.move(1000);
  t.equal(names.length, 3, `${names.join(',')}`);
  t.match(names[0], /^[xy]$/, 'one of the two fired');
  t.same(names.slice(1), [`${names[0]}+`, `${names[0]}++`], 'the items it scheduled fired on the following ticks');
});

t.test("items beyond the wheel's horizon (256^4 ticks) fire at their time, after being placed again", async (t) => {
  // 1 ms ticks: the four levels cover 256^4 ms, about 50 days.
  const m = manual(1);
  t.teardown(() => m.wheel.close());
  const day = 86_400_000;
  const start = m.now;
  m.wheel.schedule(120 * day, m.fire, 'far');
  m.wheel.schedule(60 * day + 5, m.fire, 'beyond');
  m.wheel.schedule(3 * day, m.fire, 'days');
  m.wheel.schedule(7, m.fire, 'soon');
  // Jump the clock in large steps: advance() catches up tick by tick.
  m.move(121 * day, day / 4);
  t.same(m.fired.map(([n]) => n), ['soon', 'days', 'beyond', 'far']);
  const late = m.fired.map(([n, at]) => [n, at - start - { soon: 7, days: 3 * day, beyond: 60 * day + 5, far: 120 * day }[n]!]);
  for (const [n, l] of late) t.ok((l as number) >= 0, `${n} not early (${l} ms after due, the clock moved in quarter days)`);
});

t.test('100k items: each fires once, in tick order, cancelled ones never', async (t) => {
  const m = manual(100);
  t.teardown(() => m.wheel.close());
  const n = 100_000;
  const handles = [];
  const firedAt = new Float64Array(n).fill(-1);
  const due = new Float64Array(n);
  let count = 0;
  const order: number[] = [];
  const fn = (i: number) => {
    if (firedAt[i] !== -1) t.fail(`item ${i} fired twice`);
    firedAt[i] = m.now;
    order.push(i);
    count++;
  };
  const start = m.now;
  for (let i = 0; i < n; i++) {
    // Spread over 0..~2 h, a deterministic pseudo-random order.
    due[i] = (i * 7919) % 7_200_000;
    handles.push(m.wheel.schedule(due[i]!, fn, i));
  }
  for (let i = 0; i < n; i += 3) m.wheel.cancel(handles[i]!);
  const cancelled = Math.ceil(n / 3);
  t.equal(m.wheel.size, n - cancelled);
  m.move(7_300_000, 1000);
  t.equal(count, n - cancelled);
  t.equal(m.wheel.size, 0);
  let early = 0;
  let late = 0;
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) {
      if (firedAt[i] !== -1) wrong++;
      continue;
    }
    const after = firedAt[i]! - start;
    if (after < due[i]!) early++;
    // The test clock moves in 1 s steps, so "late" is bounded by the step here.
    if (after > due[i]! + 1000) late++;
  }
  t.equal(wrong, 0, 'no cancelled item fired');
  t.equal(early, 0, 'no item fired early');
  t.equal(late, 0, 'no item fired more than a clock step late');
  const tickOf = (i: number) => Math.ceil((start + due[i]!) / 100);
  let outOfOrder = 0;
  for (let k = 1; k < order.length; k++) if (tickOf(order[k]!) < tickOf(order[k - 1]!)) outOfOrder++;
  t.equal(outOfOrder, 0, 'items fired in the order of their due ticks');
});

t.test('an exception from one item does not stop the others of its tick', async (t) => {
  const m = manual();
  t.teardown(() => m.wheel.close());
  const seen: string[] = [];
  const errors: unknown[] = [];
  const onUncaught = (err: unknown) => errors.push(err);
  // tap installs its own handler; ours sees the rethrown error too.
  process.prependListener('uncaughtException', onUncaught);
  t.teardown(() => process.removeListener('uncaughtException', onUncaught));
  m.wheel.schedule(100, () => {
    seen.push('thrower');
    throw new Error('boom');
  }, null);
  m.wheel.schedule(100, (x: string) => seen.push(x), 'other');
  m.move(200);
  t.same(seen.sort(), ['other', 'thrower']);
  await new Promise((r) => setImmediate(r));
  t.match(errors, [{ message: 'boom' }], 'the error surfaces as an uncaught exception');
});

t.test('close cancels everything and refuses new items; schedule rejects a bad tick', async (t) => {
  const m = manual();
  t.equal(m.wheel.tickMs, 100, 'ticks of 100 ms by default');
  const h = m.wheel.schedule(100, m.fire, 'a');
  m.wheel.close();
  t.equal(h.pending, false);
  t.equal(m.wheel.size, 0);
  m.move(1000);
  t.same(m.fired, []);
  t.throws(() => m.wheel.schedule(1, m.fire, 'b'), /closed/);
  m.wheel.close();
  t.throws(() => new TimerWheel({ tickMs: 0 }), RangeError);
});

t.test('on the real clock an item fires after its delay', async (t) => {
  // unref: false, or nothing would keep this test process alive while it waits.
  const wheel = new TimerWheel({ tickMs: 20, unref: false });
  t.teardown(() => wheel.close());
  const start = performance.now();
  const elapsed = await new Promise<number>((resolve) => {
    wheel.schedule(50, () => resolve(performance.now() - start), null);
  });
  t.ok(elapsed >= 50, `fired after ${elapsed.toFixed(1)} ms`);
  t.equal(wheel.size, 0);
});

// ---- the process is not held open ------------------------------------------

const child = join(import.meta.dirname, 'fixtures', 'timer-wheel-child.ts');
const execArgv = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a.includes('tapjs+typescript'));

function runChild(unref: boolean, delayMs: number): Promise<{ code: number | null; out: string; ms: number }> {
  return new Promise((resolve) => {
    const start = Date.now();
    const proc = spawn(process.execPath, [...execArgv, child, String(unref), String(delayMs)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: '' } });
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    const killer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    proc.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, out, ms: Date.now() - start });
    });
  });
}

t.test('a pending item does not keep the process alive (unref by default); with unref: false it does', async (t) => {
  const [unrefd, held] = await Promise.all([runChild(true, 20_000), runChild(false, 300)]);
  t.equal(unrefd.code, 0);
  t.equal(unrefd.out, 'scheduled\n', 'the process exited with the item still pending, without waiting 20 s');
  t.equal(held.code, 0);
  t.equal(held.out, 'scheduled\nfired\n', 'unref: false waited for the item');
});
