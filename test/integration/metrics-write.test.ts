// The metrics textfile on a real file system and the Pushgateway push against a local receiver.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { pushgatewayUrl, renderMetrics, writeFileAtomic, writeMetrics, type MetricsOptions } from '../../src/metrics/index.js';
import type { SendDeps } from '../../src/notify/index.js';
import { sleep } from '../../src/retry.js';
import { tempDir } from '../helpers/harness.js';
import { parsePromText, valueOf } from '../helpers/prom-text.js';
import { startReceiver } from '../helpers/receiver.js';
import { failingReport, FINISHED, successReport } from '../helpers/reports.js';

function harness(t: { after: (fn: () => Promise<void>) => void }): { deps: SendDeps; logged: Array<{ msg: string; obj: object }>; warnings: string[] } {
  const logged: Array<{ msg: string; obj: object }> = [];
  const warnings: string[] = [];
  const dispatcher = new Agent({ keepAliveTimeout: 1000 });
  t.after(() => dispatcher.close());
  return {
    logged,
    warnings,
    deps: {
      dispatcher,
      log: { info: (obj, msg) => logged.push({ obj, msg }), warn: (obj, msg) => logged.push({ obj, msg }) },
      warn: (line) => warnings.push(line),
      now: () => Date.now(),
      sleep,
      random: () => 0.5,
    },
  };
}

const base = (extra: Partial<MetricsOptions>): MetricsOptions => ({ job: 'cdb2cos', timeoutMs: 1000, retries: 1, ...extra });

test('the textfile parses strictly and carries the figures of the run', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'cdb2cos.prom');
  const { deps, warnings, logged } = harness(t);
  const r = failingReport();
  const res = await writeMetrics(r, base({ textfile: path }), deps);
  assert.deepEqual(res, { textfile: { path, ok: true } });
  const fams = parsePromText(await readFile(path, 'utf8'));
  assert.equal(valueOf(fams, 'cdb2cos_last_run_exit_code'), 1);
  assert.equal(valueOf(fams, 'cdb2cos_last_run_end_timestamp_seconds'), FINISHED / 1000);
  assert.equal(valueOf(fams, 'cdb2cos_items', { unit: 'cdb-aaaa1111', type: 'binlog', outcome: 'failed' }), 1);
  assert.equal(valueOf(fams, 'cdb2cos_bytes', { unit: 'cdb-aaaa1111', type: 'data', outcome: 'copied' }), 1_073_741_824);
  assert.ok(!fams.has('cdb2cos_last_success_timestamp_seconds'), 'no success yet, none invented');
  assert.equal((await stat(path)).mode & 0o777, 0o644);
  assert.deepEqual(await readdir(dir), ['cdb2cos.prom'], 'no temp file left');
  assert.deepEqual(warnings, []);
  assert.deepEqual(logged.map((l) => l.msg), ['metrics written']);
});

test('the last success survives failed runs: carried over from the previous file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'cdb2cos.prom');
  const { deps } = harness(t);
  const ok = successReport();
  await writeMetrics(ok, base({ textfile: path }), deps);
  assert.equal(valueOf(parsePromText(await readFile(path, 'utf8')), 'cdb2cos_last_success_timestamp_seconds'), ok.finishedAt / 1000);

  for (let i = 1; i <= 2; i++) {
    const failed = failingReport({ startedAt: ok.startedAt + i * 86_400_000, finishedAt: ok.finishedAt + i * 86_400_000 });
    await writeMetrics(failed, base({ textfile: path }), deps);
    const fams = parsePromText(await readFile(path, 'utf8'));
    assert.equal(valueOf(fams, 'cdb2cos_last_success_timestamp_seconds'), ok.finishedAt / 1000, `after failed run ${i}`);
    assert.equal(valueOf(fams, 'cdb2cos_last_run_end_timestamp_seconds'), failed.finishedAt / 1000);
  }
  const later = { ...successReport(), startedAt: ok.startedAt + 3 * 86_400_000, finishedAt: ok.finishedAt + 3 * 86_400_000 };
  await writeMetrics(later, base({ textfile: path }), deps);
  assert.equal(valueOf(parsePromText(await readFile(path, 'utf8')), 'cdb2cos_last_success_timestamp_seconds'), later.finishedAt / 1000);
});

test('the textfile is replaced atomically: a reader sees the old or the new file, never a part', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'cdb2cos.prom');
  const big = (n: number): string => `# ${'x'.repeat(200_000)}\nm ${String(n).padStart(3, '0')}\n`;
  await writeFile(path, big(0));
  const before = (await stat(path)).ino;
  let stop = false;
  let reads = 0;
  const reader = (async () => {
    while (!stop) {
      const text = await readFile(path, 'utf8');
      reads++;
      assert.match(text, /\nm \d+\n$/, `read ${text.length} characters: a partial file`);
      assert.equal(text.length, big(0).length);
    }
  })();
  // The old file is still linked while the new one is written, so the new one has another inode; checked
  // after one write only, since the file system may hand a freed inode number out again later.
  await writeFileAtomic(path, big(1));
  assert.notEqual((await stat(path)).ino, before, 'a new file renamed over the old one, not rewritten in place');
  for (let i = 2; i <= 60; i++) await writeFileAtomic(path, big(i));
  stop = true;
  await reader;
  assert.ok(reads > 0);
  assert.equal(await readFile(path, 'utf8'), big(60));
  assert.deepEqual(await readdir(dir), ['cdb2cos.prom']);
});

test('a textfile that cannot be written: warned and logged, nothing thrown, no temp file left', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'missing-folder', 'cdb2cos.prom');
  const { deps, warnings, logged } = harness(t);
  const res = await writeMetrics(failingReport(), base({ textfile: path }), deps);
  assert.equal(res.textfile?.ok, false);
  assert.equal(res.textfile?.error?.code, 'ENOENT');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^metrics\.textfile .*cdb2cos\.prom not written: /);
  assert.deepEqual(logged.map((l) => l.msg), ['metrics write failed']);
  assert.deepEqual(await readdir(dir), []);
});

test('the Pushgateway receives the same body by PUT to /metrics/job/<job>', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'cdb2cos.prom');
  const rx = await startReceiver(t);
  rx.on('/metrics/job/cdb2cos', { status: 200 });
  const { deps, warnings } = harness(t);
  const res = await writeMetrics(successReport(), base({ textfile: path, pushgateway: `${rx.base}/` }), deps);
  assert.equal(res.pushgateway?.ok, true);
  const [push] = rx.to('/metrics/job/cdb2cos');
  assert.equal(push!.method, 'PUT');
  assert.equal(push!.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.equal(push!.body, await readFile(path, 'utf8'));
  parsePromText(push!.body);
  assert.deepEqual(warnings, []);
});

test('without a known last success, a failed run POSTs (keeping the Pushgateway\'s value) and leaves that metric out', async (t) => {
  const rx = await startReceiver(t);
  const { deps } = harness(t);
  await writeMetrics(failingReport(), base({ pushgateway: rx.base, job: 'db backups/prod', instance: 'db-1' }), deps);
  const [push] = rx.received;
  assert.equal(push!.method, 'POST');
  assert.equal(push!.url, `/metrics/job@base64/${Buffer.from('db backups/prod').toString('base64url')}/instance/db-1`);
  assert.equal(push!.body, renderMetrics(failingReport(), undefined));
  assert.ok(!push!.body.includes('cdb2cos_last_success_timestamp_seconds'));
});

test('a Pushgateway that answers 500 is retried, then warned with its credentials redacted; nothing thrown', async (t) => {
  const rx = await startReceiver(t);
  rx.on('/metrics/job/cdb2cos', { status: 500, body: 'storage full' });
  const { deps, warnings } = harness(t);
  const url = rx.base.replace('http://', 'http://pushuser:PUSHSECRET@');
  const res = await writeMetrics(successReport(), base({ pushgateway: url, retries: 1 }), deps);
  assert.equal(res.pushgateway?.ok, false);
  assert.equal(rx.to('/metrics/job/cdb2cos').length, 2);
  assert.equal(rx.received[0]!.headers['authorization'], undefined, 'undici does not turn userinfo into auth by itself');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^pushgateway to http:\/\/<redacted>@127\.0\.0\.1:\d+\/metrics\/job\/<redacted> not delivered after 2 attempts: HTTP 500: storage full$/);
  assert.ok(!warnings[0]!.includes('PUSHSECRET'));
});

test('pushgatewayUrl keeps a base path and encodes grouping values that are not URL-safe', () => {
  assert.equal(pushgatewayUrl('http://127.0.0.1:9091', 'cdb2cos'), 'http://127.0.0.1:9091/metrics/job/cdb2cos');
  assert.equal(pushgatewayUrl('http://127.0.0.1:9091/pgw/', 'cdb2cos', 'host-1'), 'http://127.0.0.1:9091/pgw/metrics/job/cdb2cos/instance/host-1');
  assert.equal(pushgatewayUrl('http://127.0.0.1:9091', 'a/b'), `http://127.0.0.1:9091/metrics/job@base64/${Buffer.from('a/b').toString('base64url')}`);
});
