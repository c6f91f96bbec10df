// [notify] and [metrics]: read only when the file has them, their URLs checked and never echoed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatErrorLine } from '../../src/cli.js';
import { parseConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import type { Config } from '../../src/types.js';

const PATH = '/etc/cdb2cos/cdb2cos.ini';
const MINIMAL = `
[cdb]
region = ap-shanghai
instances = cdb-aaaa1111
[cos]
region = ap-guangzhou
bucket = backup-1250000000
`;
/** Stands for the secret part of a webhook or ping URL: it must appear in no message. */
const TOKEN = 'tok3nS3cretV4lue';

function ok(text: string): Config {
  const r = parseConfig(text, { path: PATH, env: {} });
  assert.deepEqual(r.errors, []);
  assert.ok(r.config);
  return r.config;
}

function fail(text: string): string[] {
  const r = parseConfig(text, { path: PATH, env: {} });
  assert.equal(r.config, undefined, 'expected errors');
  return r.errors;
}

test('[notify] and [metrics] read into the options the notifiers and the metrics writer take', () => {
  const c = ok(`${MINIMAL}
[notify]
on_failure = wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${TOKEN}, https://alerts.example.com/hook/${TOKEN}
on_success = SLACK:https://hooks.slack.com/services/T0/B0/${TOKEN}
healthcheck = https://hc-ping.com/${TOKEN}
timeout = 3s
retries = 0
[metrics]
textfile = prom/cdb2cos.prom
pushgateway = http://127.0.0.1:9091
job = nightly backup
`);
  assert.deepEqual(c.notify, {
    onFailure: [
      { format: 'wecom', url: `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=${TOKEN}` },
      { format: 'json', url: `https://alerts.example.com/hook/${TOKEN}` },
    ],
    onSuccess: [{ format: 'slack', url: `https://hooks.slack.com/services/T0/B0/${TOKEN}` }],
    healthcheck: `https://hc-ping.com/${TOKEN}`,
    timeoutMs: 3000,
    retries: 0,
  });
  // A relative path is the config file's folder's, like every other path.
  assert.deepEqual(c.metrics, { textfile: '/etc/cdb2cos/prom/cdb2cos.prom', pushgateway: 'http://127.0.0.1:9091', job: 'nightly backup', timeoutMs: 3000, retries: 0 });
  assert.deepEqual(c.warnings, []);
});

test('a section with only some keys gets the defaults of the others', () => {
  const c = ok(`${MINIMAL}[notify]\nhealthcheck = https://hc.example.com/ping/${TOKEN}\n[metrics]\ntextfile = /var/lib/x.prom\n`);
  assert.deepEqual(c.notify, { onFailure: [], onSuccess: [], healthcheck: `https://hc.example.com/ping/${TOKEN}`, timeoutMs: 10_000, retries: 2 });
  assert.deepEqual(c.metrics, { textfile: '/var/lib/x.prom', pushgateway: undefined, job: 'cdb2cos', timeoutMs: 10_000, retries: 2 });
});

test('a bad webhook, ping or Pushgateway URL is one line per key that never shows the URL', () => {
  const errors = fail(`${MINIMAL}
[notify]
on_failure = https://hooks.example.com/x#${TOKEN}, teams:https://example.com/${TOKEN}
on_success = hooks.example.com/${TOKEN}
healthcheck = ftp://hc.example.com/${TOKEN}
timeout = 500ms
retries = 11
[metrics]
pushgateway = http//${TOKEN}@pushgateway:9091
`);
  assert.deepEqual(errors, [
    'notify.on_failure: a URL with a #fragment: the fragment would not be sent',
    'notify.on_failure: unknown format "teams": write json:, wecom:, dingtalk: or slack: before the URL',
    'notify.on_success: not a URL (write http:// or https:// and a host)',
    'notify.healthcheck: scheme ftp: is not http: or https:',
    'notify.timeout: must be from 1s to 5m (got "500ms")',
    'notify.retries: must be a whole number from 0 to 10 (got "11")',
    'metrics.pushgateway: not a URL (write http:// or https:// and a host)',
  ]);
  for (const e of errors) assert.ok(!e.includes(TOKEN) && !e.includes('\n'), e);
  // What the CLI prints for it: one line, no secret.
  const line = formatErrorLine(new ConfigError(errors, `invalid config ${PATH}`));
  assert.ok(!line.includes(TOKEN) && !line.includes('\n'), line);
  assert.match(line, /^invalid config \/etc\/cdb2cos\/cdb2cos\.ini: notify\.on_failure: a URL with a #fragment/);
});

test('a list of targets that names none is refused; an empty value means "not set"', () => {
  assert.deepEqual(fail(`${MINIMAL}[notify]\non_failure = , ,\n`), ['notify.on_failure: must list at least one [format:]URL']);
  assert.deepEqual(ok(`${MINIMAL}[notify]\non_failure =\n`).notify.onFailure, []);
});

test('a textfile that does not end in .prom is a warning: the collector would never read it', () => {
  assert.deepEqual(ok(`${MINIMAL}[metrics]\ntextfile = /var/lib/node_exporter/cdb2cos.txt\n`).warnings, [
    "metrics.textfile: does not end in .prom, so node_exporter's textfile collector will not read it",
  ]);
});

test('the 2018 format has neither section', () => {
  const errors = fail('[common]\nsecret_id = a\nsecret_key = b\n[cosinfo]\ncos_region = ap-guangzhou\nbucket_name = backup-1250000000\n[cdbinfo]\ncdb_instanceid = cdb-aaaa1111\ncdb_region = ap-shanghai\n[notify]\nhealthcheck = https://hc.example.com/x\n');
  assert.ok(errors.some((e) => e.startsWith('config mixes the 2018 format')), errors.join('\n'));
});
