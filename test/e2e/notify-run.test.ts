// End to end: `cdb2cos run` with [notify] and [metrics], the built CLI against the emulator, webhooks,
// health checks and the metrics textfile received or written on 127.0.0.1. What a monitor sees of a
// run that succeeds, fails, cannot start, is refused by the lock, or is stopped by SIGTERM; and that a
// receiver that hangs or fails changes neither the exit code nor how long the run may take.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventsOf, lines, readLogText, startCliFor, startTestEmulator, waitFor } from '../helpers/harness.js';
import { parsePromText, valueOf, type PromFamily } from '../helpers/prom-text.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { assertExit, KiB, MiB, runFixture } from './expect.js';

const A = 'cdb-e2entf01';
/** Secret parts of the webhook and ping URLs: none may appear in stdout, stderr or the log. */
const HOOK_TOKEN = 'hookT0kenSecret1';
const KEY_TOKEN = 'wecomK3ySecret22';
const HC_TOKEN = '5b8a6f7e-hcSecret333';
const SECRETS = [HOOK_TOKEN, KEY_TOKEN, HC_TOKEN];

const BAD_MD5 = '0123456789abcdef0123456789abcdef';
/** A good data backup, one whose MD5 at CDB is wrong, and a binlog. */
const ITEMS = [
  { type: 'data' as const, name: 'good.xb', size: 3 * KiB, minutesAgo: 3000 },
  { type: 'data' as const, name: 'bad_md5.xb', size: 5 * KiB, minutesAgo: 2000, md5: BAD_MD5 },
  { type: 'binlog' as const, name: 'mysql-bin.000001', size: 7 * KiB, minutesAgo: 120 },
];

interface Hooks {
  rx: Receiver;
  /** Webhook paths (without query) and the health check's base path. */
  failPath: string;
  okPath: string;
  hcPath: string;
  notify: Record<string, string | string[]>;
}

function hooks(rx: Receiver, extra: Record<string, string | string[]> = {}): Hooks {
  const failPath = `/hook/${HOOK_TOKEN}`;
  const okPath = '/cgi-bin/webhook/send';
  const hcPath = `/ping/${HC_TOKEN}`;
  return {
    rx,
    failPath,
    okPath,
    hcPath,
    notify: {
      on_failure: `${rx.base}${failPath}`,
      on_success: `json:${rx.base}${okPath}?key=${KEY_TOKEN}`,
      healthcheck: `${rx.base}${hcPath}`,
      timeout: '2s',
      retries: '1',
      ...extra,
    },
  };
}

/** Paths the receiver got, in order of arrival, with the tokens as they are. */
const arrived = (rx: Receiver): string[] => rx.received.map((r) => r.url);

async function metricsOf(path: string): Promise<Map<string, PromFamily>> {
  return parsePromText(await readFile(path, 'utf8'));
}

test('a successful run pings /start then the URL, posts on_success only, and writes its figures to the textfile', async (t) => {
  const rx = await startReceiver(t);
  const h = hooks(rx);
  const fx = await runFixture(t, [{ id: A, items: ITEMS }], { cdb: { types: 'binlog' }, notify: h.notify, metrics: { textfile: 'metrics/cdb2cos.prom', pushgateway: `${rx.base}/gw/`, job: 'cdb2cos nightly' } });
  const textfile = join(fx.emu.info.dataDir, 'metrics', 'cdb2cos.prom');
  await mkdir(join(fx.emu.info.dataDir, 'metrics'));
  const t0 = Date.now() / 1000;
  const res = await fx.run([], { secrets: SECRETS });
  assertExit(res, 0);
  assert.equal(res.stderr, '');

  assert.deepEqual(arrived(rx).filter((u) => u.startsWith('/ping/')), [`${h.hcPath}/start`, h.hcPath]);
  assert.equal(rx.to(h.failPath).length, 0, 'no failure webhook');
  const ok = rx.to(h.okPath);
  assert.equal(ok.length, 1);
  assert.equal(ok[0]!.url, `${h.okPath}?key=${KEY_TOKEN}`);
  const body = JSON.parse(ok[0]!.body) as { status: string; exitCode: number; summary: { copied: number; failed: number; bytes: number }; failed: unknown[] };
  assert.deepEqual([body.status, body.exitCode, body.summary.copied, body.summary.failed, body.summary.bytes, body.failed.length], ['success', 0, 1, 0, 7 * KiB, 0]);
  assert.match(rx.to(h.hcPath)[0]!.body, /^cdb2cos success on .*: copied 1, skipped 0, waiting 0, archived 0, failed 0, 7\.0 KiB/);
  // The start ping left after the lock was taken, the end ping after the run's summary.
  assert.ok(rx.to(`${h.hcPath}/start`)[0]!.at <= rx.to(h.hcPath)[0]!.at);

  const sent = eventsOf(res.events, 'notification sent').map((e) => [e['kind'], e['status']]);
  assert.deepEqual(sent.sort(), [['on_success', 200], ['ping_start', 200], ['ping_success', 200], ['pushgateway', 200]]);
  assert.ok(eventsOf(res.events, 'notification sent').every((e) => typeof e['target'] === 'string' && (e['target'] as string).includes('<redacted>')));

  const m = await metricsOf(textfile);
  const t1 = Date.now() / 1000;
  assert.equal(valueOf(m, 'cdb2cos_last_run_exit_code'), 0);
  assert.equal(valueOf(m, 'cdb2cos_last_run_success'), 1);
  assert.equal(valueOf(m, 'cdb2cos_items', { unit: A, type: 'binlog', outcome: 'copied' }), 1);
  assert.equal(valueOf(m, 'cdb2cos_bytes', { unit: A, type: 'binlog', outcome: 'copied' }), 7 * KiB);
  assert.ok(valueOf(m, 'cdb2cos_uploaded_bytes') >= 7 * KiB);
  assert.ok(valueOf(m, 'cdb2cos_downloaded_bytes') >= 7 * KiB);
  const last = valueOf(m, 'cdb2cos_last_success_timestamp_seconds');
  assert.ok(last >= t0 && last <= t1, `last success ${last} within the run (${t0}–${t1})`);
  assert.equal(eventsOf(res.events, 'metrics written').length, 1);
  // The Pushgateway got the same text, replacing its group (a job name that is not URL-safe goes as base64).
  const pushed = rx.to(`/gw/metrics/job@base64/${Buffer.from('cdb2cos nightly').toString('base64url')}`);
  assert.equal(pushed.length, 1);
  assert.equal(pushed[0]!.method, 'PUT');
  assert.equal(pushed[0]!.body, await readFile(textfile, 'utf8'));
});

test('a failing run posts the failed item to on_failure, pings /start then /fail, exits 1, and the textfile keeps the last success', async (t) => {
  const rx = await startReceiver(t);
  const h = hooks(rx);
  const fx = await runFixture(t, [{ id: A, items: ITEMS }], { cdb: { types: ['data', 'binlog'] }, notify: h.notify, metrics: { textfile: 'cdb2cos.prom' } });
  const textfile = join(fx.emu.info.dataDir, 'cdb2cos.prom');

  // A first run of the binlogs only succeeds: it sets the last success time.
  assertExit(await fx.run(['--type', 'binlog'], { secrets: SECRETS }), 0);
  const lastSuccess = valueOf(await metricsOf(textfile), 'cdb2cos_last_success_timestamp_seconds');
  rx.received.length = 0;

  const res = await fx.run([], { secrets: SECRETS });
  assertExit(res, 1);
  assert.deepEqual(arrived(rx).filter((u) => u.startsWith('/ping/')), [`${h.hcPath}/start`, `${h.hcPath}/fail`]);
  assert.equal(rx.to(h.okPath).length, 0, 'no success webhook');
  const hook = rx.to(h.failPath);
  assert.equal(hook.length, 1);
  assert.equal(hook[0]!.headers['content-type'], 'application/json');
  const body = JSON.parse(hook[0]!.body) as {
    version: number;
    status: string;
    exitCode: number;
    summary: { copied: number; skipped: number; failed: number };
    failed: Array<{ instance: string; type: string; name: string; key: string; code: string; message: string }>;
    error: unknown;
  };
  assert.deepEqual([body.version, body.status, body.exitCode, body.error], [1, 'failure', 1, null]);
  assert.deepEqual([body.summary.copied, body.summary.skipped, body.summary.failed], [1, 1, 1]);
  assert.equal(body.failed.length, 1);
  assert.deepEqual([body.failed[0]!.instance, body.failed[0]!.type, body.failed[0]!.name, body.failed[0]!.code], [A, 'data', 'bad_md5.xb', 'ERR_VERIFY']);
  assert.match(body.failed[0]!.key, /\/bad_md5\.xb$/);
  assert.match(rx.to(`${h.hcPath}/fail`)[0]!.body, /^cdb2cos failure \(exit 1\) on .*: copied 1, skipped 1, waiting 0, archived 0, failed 1[^]*FAILED cdb-e2entf01 data bad_md5\.xb: ERR_VERIFY/);

  const m = await metricsOf(textfile);
  assert.equal(valueOf(m, 'cdb2cos_last_run_exit_code'), 1);
  assert.equal(valueOf(m, 'cdb2cos_last_run_success'), 0);
  assert.equal(valueOf(m, 'cdb2cos_last_success_timestamp_seconds'), lastSuccess, 'carried over from the successful run');
  assert.equal(valueOf(m, 'cdb2cos_items', { unit: A, type: 'data', outcome: 'failed' }), 1);
  assert.equal(valueOf(m, 'cdb2cos_bytes', { unit: A, type: 'data', outcome: 'failed' }), 5 * KiB);
  assert.equal(valueOf(m, 'cdb2cos_items', { unit: A, type: 'data', outcome: 'copied' }), 1);
  assert.equal(valueOf(m, 'cdb2cos_bytes', { unit: A, type: 'data', outcome: 'copied' }), 3 * KiB);
  assert.equal(valueOf(m, 'cdb2cos_items', { unit: A, type: 'binlog', outcome: 'skipped' }), 1);
  assert.ok(valueOf(m, 'cdb2cos_last_run_end_timestamp_seconds') >= valueOf(m, 'cdb2cos_last_run_start_timestamp_seconds'));
});

test('webhooks that hang or answer 500 change neither the exit code nor the bound on how long the run takes', async (t) => {
  const rx = await startReceiver(t);
  rx.on('/hang', 'hang');
  rx.on(`/broken/${HOOK_TOKEN}`, { status: 500, body: `internal error near ${HOOK_TOKEN}` });
  rx.on(`/ping/${HC_TOKEN}`, 'hang');
  // timeout 1s, 1 retry: every end notification is given up after 1 s × 2 + 5 s.
  const deadlineMs = 1000 * 2 + 5000;
  const fx = await runFixture(t, [{ id: A, items: ITEMS.filter((i) => i.type === 'binlog') }], {
    cdb: { types: 'binlog' },
    notify: { on_success: [`${rx.base}/hang?token=${HOOK_TOKEN}`, `${rx.base}/broken/${HOOK_TOKEN}`], healthcheck: `${rx.base}/ping/${HC_TOKEN}`, timeout: '1s', retries: '1' },
    metrics: { textfile: 'cdb2cos.prom' },
  });
  const res = await fx.run([], { secrets: SECRETS });
  const ended = Date.now();
  assertExit(res, 0);
  assert.ok(fx.emu.cos.objects(fx.emu.info.bucket).some((o) => o.key.endsWith('/mysql-bin.000001')), 'the binlog was copied');

  // The 500 was retried once; the hanging ones were cut at the timeout and retried once too.
  assert.equal(rx.to(`/broken/${HOOK_TOKEN}`).length, 2);
  assert.equal(rx.to('/hang').length, 2);
  assert.equal(rx.to(`/ping/${HC_TOKEN}`).length, 2);
  const firstEnd = Math.min(...[...rx.to('/hang'), ...rx.to(`/broken/${HOOK_TOKEN}`)].map((r) => r.at));
  assert.ok(ended - firstEnd < deadlineMs + 1500, `the run ended ${ended - firstEnd} ms after its end notifications began (deadline ${deadlineMs} ms)`);

  const failed = eventsOf(res.events, 'notification failed');
  assert.deepEqual(failed.map((e) => e['kind']).sort(), ['on_success', 'on_success', 'ping_success']);
  assert.deepEqual(failed.map((e) => (e['err'] as { code: string }).code).sort(), ['ERR_SERVER', 'ERR_TIMEOUT', 'ERR_TIMEOUT']);
  // One warning line each on stderr, with the URLs redacted (the fixture checked no token leaked anywhere).
  const warnings = lines(res.stderr);
  assert.equal(warnings.length, 3, res.stderr);
  for (const w of warnings) assert.match(w, /^cdb2cos: warning: (on_success|ping_success) to http:\/\/127\.0\.0\.1:\d+\/\S*<redacted>\S* not delivered after 2 attempts: /);
  // The metrics were written all the same.
  assert.equal(valueOf(await metricsOf(join(fx.emu.info.dataDir, 'cdb2cos.prom')), 'cdb2cos_last_run_exit_code'), 0);
});

test('a run refused by the lock posts on_failure with ERR_LOCKED but pings nothing and leaves the metrics alone', async (t) => {
  const rx = await startReceiver(t);
  const h = hooks(rx);
  const fx = await runFixture(t, [{ id: A, items: ITEMS }], { notify: h.notify, metrics: { textfile: 'cdb2cos.prom' } });
  await mkdir(fx.stagingDir, { recursive: true });
  await writeFile(join(fx.stagingDir, 'cdb2cos.lock'), JSON.stringify({ pid: 1, host: 'backup-host-2', startedAt: '2026-01-01T02:00:00.000Z' }));
  const res = await fx.run([], { secrets: SECRETS });
  assertExit(res, 4);
  assert.deepEqual(arrived(rx), [h.failPath], 'the failure webhook only: the health check belongs to the run holding the lock');
  const body = JSON.parse(rx.to(h.failPath)[0]!.body) as { exitCode: number; error: { code: string; message: string } };
  assert.equal(body.exitCode, 4);
  assert.equal(body.error.code, 'ERR_LOCKED');
  assert.match(body.error.message, /pid 1 on backup-host-2/);
  await assert.rejects(stat(join(fx.emu.info.dataDir, 'cdb2cos.prom')), { code: 'ENOENT' });
});

test('a config that cannot run (no credentials) pings /fail and posts on_failure; a bad flag and a dry run send nothing', async (t) => {
  const rx = await startReceiver(t);
  const h = hooks(rx);
  const fx = await runFixture(t, [{ id: A, items: ITEMS }], { credentials: { secret_id: undefined, secret_key: undefined }, notify: h.notify, metrics: { textfile: 'cdb2cos.prom' } });
  const textfile = join(fx.emu.info.dataDir, 'cdb2cos.prom');
  const res = await fx.run([], { secrets: SECRETS });
  assertExit(res, 2);
  assert.match(res.stderr, /^cdb2cos: error: credentials: none found: /);
  // Sent at once, so in either order; no /start: the run never started.
  assert.deepEqual(arrived(rx).sort(), [h.failPath, `${h.hcPath}/fail`].sort());
  const body = JSON.parse(rx.to(h.failPath)[0]!.body) as { exitCode: number; error: { code: string } };
  assert.deepEqual([body.exitCode, body.error.code], [2, 'ERR_CONFIG']);
  assert.equal(valueOf(await metricsOf(textfile), 'cdb2cos_last_run_exit_code'), 2);

  // A mistake on the command line, and a dry run, report to no one.
  rx.received.length = 0;
  const cfg = await fx.emu.writeConfig(join(fx.emu.info.dataDir, 'ok.ini'), { notify: h.notify, metrics: { textfile: 'other.prom' } });
  assertExit(await fx.run(['--type', 'binlogs'], { config: cfg, secrets: SECRETS }), 2);
  const dry = await fx.run(['--dry-run'], { config: cfg, secrets: SECRETS });
  assertExit(dry, 0);
  assert.match(dry.stdout, /mysql-bin\.000001/);
  assert.deepEqual(arrived(rx), []);
  await assert.rejects(stat(join(fx.emu.info.dataDir, 'other.prom')), { code: 'ENOENT' });
});

test('SIGTERM during a copy: exit 143, /fail and on_failure still go out, and a hanging webhook is given up within the 5 s grace', async (t) => {
  const rx = await startReceiver(t);
  rx.on('/hang', 'hang');
  const h = hooks(rx, { on_failure: [`${rx.base}/hook/${HOOK_TOKEN}`, `${rx.base}/hang?token=${HOOK_TOKEN}`], timeout: '10s', retries: '2' });
  const emu = await startTestEmulator(t, { instances: [{ id: A, items: [{ type: 'data', size: 64 * MiB, minutesAgo: 60 }] }] });
  const item = emu.catalog.list(A, 'data')[0]!;
  const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'data' }, transfer: { part_size: '1MiB', connections: 4 }, notify: h.notify, metrics: { textfile: 'cdb2cos.prom' } });
  emu.downloads.faults.throttle(2 * MiB); // ~8 MiB/s: 8 s for the item
  const run = startCliFor(t, ['run', '--config', cfg]);
  await waitFor('the start ping and a few MiB downloaded', () => rx.to(`${h.hcPath}/start`).length > 0 && (emu.downloads.bytesServed()[item.key] ?? 0) >= 4 * MiB);
  const t0 = Date.now();
  run.child.kill('SIGTERM');
  const r = await run.done;
  const stopMs = Date.now() - t0;
  assert.equal(r.code, 143, r.stderr);
  assert.ok(stopMs < 5500, `stopped ${stopMs} ms after SIGTERM`);
  const fail = rx.to(`${h.hcPath}/fail`);
  assert.equal(fail.length, 1, 'the end ping went out before the process left');
  t.diagnostic(`/fail arrived ${fail[0]!.at - t0} ms after SIGTERM; the process left after ${stopMs} ms`);
  assert.match(fail[0]!.body, /^cdb2cos failure \(exit 143\)/);
  const body = JSON.parse(rx.to(h.failPath)[0]!.body) as { exitCode: number; error: { code: string; message: string } };
  assert.deepEqual([body.exitCode, body.error.code, body.error.message], [143, 'ERR_ABORTED', 'stopped by SIGTERM']);
  assert.equal(valueOf(await metricsOf(join(emu.info.dataDir, 'cdb2cos.prom')), 'cdb2cos_last_run_exit_code'), 143);
  const log = await readLogText(join(emu.info.dataDir, 'logs'));
  // Given up (and logged) before the grace period ended, rather than cut off by the forced exit.
  const events = log.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { msg: string; kind?: string; err?: { code: string } });
  assert.deepEqual(events.filter((e) => e.msg === 'notification failed').map((e) => [e.kind, e.err?.code]), [['on_failure', 'ERR_TIMEOUT']]);
  assert.equal(events.filter((e) => e.msg === 'stopped before in-flight requests settled').length, 0);
  for (const s of SECRETS) assert.ok(!log.includes(s) && !r.stderr.includes(s) && !r.stdout.includes(s), 'no token in the log or the output');
});
