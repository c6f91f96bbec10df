// What `cdb2cos run` prints: --json (one JSON object on stdout and nothing else), and progress lines
/* eslint-disable no-control-regex -- terminal output: ANSI escape sequences are what is checked */
// on a terminal (run under a pseudo-terminal with util-linux `script`), none when stdout is a pipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { CLI, cliEnv, ROOT } from '../helpers/harness.js';
import { assertExit, finished, MiB, runFixture } from './expect.js';

const A = 'cdb-e2eout01';

test('run --json prints the summary as one JSON object on stdout and nothing else, even with -v', async (t) => {
  const fx = await runFixture(t, [{ id: A, items: [{ type: 'data', size: 3 * MiB, minutesAgo: 600 }, { type: 'binlog', size: 1000, minutesAgo: 60 }] }]);
  // A dry run lists what it would copy in `planned` (and no per-item lines), still one object.
  const dry = await fx.run(['--json', '--dry-run']);
  assertExit(dry, 0);
  const d = JSON.parse(dry.stdout) as { dryRun: boolean; copied: number; planned: Array<{ instance: string; type: string; size: number }> };
  assert.equal(d.dryRun, true);
  assert.equal(d.copied, 0);
  assert.deepEqual(d.planned.map((p) => [p.instance, p.type, p.size]).sort(), [[A, 'binlog', 1000], [A, 'data', 3 * MiB]]);

  const r = await fx.run(['--json', '-v']);
  assertExit(r, 0);
  assert.equal(r.stdout.split('\n').filter((l) => l !== '').length, 1, r.stdout);
  const j = JSON.parse(r.stdout) as Record<string, unknown>;
  const f = finished(r.events);
  assert.equal(j['exitCode'], 0);
  assert.equal(j['error'], null);
  assert.equal(j['dryRun'], false);
  for (const k of ['copied', 'skipped', 'waiting', 'archived', 'failed', 'bytes', 'bytesDownloaded', 'bytesUploaded', 'unsupported', 'listRequests']) assert.equal(j[k], f[k], k);
  assert.equal(j['copied'], 2);
  assert.equal(j['durationMs'], f['ms']);
  assert.ok(typeof j['peakRssBytes'] === 'number' && j['peakRssBytes'] > 0);
  assert.deepEqual(j['failures'], []);
  assert.ok(Array.isArray(j['units']) && (j['units'] as unknown[]).length === 2, JSON.stringify(j['units']));
  assert.deepEqual(Object.keys(j), ['exitCode', 'error', 'dryRun', 'copied', 'skipped', 'waiting', 'archived', 'failed', 'unsupported', 'bytes', 'bytesDownloaded', 'bytesUploaded', 'durationMs', 'peakRssBytes', 'listRequests', 'units', 'failures', 'planned']);

});

test('run --json on a run that cannot start prints { exitCode, error } and the error still goes to stderr', async (t) => {
  const fx = await runFixture(t, [{ id: A, items: [{ type: 'data', size: 1000, minutesAgo: 600 }] }]);
  const r = await fx.run(['--json', '--instance', 'cdb-notthere1']);
  assertExit(r, 2);
  assert.deepEqual(JSON.parse(r.stdout), { exitCode: 2, error: { code: 'ERR_USAGE', message: `--instance cdb-notthere1: not in cdb.instances of ${fx.config}` } });
  assert.match(r.stderr, /^cdb2cos: error: --instance cdb-notthere1/);
  const bad = await fx.run(['--json', '--since', 'yesterday']);
  assertExit(bad, 2);
  assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, 'ERR_USAGE');
});

function hasScript(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs the CLI with stdout on a pseudo-terminal (`script -qfec`); returns everything the terminal got. */
function runOnTerminal(args: string[]): Promise<{ code: number | null; out: string }> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = [process.execPath, CLI, ...args].map(quote).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qfec', `stty cols 200; ${cmd}`, '/dev/null'], { env: cliEnv({ TERM: 'xterm' }), cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('on a terminal: progress lines (per item and total) while copying, erased before the summary; none through a pipe', { skip: !hasScript() && 'util-linux script is not installed' }, async (t) => {
  const items = [{ type: 'data' as const, size: 6 * MiB, minutesAgo: 600 }, { type: 'data' as const, size: 6 * MiB, minutesAgo: 300 }];
  // 2 MiB/s: 12 MiB take ~6 s, long enough for many redraws.
  const fx = await runFixture(t, [{ id: A, items }], { cdb: { types: 'data' }, transfer: { bandwidth_limit: '2MiB/s', part_size: '1MiB' } });
  const tty = await runOnTerminal(['run', '--config', fx.config, '-v']);
  assert.equal(tty.code, 0, tty.out);
  const text = tty.out.replace(/\r/g, '');
  assert.match(text, /\x1b\[J {2}cdb-e2eout01 data \S+: [\d.]+ (MiB|KiB|B) of 6\.0 MiB \(\d+%\), [\d.]+ (MiB|KiB)\/s, ETA \d+:\d\d\n/, 'a line per active item with bytes, rate and ETA');
  assert.match(text, /total: [01] of 2 items done, [\d.]+ (MiB|KiB|B) of 12 MiB \(\d+%\), /, 'the run total');
  // The -v per-item lines and the summary are whole lines of their own (after the progress lines are
  // erased: to the line n up, erase down), the summary last, with no progress after it.
  const plain = text.replace(/\x1b\[\d*[FJ]/g, '');
  assert.equal((plain.match(/^copied cdb-e2eout01 data \S+ \(6\.0 MiB, [\d.]+ s\) → cos:\/\/\S+$/gm) ?? []).length, 2, text);
  assert.match(text, /\n(?:\x1b\[\d+F\x1b\[J)?copied 2, skipped 0, waiting 0, archived 0, failed 0, 12 MiB in [\d.]+ s\n$/);

  // The same through a pipe: no progress, no escape sequence.
  const fresh = await runFixture(t, [{ id: A, items }], { cdb: { types: 'data' }, transfer: { bandwidth_limit: '4MiB/s', part_size: '1MiB' } });
  const piped = await fresh.run(['-v']);
  assertExit(piped, 0);
  assert.equal(piped.stdout.split('\n').filter((l) => l.startsWith('copied cdb-e2eout01 data ')).length, 2);
  assert.doesNotMatch(piped.stdout, /\x1b|total:|ETA/);
});
