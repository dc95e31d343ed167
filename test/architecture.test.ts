// The folder layout holds: no import loop between the concerns under src/ (a folder and its
// subfolders are one concern; the leaf modules at src/ are one more), and no file-level loop.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of each file, as absolute .ts paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const specifiers = [...readFileSync(file, 'utf8').matchAll(/(?:from|import) '(\.{1,2}\/[^']+)'/g)].map((m) => m[1] ?? '');
    graph.set(file, specifiers.map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts')));
  }
  return graph;
}

const concern = (file: string): string => {
  const parts = relative(SRC, file).split('/');
  return parts.length === 1 ? '(src)' : (parts[0] ?? '');
};

function cycle<T>(edges: Map<T, Set<T>>): T[] | null {
  const state = new Map<T, 'open' | 'done'>();
  const stack: T[] = [];
  const visit = (node: T): T[] | null => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (state.get(next) === undefined) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of edges.keys()) {
    const found = state.get(node) === undefined ? visit(node) : null;
    if (found) return found;
  }
  return null;
}

test('no import loop between the folders under src/', () => {
  const edges = new Map<string, Set<string>>();
  for (const [file, imports] of importGraph()) {
    for (const target of imports) {
      const [from, to] = [concern(file), concern(target)];
      if (from !== to) edges.set(from, (edges.get(from) ?? new Set()).add(to));
    }
  }
  assert.ok(edges.size > 5, 'the graph was read');
  const loop = cycle(edges);
  assert.equal(loop, null, `loop: ${loop?.join(' → ')}`);
});

test('no import loop between files', () => {
  const graph = importGraph();
  const edges = new Map([...graph].map(([file, imports]) => [relative(SRC, file), new Set(imports.map((i) => relative(SRC, i)))]));
  const loop = cycle(edges);
  assert.equal(loop, null, `loop: ${loop?.join(' → ')}`);
});
