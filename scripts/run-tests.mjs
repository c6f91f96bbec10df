// Runs the compiled tests with node's own runner. Node 20 has no glob support in --test,
// so the files are listed here. Usage: node scripts/run-tests.mjs [unit|integration|e2e|faults ...]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = 'dist/test';
const tiers = process.argv.slice(2);
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
}
walk(root);
const selected = tiers.length === 0 ? files : files.filter((f) => tiers.some((t) => f.startsWith(join(root, t))));
if (selected.length === 0) {
  console.error('no test files found under ' + root);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...selected], { stdio: 'inherit', env: { ...process.env, CDB2COS_TEST: '1' } });
process.exit(r.status ?? 1);
