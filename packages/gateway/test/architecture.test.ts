/**
 * The folder tree is the architecture (docs/architecture.md): imports
 * between the gateway's modules point one way. This reads every relative
 * import of packages/gateway/src, type-only and dynamic ones included, and
 * fails on any circle, naming it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Module → the modules it imports (relative specifiers, `.js` mapped to the `.ts` source). */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const spec = /(?:from\s*|import\s*\(\s*)['"](\.\.?\/[^'"]+)['"]/g;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const deps = [...text.matchAll(spec)].map((m) => resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
    graph.set(file, [...new Set(deps)]);
  }
  return graph;
}

/** Every circle of the graph, each as a path that starts and ends at the same module. */
function circles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (m: string): void => {
    state.set(m, 'open');
    stack.push(m);
    for (const d of graph.get(m) ?? []) {
      if (!graph.has(d)) continue;
      if (state.get(d) === 'open') found.push([...stack.slice(stack.indexOf(d)), d]);
      else if (state.get(d) === undefined) visit(d);
    }
    stack.pop();
    state.set(m, 'done');
  };
  for (const m of graph.keys()) if (state.get(m) === undefined) visit(m);
  return found;
}

t.test('no import between gateway modules runs both ways, directly or around a circle', (t) => {
  const graph = importGraph(sources(SRC));
  t.ok(graph.size > 40, `${graph.size} modules read`);
  const found = circles(graph).map((c) => c.map((m) => relative(SRC, m)).join(' → '));
  t.same(found, [], 'no circles');
  t.end();
});

t.test('the circle finder sees a circle when there is one', (t) => {
  const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
  t.same(circles(g), [['a', 'b', 'c', 'a']]);
  t.same(circles(new Map([['a', ['b']], ['b', []]])), []);
  t.end();
});
