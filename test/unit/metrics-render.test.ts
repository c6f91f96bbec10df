import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { escapeLabelValue, lastSuccessMs, readLastSuccessMs, renderMetrics } from '../../src/metrics/render.js';
import { OUTCOMES } from '../../src/run-report.js';
import { parsePromText, valueOf } from '../helpers/prom-text.js';
import { failingReport, FINISHED, STARTED, successReport } from '../helpers/reports.js';

describe('renderMetrics', () => {
  it('parses strictly, every family has HELP and TYPE gauge, and names follow the conventions', () => {
    const fams = parsePromText(renderMetrics(failingReport(), Date.UTC(2026, 10, 29)));
    for (const f of fams.values()) {
      assert.ok(f.help && f.help.length > 10, `${f.name} has HELP`);
      assert.equal(f.type, 'gauge', f.name);
      assert.match(f.name, /^cdb2cos_[a-z_]+$/);
      assert.ok(!f.name.endsWith('_total'), `${f.name}: a gauge does not end in _total`);
      if (/timestamp|duration/.test(f.name)) assert.match(f.name, /_seconds$/);
      if (/bytes|rss/.test(f.name)) assert.match(f.name, /_bytes$/);
    }
    assert.deepEqual([...fams.keys()], [
      'cdb2cos_last_run_start_timestamp_seconds',
      'cdb2cos_last_run_end_timestamp_seconds',
      'cdb2cos_last_success_timestamp_seconds',
      'cdb2cos_last_run_exit_code',
      'cdb2cos_last_run_success',
      'cdb2cos_last_run_duration_seconds',
      'cdb2cos_items',
      'cdb2cos_bytes',
      'cdb2cos_downloaded_bytes',
      'cdb2cos_uploaded_bytes',
      'cdb2cos_unsupported_types',
      'cdb2cos_peak_rss_bytes',
    ]);
  });

  it("carries exactly the report's figures", () => {
    const r = failingReport();
    const fams = parsePromText(renderMetrics(r, Date.UTC(2026, 10, 29, 1, 2, 3, 456)));
    assert.equal(valueOf(fams, 'cdb2cos_last_run_start_timestamp_seconds'), STARTED / 1000);
    assert.equal(valueOf(fams, 'cdb2cos_last_run_end_timestamp_seconds'), FINISHED / 1000);
    assert.equal(valueOf(fams, 'cdb2cos_last_success_timestamp_seconds'), Date.UTC(2026, 10, 29, 1, 2, 3, 456) / 1000);
    assert.equal(valueOf(fams, 'cdb2cos_last_run_exit_code'), 1);
    assert.equal(valueOf(fams, 'cdb2cos_last_run_success'), 0);
    assert.equal(valueOf(fams, 'cdb2cos_last_run_duration_seconds'), 83.5);
    assert.equal(valueOf(fams, 'cdb2cos_downloaded_bytes'), 1_073_800_000);
    assert.equal(valueOf(fams, 'cdb2cos_uploaded_bytes'), 1_073_900_000);
    assert.equal(valueOf(fams, 'cdb2cos_unsupported_types'), 1);
    assert.equal(valueOf(fams, 'cdb2cos_peak_rss_bytes'), 97_000_000);
    // Every (unit, type) × outcome, zeros included, and nothing else.
    assert.equal(fams.get('cdb2cos_items')!.samples.length, r.units.length * OUTCOMES.length);
    assert.equal(fams.get('cdb2cos_bytes')!.samples.length, r.units.length * OUTCOMES.length);
    for (const u of r.units) {
      for (const o of OUTCOMES) {
        const labels = { unit: u.instance, type: u.type ?? '', outcome: o };
        assert.equal(valueOf(fams, 'cdb2cos_items', labels), u.items[o], JSON.stringify(labels));
        assert.equal(valueOf(fams, 'cdb2cos_bytes', labels), u.bytes[o], JSON.stringify(labels));
      }
    }
    assert.equal(valueOf(fams, 'cdb2cos_items', { unit: 'cdb-aaaa1111', type: 'binlog', outcome: 'copied' }), 2);
    assert.equal(valueOf(fams, 'cdb2cos_bytes', { unit: 'cdb-aaaa1111', type: 'binlog', outcome: 'copied' }), 500);
    assert.equal(valueOf(fams, 'cdb2cos_items', { unit: 'cdb-bbbb2222', type: '', outcome: 'failed' }), 1);
  });

  it('leaves out the last success when no run ever succeeded', () => {
    const fams = parsePromText(renderMetrics(failingReport(), undefined));
    assert.ok(!fams.has('cdb2cos_last_success_timestamp_seconds'));
  });

  it('escapes label values so any instance name reads back unchanged', () => {
    const odd = 'cdb-"quoted"\\back\nline';
    assert.equal(escapeLabelValue(odd), 'cdb-\\"quoted\\"\\\\back\\nline');
    const r = successReport();
    r.units[0]!.instance = odd;
    const fams = parsePromText(renderMetrics(r, FINISHED));
    assert.equal(valueOf(fams, 'cdb2cos_items', { unit: odd, type: 'data', outcome: 'copied' }), 2);
  });

  it('a run that stopped before listing anything still gives every run-level metric', () => {
    const r = { ...failingReport(), units: [], exitCode: 3 };
    const fams = parsePromText(renderMetrics(r, undefined));
    assert.equal(valueOf(fams, 'cdb2cos_last_run_exit_code'), 3);
    assert.equal(fams.get('cdb2cos_items')!.samples.length, 0);
  });
});

describe('last success', () => {
  it('is this run\'s end when it succeeded, else the one carried over', () => {
    assert.equal(lastSuccessMs(successReport(), 5), FINISHED);
    assert.equal(lastSuccessMs(failingReport(), 5), 5);
    assert.equal(lastSuccessMs(failingReport(), undefined), undefined);
  });

  it('reads back what renderMetrics wrote, to the millisecond', () => {
    const t = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    assert.equal(readLastSuccessMs(renderMetrics(failingReport(), t)), t);
    assert.equal(readLastSuccessMs(renderMetrics(failingReport(), undefined)), undefined);
    assert.equal(readLastSuccessMs('garbage\n'), undefined);
    assert.equal(readLastSuccessMs('cdb2cos_last_success_timestamp_seconds NaN\n'), undefined);
  });
});

describe('the strict text-format parser of the tests', () => {
  it('refuses what Prometheus would refuse', () => {
    const bad = [
      'm 1', // no final newline
      'm{a="x} 1\n',
      'm{a="\\t"} 1\n',
      'm{a="1",a="2"} 1\n',
      'm 1\nm 2\n',
      'm one\n',
      '# TYPE m gauge\n# TYPE m gauge\nm 1\n',
      'm 1\n# HELP m late\n',
      'm 1\nn 1\nm{a="b"} 1\n',
      '1m 1\n',
      'm{__name__="x"} 1\n',
      '# TYPE m weird\n',
    ];
    for (const text of bad) assert.throws(() => parsePromText(text), Error, JSON.stringify(text));
    assert.equal(parsePromText('# a comment\nm{a="x\\"y"} 1.5e3 1700000000000\n').get('m')!.samples[0]!.value, 1500);
  });
});
