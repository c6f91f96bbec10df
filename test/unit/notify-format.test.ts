import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DINGTALK_TEXT_BYTES, fitLines, jsonBody, MAX_FAILED_ITEMS, MAX_MESSAGE_CHARS, pingBody, SLACK_TEXT_CHARS, webhookBody, WECOM_TEXT_BYTES } from '../../src/notify/formats.js';
import { parseTarget, parseTargets } from '../../src/notify/options.js';
import { pingUrl } from '../../src/notify/index.js';
import { failingReport, FINISHED, manyFailuresReport, STARTED, successReport } from '../helpers/reports.js';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('the JSON body (version 1)', () => {
  it('carries the status, times, totals, units and every failure of a failed run', () => {
    const r = failingReport();
    const b = JSON.parse(webhookBody('json', r).body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(b).sort(), ['dryRun', 'durationSeconds', 'error', 'exitCode', 'failed', 'failedOmitted', 'failedTotal', 'finishedAt', 'host', 'startedAt', 'status', 'summary', 'text', 'tool', 'units', 'version']);
    assert.equal(b['version'], 1);
    assert.equal(b['tool'], 'cdb2cos');
    assert.equal(b['status'], 'failure');
    assert.equal(b['exitCode'], 1);
    assert.equal(b['host'], 'db-backup-1');
    assert.equal(b['startedAt'], new Date(STARTED).toISOString());
    assert.equal(b['finishedAt'], new Date(FINISHED).toISOString());
    assert.equal(b['durationSeconds'], 83.5);
    assert.deepEqual(b['summary'], { ...r.totals, peakRssBytes: r.peakRssBytes });
    assert.deepEqual(b['units'], r.units);
    assert.deepEqual(b['failed'], [
      { instance: 'cdb-aaaa1111', type: 'binlog', name: 'mysql-bin.000042', key: 'cdb-aaaa1111/binlog/2026-11-30/mysql-bin.000042', code: 'ERR_VERIFY', message: 'crc64 of the upload differs from the download' },
      { instance: 'cdb-bbbb2222', type: null, code: 'ERR_SERVER', message: 'list bucket: HTTP 503 "Slow Down"' },
    ]);
    assert.equal(b['failedTotal'], 2);
    assert.equal(b['failedOmitted'], 0);
    assert.equal(b['error'], null);
    assert.match(b['text'] as string, /^cdb2cos failure \(exit 1\) on db-backup-1: copied 3, skipped 1, waiting 1, archived 1, failed 2, 1\.0 GiB in 83\.5 s$/);
  });

  it('says success for exit 0 and carries the run error when the run stopped as a whole', () => {
    assert.equal(jsonBody(successReport()).status, 'success');
    const stopped = jsonBody({ ...failingReport(), exitCode: 3, error: { code: 'ERR_AUTH', message: 'CDB rejected the credentials' } });
    assert.equal(stopped.status, 'failure');
    assert.deepEqual(stopped.error, { code: 'ERR_AUTH', message: 'CDB rejected the credentials' });
  });

  it(`lists the first ${MAX_FAILED_ITEMS} failures, counts the rest, and cuts long messages`, () => {
    const b = jsonBody(manyFailuresReport(500));
    assert.equal(b.failed.length, MAX_FAILED_ITEMS);
    assert.equal(b.failedTotal, 500);
    assert.equal(b.failedOmitted, 450);
    assert.equal(b.failed[0]!.name, 'mysql-bin.000000');
    assert.ok(b.failed.every((f) => f.message.length <= MAX_MESSAGE_CHARS));
    assert.ok(bytes(JSON.stringify(b)) < 64 * 1024, 'bounded body');
  });
});

describe('robot and Slack texts', () => {
  it('WeCom and DingTalk get msgtype text with the summary, a line per unit and per failure', () => {
    for (const format of ['wecom', 'dingtalk'] as const) {
      const { body, contentType } = webhookBody(format, failingReport());
      assert.equal(contentType, 'application/json');
      const b = JSON.parse(body) as { msgtype: string; text: { content: string } };
      assert.equal(b.msgtype, 'text');
      const lines = b.text.content.split('\n');
      assert.match(lines[0]!, /^cdb2cos failure \(exit 1\) on db-backup-1/);
      assert.ok(lines.includes('cdb-aaaa1111 binlog: copied 2, failed 1, waiting 1'), b.text.content);
      assert.ok(lines.includes('cdb-bbbb2222 (listing): failed 1'), b.text.content);
      assert.ok(lines.includes('FAILED cdb-aaaa1111 binlog mysql-bin.000042: ERR_VERIFY crc64 of the upload differs from the download'), b.text.content);
    }
  });

  it('stays within each robot\'s size limit and says how many lines were left out', () => {
    const r = manyFailuresReport(300);
    const wecom = (JSON.parse(webhookBody('wecom', r).body) as { text: { content: string } }).text.content;
    const ding = (JSON.parse(webhookBody('dingtalk', r).body) as { text: { content: string } }).text.content;
    const slack = (JSON.parse(webhookBody('slack', r).body) as { text: string }).text;
    assert.ok(bytes(wecom) <= WECOM_TEXT_BYTES, `${bytes(wecom)}`);
    assert.ok(bytes(ding) <= DINGTALK_TEXT_BYTES, `${bytes(ding)}`);
    assert.ok(slack.length <= SLACK_TEXT_CHARS, `${slack.length}`);
    for (const text of [wecom, ding, slack]) {
      const shown = text.split('\n').filter((l) => l.startsWith('FAILED')).length;
      const m = /… (\d+) more lines?$/.exec(text);
      assert.ok(m, text.slice(-80));
      // 1 summary + 1 unit + 300 failures
      assert.equal(Number(m[1]) + shown + 2, 302);
    }
    // A failure line here is about 950 bytes (300 characters of 3-byte text): at most one line's room is left.
    assert.ok(bytes(wecom) > WECOM_TEXT_BYTES - 1000, 'the room is used, not wasted');
  });

  it('Slack gets {text} with &, < and > escaped', () => {
    const r = failingReport({ failed: [{ instance: 'cdb-a', type: 'data', name: 'x', code: 'ERR_IO', message: 'a <b> & c' }] });
    const b = JSON.parse(webhookBody('slack', r).body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(b), ['text']);
    assert.ok((b['text'] as string).includes('ERR_IO a &lt;b&gt; &amp; c'), b['text'] as string);
  });

  it('fitLines keeps whole lines, cuts a first line that alone is too long, and never exceeds the limit', () => {
    const fits = (n: number) => (s: string) => s.length <= n;
    assert.equal(fitLines(['aaa', 'bbb'], fits(7)), 'aaa\nbbb');
    const [a, b, c] = ['a'.repeat(30), 'b'.repeat(30), 'c'.repeat(30)];
    // a+b fit (61) but leave no room for "… 1 more lines" (76 > 70): one line and the count of two.
    assert.equal(fitLines([a, b, c], fits(70)), `${a}\n… 2 more lines`);
    assert.equal(fitLines([a, b, c], fits(76)), `${a}\n${b}\n… 1 more line`);
    const cut = fitLines(['x'.repeat(50), 'y'], fits(30));
    assert.ok(cut.length <= 30 && cut.startsWith('xxx') && cut.endsWith('… 1 more line'), cut);
    assert.equal(fitLines(['x'.repeat(50)], fits(10)), 'x'.repeat(9) + '…');
  });

  it('the end ping body is the same text, capped at 10 kB', () => {
    assert.ok(pingBody(failingReport()).startsWith('cdb2cos failure (exit 1)'));
    assert.ok(bytes(pingBody(manyFailuresReport(2000))) <= 10_000);
  });
});

describe('targets and ping URLs', () => {
  it('reads [format:]URL entries; a bare URL is json', () => {
    assert.deepEqual(parseTarget('https://example.com/hook'), { format: 'json', url: 'https://example.com/hook' });
    assert.deepEqual(parseTarget('wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k'), { format: 'wecom', url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k' });
    assert.deepEqual(parseTarget('DingTalk:https://oapi.dingtalk.com/robot/send?access_token=t'), { format: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send?access_token=t' });
    assert.deepEqual(parseTarget('slack:http://127.0.0.1:1/x'), { format: 'slack', url: 'http://127.0.0.1:1/x' });
    assert.deepEqual(parseTarget('json:https://h/x'), { format: 'json', url: 'https://h/x' });
  });

  it('refuses unknown formats, other schemes, fragments and non-URLs, without echoing the entry', () => {
    for (const bad of ['teams:https://h/x?token=SECRETVALUE', 'ftp://h/SECRETVALUE', 'https://h/x#SECRETVALUE', 'SECRETVALUE', 'wecom:SECRETVALUE']) {
      const r = parseTarget(bad);
      assert.ok('problem' in r, bad);
      assert.ok(!r.problem.includes('SECRETVALUE'), r.problem);
    }
  });

  it('splits a comma/space list and reports every bad entry', () => {
    const { targets, problems } = parseTargets('https://a/1, slack:https://b/2\n  wecom:https://c/3 , nope, teams:https://d/4');
    assert.deepEqual(targets.map((t) => t.format), ['json', 'slack', 'wecom']);
    assert.equal(problems.length, 2);
  });

  it('puts /start and /fail before the query string', () => {
    assert.equal(pingUrl('https://hc-ping.com/uuid', 'start'), 'https://hc-ping.com/uuid/start');
    assert.equal(pingUrl('https://hc-ping.com/uuid/', 'fail'), 'https://hc-ping.com/uuid/fail');
    assert.equal(pingUrl('https://hc.example/ping/key/slug?create=1', 'fail'), 'https://hc.example/ping/key/slug/fail?create=1');
    assert.equal(pingUrl('https://hc-ping.com/uuid', ''), 'https://hc-ping.com/uuid');
  });
});
