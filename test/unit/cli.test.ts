import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitCodeFor, formatErrorLine, parseWhen, EXIT } from '../../src/cli.js';
import { Cdb2cosError, ConfigError, LockedError, redactSecrets } from '../../src/errors.js';

test('reads --since/--until in CDB time (UTC+8), a bare --until date as the end of that day', () => {
  assert.equal(parseWhen('2026-11-01', false), Date.UTC(2026, 9, 31, 16, 0, 0));
  assert.equal(parseWhen('2026-11-01', true), Date.UTC(2026, 10, 1, 16, 0, 0) - 1);
  assert.equal(parseWhen('2026-11-01 08:30', false), Date.UTC(2026, 11 - 1, 1, 0, 30, 0));
  assert.equal(parseWhen('2026-11-01T00:00:00Z', false), Date.UTC(2026, 10, 1));
  assert.throws(() => parseWhen('last tuesday', false), /not a date/);
  assert.throws(() => parseWhen('2026-13-45x', false), /not a date/);
});

test('maps each error class to its documented exit code', () => {
  assert.equal(exitCodeFor(new ConfigError(['cos.bucket: missing'])), EXIT.usage);
  assert.equal(exitCodeFor(new Cdb2cosError('ERR_USAGE', 'x')), 2);
  assert.equal(exitCodeFor(new Cdb2cosError('ERR_IO', 'staging dir')), 2);
  assert.equal(exitCodeFor(new Cdb2cosError('ERR_AUTH', 'x')), 3);
  assert.equal(exitCodeFor(new Cdb2cosError('ERR_PERMISSION', 'x')), 3);
  assert.equal(exitCodeFor(new LockedError('held')), 4);
  assert.equal(EXIT.logFailed, 5);
  assert.equal(exitCodeFor(new Cdb2cosError('ERR_VERIFY', 'x')), 1);
  assert.equal(exitCodeFor(new Error('boom')), 1);
});

test('strips signed query strings and secret values from messages', () => {
  const m = redactSecrets('GET http://127.0.0.1:9/cdb-x/data/a.xb?sign=abcdef&t=123 failed; secret_key=SuperSecret1');
  assert.ok(!m.includes('abcdef'));
  assert.ok(!m.includes('SuperSecret1'));
  assert.ok(m.includes('http://127.0.0.1:9/cdb-x/data/a.xb?<redacted>'));
  assert.ok(!new Cdb2cosError('ERR_NETWORK', 'x https://h/p?q-signature=zzz').message.includes('zzz'));
});

test('an error line is capped: the first 20 problems, each cut to 200 characters, then "… and K more"', () => {
  const problems = Array.from({ length: 100_000 }, (_, i) => `line ${i + 1}: expected "[section]" ${'z'.repeat(i === 0 ? 10_000 : 5)}`);
  const line = formatErrorLine(new ConfigError(problems, 'invalid config /etc/cdb2cos.ini'));
  assert.ok(line.length < 5000, `${line.length} characters`);
  assert.ok(line.startsWith('invalid config /etc/cdb2cos.ini: line 1: expected "[section]" zzz'), line.slice(0, 80));
  assert.ok(line.includes('line 20: '));
  assert.ok(!line.includes('line 21: '));
  assert.ok(line.endsWith('; … and 99980 more'), line.slice(-40));
  assert.ok(!line.includes('\n'));
  // Any other error: one line, at most a few KB, secrets redacted.
  const other = formatErrorLine(new Cdb2cosError('ERR_IO', `cannot read ${'/x'.repeat(100_000)}\nsecond line secret_key=Hush`));
  assert.ok(other.length <= 4000 && !other.includes('\n'));
  assert.equal(formatErrorLine(new ConfigError(['a: bad'], 'invalid config f')), 'invalid config f: a: bad');
  assert.ok(!formatErrorLine(new Error('x secret_key=Hush')).includes('Hush'));
});

test('a command whose work stalls with nothing left to wait for exits 1 with one line, never 0', async () => {
  const { spawnSync } = await import('node:child_process');
  const cli = new URL('../../src/cli.js', import.meta.url).href;
  const script = (settle: boolean): string =>
    `const { watchForStall } = await import(${JSON.stringify(cli)});
     const done = watchForStall((l) => process.stderr.write(l));
     ${settle ? 'await Promise.resolve(); done();' : 'await new Promise(() => {});'}`;
  const stalled = spawnSync(process.execPath, ['--input-type=module', '-e', script(false)], { encoding: 'utf8' });
  assert.equal(stalled.status, 1, stalled.stderr);
  assert.match(stalled.stderr, /^cdb2cos: error: internal error: the command stopped with its work unfinished/);
  assert.equal(stalled.stderr.trim().split('\n').length, 1);
  const settled = spawnSync(process.execPath, ['--input-type=module', '-e', script(true)], { encoding: 'utf8' });
  assert.equal(settled.status, 0, settled.stderr);
  assert.equal(settled.stderr, '');
});
