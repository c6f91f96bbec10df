// Closing stdout (`cdb2cos run -v | head -1`) or pointing it at a full device never stops a backup:
// the tool stops printing to that stream, logs it once, copies everything and exits 0, no stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, ROOT, assertLanded, cliEnv, eventsOf, landedKey, readLog, startTestEmulator, type CliResult } from '../helpers/harness.js';
import type { Emulator } from '@cdb2cos/emulator';

const INSTANCE = 'cdb-stdout01';

async function setUp(t: Parameters<typeof startTestEmulator>[0]): Promise<{ emu: Emulator; cfg: string }> {
  const emu = await startTestEmulator(t, {
    instances: [{ id: INSTANCE, items: [1, 2, 3, 4].map((i) => ({ type: 'binlog' as const, size: 200_000 + i, minutesAgo: 60 * i })) }],
  });
  // One item at a time, each taking ~0.4 s: lines keep coming after the reader has gone.
  const cfg = await emu.writeConfig(`${emu.info.dataDir}/c.ini`, { cdb: { types: 'binlog' }, transfer: { parallel_items: 1 } });
  emu.downloads.faults.throttle(500_000);
  return { emu, cfg };
}

async function assertAllLanded(emu: Emulator): Promise<void> {
  for (const item of emu.catalog.list(INSTANCE, 'binlog')) await assertLanded(emu, INSTANCE, 'binlog', item.name, landedKey(emu, item.name));
}

function finish(child: ReturnType<typeof spawn>, t0: number, get: () => { stdout: string; stderr: string }): Promise<CliResult> {
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((res) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, ...get(), ms: Date.now() - t0 });
    }),
  );
}

test('stdout closed by its reader after the first line (`run -v | head -1`): the copy completes, exit 0', async (t) => {
  const { emu, cfg } = await setUp(t);
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, 'run', '--config', cfg, '-v'], { env: cliEnv(), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    // Like head -1: read one line, then close the pipe; the writer's next write gets EPIPE.
    if (stdout.includes('\n')) child.stdout!.destroy();
  });
  const r = await finish(child, t0, () => ({ stdout, stderr }));
  assert.equal(r.signal, null, `killed after ${r.ms} ms`);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /, 'no stack trace');
  await assertAllLanded(emu);
  const log = await readLog(join(emu.info.dataDir, 'logs'));
  const lost = eventsOf(log, 'output failed');
  assert.equal(lost.length, 1, JSON.stringify(lost));
  assert.equal(lost[0]!['stream'], 'stdout');
  assert.equal(lost[0]!['code'], 'EPIPE');
  assert.equal(eventsOf(log, 'verified').length, 4);
});

test('stdout on a full device (> /dev/full): the copy completes, exit 0, the failure is logged', async (t) => {
  const { emu, cfg } = await setUp(t);
  const full = openSync('/dev/full', 'w');
  t.after(() => closeSync(full));
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, 'run', '--config', cfg, '-v'], { env: cliEnv(), cwd: ROOT, stdio: ['ignore', full, 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const r = await finish(child, t0, () => ({ stdout: '', stderr }));
  assert.equal(r.signal, null, `killed after ${r.ms} ms`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'nothing on stderr: the log records it');
  await assertAllLanded(emu);
  const log = await readLog(join(emu.info.dataDir, 'logs'));
  const lost = eventsOf(log, 'output failed');
  assert.equal(lost.length, 1, JSON.stringify(lost));
  assert.equal(lost[0]!['stream'], 'stdout');
  assert.equal(lost[0]!['code'], 'ENOSPC');
});
