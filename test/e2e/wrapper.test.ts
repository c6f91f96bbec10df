// bin/cdb2cos, the way users start the tool (README, crontab, systemd, npm's bin link): it must run
// node with the V8 flags in the very process it was started as, so that signals, the exit code and
// the standard streams are the CLI's own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, CLI, ROOT, cliEnv, filesUnder, readLog, runCli, startCliFor, startTestEmulator, tempDir, waitFor } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-wrap0001';

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: cliEnv(env), cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end();
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const [signal, code] of [
  ['SIGTERM', 143],
  ['SIGINT', 130],
] as const) {
  test(`bin/cdb2cos execs node with the V8 flags; ${signal} reaches the CLI, which writes its resume state and exits ${code}`, async (t) => {
    const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'data', size: 32 * MiB, minutesAgo: 60 }] }] });
    const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'data' }, transfer: { part_size: '1MiB', connections: 2 } });
    const staging = join(emu.info.dataDir, 'staging');
    emu.downloads.faults.throttle(2 * MiB); // 16 s for the item: stopped well before the end
    const r = startCliFor(t, ['run', '--config', cfg]);
    const item = emu.catalog.list(INSTANCE, 'data')[0]!;
    await waitFor('4 MiB downloaded', () => (emu.downloads.bytesServed()[item.key] ?? 0) >= 4 * MiB, { intervalMs: 50 });
    // The pid the wrapper was started as is node itself (exec), with the flags on its command line.
    const argv = readFileSync(`/proc/${r.child.pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    assert.equal(argv[0], process.execPath);
    assert.deepEqual(argv.slice(1, 4), ['--single-threaded-gc', '--max-semi-space-size=1', '--expose-gc']);
    assert.match(argv[4]!, /dist\/src\/cli\.js$/);
    assert.deepEqual(argv.slice(5), ['run', '--config', cfg]);
    const env = readFileSync(`/proc/${r.child.pid}/environ`, 'utf8').split('\0');
    for (const v of ['MALLOC_ARENA_MAX=1', 'MALLOC_MMAP_THRESHOLD_=131072', 'MALLOC_TRIM_THRESHOLD_=131072']) assert.ok(env.includes(v), `${v} in its environment`);
    r.child.kill(signal);
    const done = await r.done;
    assert.equal(done.code, code, done.stderr);
    assert.equal(done.signal, null);
    assert.match(done.stderr, new RegExp(`${signal}: stopping; the next run resumes`));
    assert.ok((await readLog(join(emu.info.dataDir, 'logs'))).some((e) => e.msg === 'interrupted' && e['signal'] === signal));
    const rel = (await filesUnder(staging)).find((f) => f.endsWith('.cdb2cos-state.json'));
    assert.ok(rel !== undefined, 'resume state written');
    const st = JSON.parse(await readFile(join(staging, rel), 'utf8')) as { downloaded: Record<string, unknown> };
    assert.ok(Object.keys(st.downloaded).length >= 1, 'it records the parts staged');

    emu.clearFaults();
    const again = await runCli(['run', '--config', cfg]);
    assert.equal(again.code, 0, again.stderr);
  });
}

test('bin/cdb2cos gives the exit code and the output of the CLI itself', async () => {
  const direct = await run(process.execPath, [CLI, 'run', '--config', '/nonexistent/cdb2cos.ini']);
  const wrapped = await run(BIN, ['run', '--config', '/nonexistent/cdb2cos.ini'], { CDB2COS_NODE: process.execPath });
  assert.equal(direct.code, 2);
  assert.deepEqual(wrapped, direct);
  const version = await run(BIN, ['--version'], { CDB2COS_NODE: process.execPath });
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

test('bin/cdb2cos works through a symlink (npm link, a global install) and says so when node cannot be found', async (t) => {
  const dir = await tempDir(t);
  const link = join(dir, 'cdb2cos');
  await symlink(BIN, link);
  const r = await run(link, ['--help'], { CDB2COS_NODE: process.execPath });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: cdb2cos/);
  const missing = await run(BIN, ['--version'], { CDB2COS_NODE: join(dir, 'no-such-node') });
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /no-such-node/);
});
