// The emulator package stands on its own: its modules import nothing from the product (only node:,
// its declared dependencies and each other), and their import graph, type-only imports included, has
// no cycle (the control routes once imported the Emulator class back from index.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const srcDir = join(pkg, 'src');
const declared = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : name.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier a file names in an import or export … from, static or dynamic. */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*'([^']+)'|(?:^|\n)\s*import\s*'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

const files = sources(srcDir);
const graph = new Map<string, string[]>();
for (const f of files) {
  const local: string[] = [];
  for (const s of specifiers(f)) {
    if (s.startsWith('.')) local.push(resolve(dirname(f), s.replace(/\.js$/, '.ts')));
  }
  graph.set(f, local);
}

test('the emulator sources import only node:, their declared dependencies and each other', () => {
  assert.ok(files.length > 10, `found ${files.length} sources under ${srcDir}`);
  const allowed = new Set(Object.keys(declared.dependencies ?? {}));
  const bad: string[] = [];
  for (const f of files) {
    for (const s of specifiers(f)) {
      if (s.startsWith('node:')) continue;
      if (s.startsWith('.')) {
        const target = resolve(dirname(f), s);
        if (relative(srcDir, target).startsWith('..')) bad.push(`${relative(pkg, f)}: ${s} (outside the package)`);
        continue;
      }
      const name = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!;
      if (!allowed.has(name)) bad.push(`${relative(pkg, f)}: ${s} (not a dependency of the package)`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the import graph of the emulator sources has no cycle', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(srcDir, p)).join(' → '));
      return;
    }
    state.set(f, 'open');
    for (const g of graph.get(f) ?? []) if (graph.has(g)) visit(g, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  assert.deepEqual(cycles, []);
});
