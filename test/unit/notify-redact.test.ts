import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redactIn, redactWebhookUrl } from '../../src/notify/redact.js';

describe('redactWebhookUrl', () => {
  const cases: Array<[string, string, string[]]> = [
    ['WeCom key in the query', 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa', ['693a91f6']],
    ['DingTalk access_token and sign', 'https://oapi.dingtalk.com/robot/send?access_token=0123abcdSECRET&timestamp=1&sign=abcSIGNxyz', ['0123abcdSECRET', 'abcSIGNxyz']],
    ['Slack ids and secret in the path', 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX', ['T00000000', 'B00000000', 'XXXXXXXX']],
    ['healthchecks.io uuid', 'https://hc-ping.com/5b8a6f7e-1c4d-4d7e-9a6b-2f1e0c9d8b7a/fail', ['5b8a6f7e']],
    ['healthchecks.io ping key and slug', 'https://hc-ping.com/Wh4tEv3rKeyZ/db-backups', ['Wh4tEv3rKeyZ', 'db-backups']],
    ['Uptime Kuma push token, letters only', 'https://kuma.example/api/push/abcdefghij?status=up&msg=OK', ['abcdefghij']],
    ['basic auth', 'https://admin:s3cr3t@push.example:9091/metrics/job/cdb2cos', ['admin', 's3cr3t']],
  ];
  for (const [what, url, secrets] of cases) {
    it(`hides ${what}`, () => {
      const out = redactWebhookUrl(url);
      for (const s of secrets) assert.ok(!out.includes(s), `${out} still holds ${s}`);
      assert.ok(out.includes('<redacted>'), out);
      assert.equal(new URL(url).host, out.split('/')[2]!.replace(/^<redacted>@/, ''), 'the host stays, for the reader');
    });
  }

  it('keeps route words and query parameter names so the line still says where it went', () => {
    assert.equal(redactWebhookUrl('https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc123'), 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<redacted>');
    assert.equal(redactWebhookUrl('https://hooks.slack.com/services/T1/B2/c3'), 'https://hooks.slack.com/services/<redacted>/<redacted>/<redacted>');
    assert.equal(redactWebhookUrl('http://127.0.0.1:9091/metrics/job/cdb2cos'), 'http://127.0.0.1:9091/metrics/job/<redacted>');
    assert.equal(redactWebhookUrl('https://hc-ping.com/'), 'https://hc-ping.com/');
  });

  it('does not echo something that is not a URL', () => {
    assert.equal(redactWebhookUrl('wecom key=topsecret'), '<invalid url>');
  });
});

describe('redactIn', () => {
  it('replaces the whole URL and each secret part of it wherever a message repeats them', () => {
    const url = 'https://oapi.dingtalk.com/robot/send?access_token=tok3n-SECRET-42';
    const msg = `POST ${url} failed; token tok3n-SECRET-42 rejected; encoded tok3n-SECRET-42`;
    const out = redactIn(msg, url);
    assert.ok(!out.includes('tok3n-SECRET-42'), out);
    assert.ok(out.includes('https://oapi.dingtalk.com/robot/send?access_token=<redacted>'), out);
  });
});
