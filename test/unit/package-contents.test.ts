// The production package (npm pack, the root package.json's "files") carries the product and no emulator
// code; installed from it, the CLI runs, and `cdb2cos emulator` says in one line that the emulator is a
// development tool (exit 2) instead of failing on a missing module.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

interface PackEntry {
  files: Array<{ path: string }>;
}

describe('the production package', () => {
  let files: string[];
  let installed: string;

  before(() => {
    // npm sets npm_config_* in the environment of `npm test`; a dry run must not inherit e.g. --json=false.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_config_')));
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const packs = JSON.parse(r.stdout) as PackEntry[];
    assert.equal(packs.length, 1, 'one package: the workspace is not packed with the product');
    files = packs[0]!.files.map((f) => f.path);
    // What `npm install cdb2cos` would put on disk: the packed files, and the product's dependencies.
    installed = mkdtempSync(join(tmpdir(), 'cdb2cos-pack-'));
    for (const f of files) {
      mkdirSync(dirname(join(installed, f)), { recursive: true });
      cpSync(join(root, f), join(installed, f));
    }
    const modules = join(installed, 'node_modules');
    mkdirSync(modules);
    for (const name of readdirSync(join(root, 'node_modules'))) {
      if (name === '@cdb2cos' || name.startsWith('.')) continue;
      symlinkSync(join(root, 'node_modules', name), join(modules, name));
    }
  });
  after(() => rmSync(installed, { recursive: true, force: true }));

  test('lists the CLI and no emulator file, no demo, no test', () => {
    assert.ok(files.includes('dist/src/cli.js'), files.join('\n'));
    assert.ok(files.includes('package.json'));
    assert.deepEqual(files.filter((f) => /emulator|demo|(^|\/)test\/|^packages\//.test(f)), []);
  });

  test('runs from the packed files: --help answers, and `emulator` exits 2 with one clear line', () => {
    const env = { ...process.env, http_proxy: '', https_proxy: '' };
    const help = spawnSync(process.execPath, [join(installed, 'dist/src/cli.js'), '--help'], { env, encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /emulator/);
    const emu = spawnSync(process.execPath, [join(installed, 'dist/src/cli.js'), 'emulator'], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(emu.status, 2, emu.stdout + emu.stderr);
    assert.equal(emu.stdout, '');
    assert.match(emu.stderr, /^cdb2cos: error: the emulator is a development tool: [^\n]+\n$/);
  });
});
