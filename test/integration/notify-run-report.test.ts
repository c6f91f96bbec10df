// A real run against the emulator (in process, the real SDK clients), then its report: the counts per
// instance, type and outcome that run.ts keeps, the failure webhook and the metrics textfile built from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from 'undici';
import { createCdbApi } from '../../src/cdb/client.js';
import { readConfig } from '../../src/config.js';
import { createCosApi } from '../../src/cos/client.js';
import { cosDestination } from '../../src/destinations/cos.js';
import { writeMetrics } from '../../src/metrics/index.js';
import { notifyRunEnd, type SendDeps } from '../../src/notify/index.js';
import { sleep } from '../../src/retry.js';
import { buildRunReport } from '../../src/run-report.js';
import { runBackup } from '../../src/run/index.js';
import { startTestEmulator } from '../helpers/harness.js';
import { parsePromText, valueOf } from '../helpers/prom-text.js';
import { startReceiver } from '../helpers/receiver.js';

const A = 'cdb-notify01';
const KiB = 1024;

test('a run with a copy, a failed item, a waiting and an archived one: the report, webhook and textfile carry exactly that', async (t) => {
  const emu = await startTestEmulator(t, {
    instances: [
      {
        id: A,
        items: [
          { type: 'data', name: 'good.xb', size: 1 * KiB, minutesAgo: 3000 },
          { type: 'data', name: 'bad_md5.xb', size: 4 * KiB, minutesAgo: 2000, md5: '0123456789abcdef0123456789abcdef' },
          { type: 'data', name: 'old.xb', size: 3 * KiB, minutesAgo: 60 * 24 * 40, cosStorageType: 1 },
          { type: 'binlog', name: 'mysql-bin.000001', size: 5 * KiB, minutesAgo: 120 },
          { type: 'binlog', name: 'mysql-bin.000002', size: 2 * KiB, minutesAgo: 10, status: 'RUNNING' },
        ],
      },
    ],
  });
  const configPath = await emu.writeConfig(join(emu.info.dataDir, 'cdb2cos.ini'), { cdb: { types: ['data', 'binlog'] } });
  const config = await readConfig(configPath);
  const dispatcher = new Agent({ keepAliveTimeout: 1000 });
  t.after(() => dispatcher.close());
  const ctl = new AbortController();
  const startedAt = Date.now();
  const summary = await runBackup(
    config,
    { dryRun: false },
    {
      cdb: createCdbApi({ credentials: config.credentials!, region: config.cdb!.region, endpoint: config.cdb!.endpoint, timeoutMs: 30_000 }),
      cos: cosDestination(createCosApi({ credentials: config.credentials!, region: config.cos!.region, bucket: config.cos!.bucket, endpoint: config.cos!.endpoint, timeoutMs: 30_000 }), config.cos!),
      dispatcher,
      log: pino({ level: 'silent' }),
      report: { item: () => undefined, summary: () => undefined, warn: () => undefined },
      now: () => Date.now(),
      sleep,
      random: Math.random,
      signal: ctl.signal,
    },
  );
  const report = buildRunReport({ host: 'backup-host', startedAt, finishedAt: Date.now(), exitCode: summary.failed > 0 ? 1 : 0, summary });

  assert.deepEqual(report.units, [
    { instance: A, type: 'data', items: { copied: 1, skipped: 0, failed: 1, waiting: 0, archived: 1 }, bytes: { copied: 1 * KiB, skipped: 0, failed: 4 * KiB, waiting: 0, archived: 3 * KiB } },
    { instance: A, type: 'binlog', items: { copied: 1, skipped: 0, failed: 0, waiting: 1, archived: 0 }, bytes: { copied: 5 * KiB, skipped: 0, failed: 0, waiting: 2 * KiB, archived: 0 } },
  ].sort((a, b) => report.units.findIndex((u) => u.type === a.type) - report.units.findIndex((u) => u.type === b.type)));
  assert.deepEqual(report.failed.map((f) => [f.instance, f.type, f.name, f.code]), [[A, 'data', 'bad_md5.xb', 'ERR_VERIFY']]);
  assert.match(report.failed[0]!.key!, /bad_md5\.xb$/);
  assert.deepEqual([report.totals.copied, report.totals.failed, report.totals.waiting, report.totals.archived, report.totals.bytes], [2, 1, 1, 1, 6 * KiB]);
  assert.ok(report.peakRssBytes > 10 * 1024 * 1024, `peak RSS ${report.peakRssBytes}`);

  // The failure webhook and the textfile carry the same figures.
  const rx = await startReceiver(t);
  const logged: string[] = [];
  const warnings: string[] = [];
  const deps: SendDeps = { dispatcher, log: { info: (_o, m) => logged.push(m), warn: (_o, m) => logged.push(m) }, warn: (l) => warnings.push(l), now: () => Date.now(), sleep, random: Math.random };
  await notifyRunEnd(report, { onFailure: [{ format: 'json', url: `${rx.base}/hook` }], onSuccess: [], healthcheck: `${rx.base}/hc/abc`, timeoutMs: 2000, retries: 1 }, deps);
  const body = JSON.parse(rx.to('/hook')[0]!.body) as { status: string; failed: Array<{ name: string; code: string }>; summary: { copied: number } };
  assert.equal(body.status, 'failure');
  assert.deepEqual(body.failed.map((f) => [f.name, f.code]), [['bad_md5.xb', 'ERR_VERIFY']]);
  assert.equal(body.summary.copied, 2);
  assert.match(rx.to('/hc/abc/fail')[0]!.body, /^cdb2cos failure \(exit 1\) on backup-host: copied 2, skipped 0, waiting 1, archived 1, failed 1, 6\.0 KiB/);

  const textfile = join(emu.info.dataDir, 'cdb2cos.prom');
  await writeMetrics(report, { textfile, job: 'cdb2cos', timeoutMs: 1000, retries: 0 }, deps);
  const fams = parsePromText(await readFile(textfile, 'utf8'));
  assert.equal(valueOf(fams, 'cdb2cos_items', { unit: A, type: 'data', outcome: 'failed' }), 1);
  assert.equal(valueOf(fams, 'cdb2cos_bytes', { unit: A, type: 'binlog', outcome: 'waiting' }), 2 * KiB);
  assert.equal(valueOf(fams, 'cdb2cos_downloaded_bytes'), summary.bytesDownloaded);
  assert.equal(valueOf(fams, 'cdb2cos_uploaded_bytes'), summary.bytesUploaded);
  assert.equal(valueOf(fams, 'cdb2cos_peak_rss_bytes'), summary.peakRssBytes);
  assert.deepEqual(warnings, []);
});
