// Webhooks and health pings against local receivers on 127.0.0.1: what each receives, and that a
// receiver that hangs, fails or refuses never makes the caller wait past the deadline or reject.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Agent } from 'undici';
import { notifyRunEnd, notifyRunStart, type NotifyOptions, type SendDeps } from '../../src/notify/index.js';
import { sleep } from '../../src/retry.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { failingReport, successReport } from '../helpers/reports.js';

interface Logged {
  level: 'info' | 'warn';
  obj: Record<string, unknown>;
  msg: string;
}

function harness(t: { after: (fn: () => Promise<void>) => void }): { deps: SendDeps; logged: Logged[]; warnings: string[] } {
  const logged: Logged[] = [];
  const warnings: string[] = [];
  const dispatcher = new Agent({ keepAliveTimeout: 1000 });
  t.after(() => dispatcher.close());
  return {
    logged,
    warnings,
    deps: {
      dispatcher,
      log: {
        info: (obj, msg) => logged.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
        warn: (obj, msg) => logged.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
      },
      warn: (line) => warnings.push(line),
      now: () => Date.now(),
      sleep,
      random: () => 0.5,
    },
  };
}

const ROBOT_OK = { status: 200, body: '{"errcode":0,"errmsg":"ok"}', headers: { 'content-type': 'application/json' } };

function options(rx: Receiver, extra: Partial<NotifyOptions> = {}): NotifyOptions {
  return {
    onFailure: [
      { format: 'json', url: `${rx.base}/fail/json?token=JSONSECRET` },
      { format: 'wecom', url: `${rx.base}/cgi-bin/webhook/send?key=WECOMSECRET` },
      { format: 'dingtalk', url: `${rx.base}/robot/send?access_token=DINGSECRET` },
      { format: 'slack', url: `${rx.base}/services/T0SECRET/B0SECRET/SLACKSECRET` },
    ],
    onSuccess: [{ format: 'json', url: `${rx.base}/ok/json` }, { format: 'slack', url: `${rx.base}/ok/slack` }],
    healthcheck: `${rx.base}/hc/5b8a6f7e-HCSECRET`,
    timeoutMs: 2000,
    retries: 2,
    ...extra,
  };
}

const SECRETS = ['JSONSECRET', 'WECOMSECRET', 'DINGSECRET', 'SLACKSECRET', 'T0SECRET', 'B0SECRET', 'HCSECRET'];

function assertNoSecrets(logged: Logged[], warnings: string[]): void {
  const text = JSON.stringify(logged) + warnings.join('\n');
  for (const s of SECRETS) assert.ok(!text.includes(s), `${s} leaked: ${text.slice(0, 400)}`);
}

test('a failed run posts the failure webhook in each format and pings /fail with the summary', async (t) => {
  const rx = await startReceiver(t);
  rx.on('/cgi-bin/webhook/send', ROBOT_OK);
  rx.on('/robot/send', ROBOT_OK);
  const { deps, logged, warnings } = harness(t);
  const out = await notifyRunEnd(failingReport(), options(rx), deps);

  assert.deepEqual(out.map((d) => [d.kind, d.ok, d.attempts]), [
    ['on_failure', true, 1],
    ['on_failure', true, 1],
    ['on_failure', true, 1],
    ['on_failure', true, 1],
    ['ping_fail', true, 1],
  ]);
  assert.equal(rx.received.length, 5, 'nothing sent to on_success or to the success ping');
  for (const r of rx.received) assert.equal(r.method, 'POST');

  const [json] = rx.to('/fail/json');
  assert.equal(json!.url, '/fail/json?token=JSONSECRET', 'the URL is used as configured');
  assert.equal(json!.headers['content-type'], 'application/json');
  const body = JSON.parse(json!.body) as Record<string, unknown>;
  assert.equal(body['version'], 1);
  assert.equal(body['status'], 'failure');
  assert.equal(body['exitCode'], 1);
  assert.deepEqual((body['failed'] as Array<{ name?: string }>).map((f) => f.name), ['mysql-bin.000042', undefined]);

  for (const path of ['/cgi-bin/webhook/send', '/robot/send']) {
    const b = JSON.parse(rx.to(path)[0]!.body) as { msgtype: string; text: { content: string } };
    assert.equal(b.msgtype, 'text');
    assert.match(b.text.content, /^cdb2cos failure \(exit 1\) on db-backup-1: copied 3/);
    assert.match(b.text.content, /FAILED cdb-aaaa1111 binlog mysql-bin\.000042: ERR_VERIFY/);
  }
  const slack = JSON.parse(rx.to('/services/T0SECRET/B0SECRET/SLACKSECRET')[0]!.body) as { text: string };
  assert.match(slack.text, /^cdb2cos failure \(exit 1\)/);

  const [ping] = rx.to('/hc/5b8a6f7e-HCSECRET/fail');
  assert.ok(ping, 'pinged URL/fail');
  assert.match(ping.headers['content-type']!, /^text\/plain/);
  assert.match(ping.body, /^cdb2cos failure \(exit 1\) on db-backup-1: copied 3, skipped 1, waiting 1, archived 1, failed 2/);
  assert.match(ping.body, /FAILED cdb-bbbb2222: ERR_SERVER list bucket: HTTP 503/);

  assert.deepEqual(warnings, []);
  const sent = logged.filter((l) => l.msg === 'notification sent');
  assert.equal(sent.length, 5);
  assert.deepEqual(sent.map((l) => l.obj['format']), ['json', 'wecom', 'dingtalk', 'slack', undefined]);
  assertNoSecrets(logged, warnings);
});

test('a successful run posts the success webhooks and pings the URL itself; the start ping goes to /start', async (t) => {
  const rx = await startReceiver(t);
  const { deps, warnings } = harness(t);
  const opts = options(rx);
  const start = await notifyRunStart(opts, deps);
  assert.deepEqual(start.map((d) => [d.kind, d.ok]), [['ping_start', true]]);
  assert.equal(rx.to('/hc/5b8a6f7e-HCSECRET/start').length, 1);

  const out = await notifyRunEnd(successReport(), opts, deps);
  assert.deepEqual(out.map((d) => [d.kind, d.ok]), [['on_success', true], ['on_success', true], ['ping_success', true]]);
  assert.equal((JSON.parse(rx.to('/ok/json')[0]!.body) as { status: string }).status, 'success');
  assert.match((JSON.parse(rx.to('/ok/slack')[0]!.body) as { text: string }).text, /^cdb2cos success on db-backup-1: copied 2/);
  assert.match(rx.to('/hc/5b8a6f7e-HCSECRET')[0]!.body, /^cdb2cos success/);
  assert.equal(rx.to('/hc/5b8a6f7e-HCSECRET/fail').length, 0);
  assert.equal(rx.received.length, 4, 'start ping, two webhooks, success ping; no failure webhook');
  assert.deepEqual(warnings, []);
});

test('a webhook that hangs and one that answers 500 are retried, then given up within the timeout; the others are delivered', async (t) => {
  const rx = await startReceiver(t);
  rx.on('/fail/json', 'hang');
  rx.on('/cgi-bin/webhook/send', { status: 500, body: 'internal error' });
  rx.on('/robot/send', ROBOT_OK);
  const { deps, logged, warnings } = harness(t);
  const timeoutMs = 300;
  const retries = 2;
  const t0 = Date.now();
  const out = await notifyRunEnd(failingReport(), options(rx, { timeoutMs, retries }), deps);
  const ms = Date.now() - t0;

  // 3 attempts of ≤ 300 ms, backoff 250 + 500 ms (random 0.5): about 1.7 s; the default deadline is 5.9 s.
  assert.ok(ms < 4000, `resolved after ${ms} ms`);
  assert.equal(rx.to('/fail/json').length, retries + 1, 'the hanging webhook was tried 3 times');
  assert.equal(rx.to('/cgi-bin/webhook/send').length, retries + 1, 'the 500 was tried 3 times');
  const [hung, failing, robot, slack, ping] = out;
  assert.deepEqual([hung!.ok, hung!.attempts, hung!.error?.code], [false, 3, 'ERR_TIMEOUT']);
  assert.deepEqual([failing!.ok, failing!.status, failing!.error?.message], [false, 500, 'HTTP 500: internal error']);
  assert.ok(robot!.ok && slack!.ok && ping!.ok);

  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings.join('\n'), /^on_failure to http:\/\/127\.0\.0\.1:\d+\/fail\/<redacted>\?token=<redacted> not delivered after 3 attempts: no answer within 300 ms$/m);
  assert.match(warnings.join('\n'), /^on_failure to http:\/\/127\.0\.0\.1:\d+\/cgi-bin\/webhook\/send\?key=<redacted> not delivered after 3 attempts: HTTP 500: internal error$/m);
  assert.equal(logged.filter((l) => l.msg === 'retrying').length, 4);
  assert.equal(logged.filter((l) => l.msg === 'notification failed').length, 2);
  assertNoSecrets(logged, warnings);
});

test('the hard deadline ends every request still in flight, whatever the per-attempt timeout', async (t) => {
  const rx = await startReceiver(t);
  rx.on('/fail/json', 'hang');
  rx.on('/hc/5b8a6f7e-HCSECRET/fail', 'hang');
  const { deps, warnings } = harness(t);
  const t0 = Date.now();
  const out = await notifyRunEnd(failingReport(), options(rx, { onFailure: [{ format: 'json', url: `${rx.base}/fail/json` }], timeoutMs: 60_000, retries: 5, deadlineMs: 500 }), deps);
  const ms = Date.now() - t0;
  assert.ok(ms >= 450 && ms < 1500, `resolved after ${ms} ms`);
  assert.deepEqual(out.map((d) => [d.ok, d.error?.code]), [[false, 'ERR_TIMEOUT'], [false, 'ERR_TIMEOUT']]);
  assert.equal(warnings.length, 2);
});

test('a refused connection, a 404 and robot error codes: retried only when trying again can help', async (t) => {
  const rx = await startReceiver(t);
  // A port nobody listens on: bind one, note it, close it.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const deadPort = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  rx.on('/gone', { status: 404, body: 'no such hook' });
  rx.on('/cgi-bin/webhook/send', { status: 200, body: '{"errcode":93000,"errmsg":"invalid webhook url"}' });
  rx.on('/robot/send', (_req, n) => (n === 1 ? { status: 200, body: '{"errcode":130101,"errmsg":"send too fast"}' } : ROBOT_OK));
  rx.on('/busy', (_req, n) => (n === 1 ? { status: 429, body: 'slow down', headers: { 'retry-after': '0' } } : { status: 204 }));
  const { deps, warnings } = harness(t);
  const out = await notifyRunEnd(
    failingReport(),
    {
      onFailure: [
        { format: 'json', url: `http://127.0.0.1:${deadPort}/hook` },
        { format: 'json', url: `${rx.base}/gone` },
        { format: 'wecom', url: `${rx.base}/cgi-bin/webhook/send?key=WECOMSECRET` },
        { format: 'dingtalk', url: `${rx.base}/robot/send?access_token=DINGSECRET` },
        { format: 'slack', url: `${rx.base}/busy` },
      ],
      onSuccess: [],
      timeoutMs: 1000,
      retries: 2,
    },
    deps,
  );
  assert.deepEqual(
    out.map((d) => [d.ok, d.attempts, d.error?.code]),
    [
      [false, 3, 'ERR_NETWORK'],
      [false, 1, 'ERR_REQUEST'],
      [false, 1, 'ERR_REQUEST'],
      [true, 2, undefined],
      [true, 2, undefined],
    ],
  );
  assert.match(out[0]!.error!.message, /ECONNREFUSED/);
  assert.equal(out[2]!.error!.message, 'robot errcode 93000: invalid webhook url');
  assert.equal(warnings.length, 3);
  assert.ok(!warnings.join('\n').includes('WECOMSECRET'));
});

test('nothing configured: nothing sent, nothing warned', async (t) => {
  const { deps, warnings, logged } = harness(t);
  assert.deepEqual(await notifyRunStart({ onFailure: [], onSuccess: [], timeoutMs: 1000, retries: 0 }, deps), []);
  assert.deepEqual(await notifyRunEnd(failingReport(), { onFailure: [], onSuccess: [], timeoutMs: 1000, retries: 0 }, deps), []);
  assert.deepEqual([warnings, logged], [[], []]);
});
