// Runs the compiled tests with node's own runner: the product's (dist/test/<tier>/) and the emulator
// package's (packages/emulator/dist/test/, tier "emulator"). Node 20 has no glob support in --test,
// so the files are listed here. Usage: node scripts/run-tests.mjs [unit|inprocess|integration|e2e|faults|emulator ...]
// The fast tiers start first: unit (pure functions), then inprocess (the run and the item copy against
// in-memory fakes, no subprocess); the tiers that start emulators and CLI subprocesses follow.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = [
  { dir: 'dist/test', src: 'test', tier: (f) => f.slice('dist/test/'.length).split('/')[0] },
  { dir: 'packages/emulator/dist/test', src: 'packages/emulator/test', tier: () => 'emulator' },
];
const tiers = process.argv.slice(2);
const files = [];
// A compiled test whose source is gone (moved or deleted since the last build) is left out: tsc -b
// never removes outputs.
function walk(dir, r) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, r);
    else if (name.endsWith('.test.js') && existsSync(join(r.src, relative(r.dir, p)).replace(/\.js$/, '.ts'))) files.push({ path: p, root: r.dir, tier: r.tier(p) });
  }
}
for (const r of roots) {
  if (!existsSync(r.dir)) {
    console.error(`no compiled tests in ${r.dir}: run npm run build first`);
    process.exit(1);
  }
  walk(r.dir, r);
}
const FIRST = ['unit', 'inprocess'];
const rank = (f) => (FIRST.includes(f.tier) ? FIRST.indexOf(f.tier) : FIRST.length);
const selected = (tiers.length === 0 ? files : files.filter((f) => tiers.some((t) => f.tier === t || f.path.startsWith(join(f.root, t)))))
  .map((f, i) => ({ f, i }))
  .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
  .map(({ f }) => f.path);
if (selected.length === 0) {
  console.error('no test files found for ' + (tiers.join(', ') || 'any tier'));
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...selected], { stdio: 'inherit', env: { ...process.env, CDB2COS_TEST: '1' } });
process.exit(r.status ?? 1);
