import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT, exitCodeFor as cliExitCodeFor } from '../../src/cli.js';
import { EXIT_CODES, POLICY, errorLogFields, exitCodeFor, policyOf, worse, type ErrorEffect, type Worst } from '../../src/core/error-policy.js';
import { Cdb2cosError, ConfigError, ERROR_CODES, LockedError, type ErrorCode } from '../../src/errors.js';

// What each code means during a copy, written out again here rather than read from POLICY: a new code
// must be given a meaning in both places, and a change of meaning shows in review as a change here.
const EXPECTED: Record<ErrorCode, ErrorEffect> = {
  ERR_USAGE: { severity: 'config', stopsRun: true, keepStaged: true },
  ERR_CONFIG: { severity: 'config', stopsRun: true, keepStaged: true },
  ERR_AUTH: { severity: 'auth', stopsRun: true, keepStaged: true },
  ERR_PERMISSION: { severity: 'auth', stopsRun: true, keepStaged: true },
  ERR_NOT_FOUND: { severity: 'item', stopsRun: false, keepStaged: true },
  ERR_LOCKED: { severity: 'locked', stopsRun: true, keepStaged: true },
  ERR_NETWORK: { severity: 'item', stopsRun: false, keepStaged: true },
  ERR_TIMEOUT: { severity: 'item', stopsRun: false, keepStaged: true },
  ERR_THROTTLED: { severity: 'item', stopsRun: false, keepStaged: true },
  ERR_SERVER: { severity: 'item', stopsRun: false, keepStaged: true },
  ERR_URL_EXPIRED: { severity: 'item', stopsRun: false, keepStaged: true },
  ERR_VERIFY: { severity: 'item', stopsRun: false, keepStaged: true },
  ERR_DISK_FULL: { severity: 'item', stopsRun: false, keepStaged: true },
  ERR_IO: { severity: 'item', stopsRun: false, keepStaged: true },
  ERR_ABORTED: { severity: 'interrupted', stopsRun: true, keepStaged: true },
  ERR_SOURCE_CHANGED: { severity: 'item', stopsRun: false, keepStaged: false },
  ERR_ARCHIVED: { severity: 'item', stopsRun: false, keepStaged: true },
  ERR_REQUEST: { severity: 'item', stopsRun: false, keepStaged: true },
};

describe('error policy', () => {
  it('ERROR_CODES lists each code once, and the policy table has a row for exactly those codes', () => {
    assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
    assert.deepEqual(Object.keys(POLICY).sort(), [...ERROR_CODES].sort());
    assert.deepEqual(Object.keys(EXPECTED).sort(), [...ERROR_CODES].sort());
  });

  for (const code of ERROR_CODES) {
    it(`${code} during a copy: ${EXPECTED[code].severity}, ${EXPECTED[code].stopsRun ? 'stops the run' : 'the run goes on'}, staged data ${EXPECTED[code].keepStaged ? 'kept' : 'discarded'}`, () => {
      assert.deepEqual(policyOf(new Cdb2cosError(code, 'x')), EXPECTED[code]);
      assert.deepEqual(policyOf(new Cdb2cosError(code, 'x'), 'copy'), EXPECTED[code]);
    });
  }

  it('gives every code during a run the exit code src/cli.ts gives it today (NoSuchBucket aside, see below)', () => {
    for (const code of ERROR_CODES) {
      const err = new Cdb2cosError(code, 'x');
      assert.equal(exitCodeFor(policyOf(err, 'run').severity), cliExitCodeFor(err), code);
    }
    assert.equal(exitCodeFor(policyOf(new ConfigError(['cos.bucket: missing']), 'run').severity), 2);
    assert.equal(exitCodeFor(policyOf(new LockedError('held'), 'run').severity), 4);
    assert.equal(exitCodeFor(policyOf(new TypeError('x'), 'run').severity), cliExitCodeFor(new TypeError('x')));
  });

  it('ERR_IO is an item failure inside a copy, a setup (config) error outside any item', () => {
    const err = new Cdb2cosError('ERR_IO', 'cannot write staged file');
    assert.deepEqual(policyOf(err, 'copy'), { severity: 'item', stopsRun: false, keepStaged: true });
    assert.deepEqual(policyOf(err, 'run'), { severity: 'config', stopsRun: true, keepStaged: true });
  });

  it('a bucket that does not exist stops the run as a config error wherever it is met (exit 2, as README says)', () => {
    const err = new Cdb2cosError('ERR_NOT_FOUND', 'gone', { serviceCode: 'NoSuchBucket' });
    for (const scope of ['copy', 'listing', 'run'] as const) assert.deepEqual(policyOf(err, scope), { severity: 'config', stopsRun: true, keepStaged: true }, scope);
    assert.equal(exitCodeFor(policyOf(err).severity), EXIT.usage);
  });

  it('a unit that does not exist is a config error of that unit; the other units are still listed', () => {
    const err = new Cdb2cosError('ERR_NOT_FOUND', 'instance cdb-x not found', { serviceCode: 'InvalidParameter' });
    assert.deepEqual(policyOf(err, 'listing'), { severity: 'config', stopsRun: false, keepStaged: true });
    // The same code met by a copy (NoSuchUpload, NoSuchKey) is that item's failure only.
    assert.deepEqual(policyOf(new Cdb2cosError('ERR_NOT_FOUND', 'upload gone', { serviceCode: 'NoSuchUpload' }), 'copy'), { severity: 'item', stopsRun: false, keepStaged: true });
  });

  it('a listing refused for credentials or stopped by a signal stops the run; other listing failures fail that type only', () => {
    assert.equal(policyOf(new Cdb2cosError('ERR_AUTH', 'x'), 'listing').stopsRun, true);
    assert.equal(policyOf(new Cdb2cosError('ERR_PERMISSION', 'x'), 'listing').stopsRun, true);
    assert.equal(policyOf(new Cdb2cosError('ERR_ABORTED', 'x'), 'listing').severity, 'interrupted');
    for (const code of ['ERR_NETWORK', 'ERR_SERVER', 'ERR_THROTTLED', 'ERR_TIMEOUT', 'ERR_REQUEST'] as const) {
      assert.deepEqual(policyOf(new Cdb2cosError(code, 'x'), 'listing'), { severity: 'item', stopsRun: false, keepStaged: true }, code);
    }
  });

  it('tells a corrupt download (discard staged) from a destination that stored other bytes (keep staged) by origin, not by message', () => {
    // The same message for all three: only the typed origin decides.
    const msg = 'CRC-64 differs: the download is corrupt';
    assert.equal(policyOf(new Cdb2cosError('ERR_VERIFY', msg, { origin: 'source' })).keepStaged, false);
    assert.equal(policyOf(new Cdb2cosError('ERR_VERIFY', msg, { origin: 'staging' })).keepStaged, true);
    assert.equal(policyOf(new Cdb2cosError('ERR_VERIFY', msg, { origin: 'destination' })).keepStaged, true);
    assert.equal(policyOf(new Cdb2cosError('ERR_VERIFY', msg)).keepStaged, true);
    assert.equal(policyOf(new Cdb2cosError('ERR_VERIFY', 'BadDigest', { serviceCode: 'BadDigest', origin: 'destination' })).keepStaged, true);
    for (const origin of ['source', 'staging', 'destination'] as const) assert.equal(policyOf(new Cdb2cosError('ERR_VERIFY', msg, { origin })).severity, 'item');
  });

  it('discards staged data only for a source that changed or sent other bytes, for every code and origin', () => {
    for (const code of ERROR_CODES) {
      for (const origin of [undefined, 'source', 'staging', 'destination'] as const) {
        const err = new Cdb2cosError(code, 'x', origin === undefined ? {} : { origin });
        const discards = code === 'ERR_SOURCE_CHANGED' || (code === 'ERR_VERIFY' && origin === 'source');
        assert.equal(policyOf(err).keepStaged, !discards, `${code} ${origin ?? '(no origin)'}`);
      }
    }
    assert.equal(policyOf(new TypeError('x')).keepStaged, true);
  });

  it('classes anything that is not a Cdb2cosError as internal: exit 1, never an I/O error, the run goes on', () => {
    for (const err of [new TypeError('x is undefined'), new RangeError('bad'), new ReferenceError('y'), new Error('plain'), 'a string', undefined, { code: 'ERR_IO' }]) {
      assert.deepEqual(policyOf(err), { severity: 'internal', stopsRun: false, keepStaged: true });
      assert.equal(policyOf(err, 'run').severity, 'internal');
    }
    assert.equal(exitCodeFor('internal'), 1);
  });

  it('keeps the stack in the log fields of a programming error, not of our own errors', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'size')");
    const f = errorLogFields(bug);
    assert.equal(f['type'], 'TypeError');
    assert.equal(f['message'], bug.message);
    assert.match(String(f['stack']), /TypeError: Cannot read properties/);
    assert.match(String(f['stack']), /error-policy\.test\.js/);
    const ours = errorLogFields(new Cdb2cosError('ERR_NETWORK', 'reset', { serviceCode: 'ECONNRESET' }));
    assert.deepEqual(ours, { code: 'ERR_NETWORK', message: 'reset', serviceCode: 'ECONNRESET' });
  });

  it('redacts signed URLs in the stack of a programming error', () => {
    const bug = new TypeError('fetch failed for https://dl.example.com/x.xb?sign=abcdef&t=1');
    const f = errorLogFields(bug);
    assert.doesNotMatch(String(f['stack']), /abcdef/);
    assert.doesNotMatch(String(f['message']), /abcdef/);
  });
});

describe('exit codes', () => {
  it('are the contract values, the same as src/cli.ts EXIT', () => {
    assert.deepEqual(EXIT_CODES, EXIT);
    assert.deepEqual(EXIT_CODES, { ok: 0, itemsFailed: 1, usage: 2, auth: 3, locked: 4, logFailed: 5, sigint: 130, sigterm: 143 });
  });

  it('come from the worst severity, as src/cli.ts decides a run’s code', () => {
    const cases: Array<[Worst, number]> = [
      ['none', 0],
      ['item', 1],
      ['internal', 1],
      ['config', 2],
      ['auth', 3],
      ['locked', 4],
      ['interrupted', 1],
    ];
    for (const [worst, code] of cases) assert.equal(exitCodeFor(worst), code, worst);
  });

  it('a signal wins over everything; a log that failed only shows when nothing else went wrong', () => {
    for (const w of ['none', 'item', 'config', 'auth', 'interrupted'] as const) {
      assert.equal(exitCodeFor(w, { signal: 'SIGINT', logFailed: true }), 130);
      assert.equal(exitCodeFor(w, { signal: 'SIGTERM' }), 143);
    }
    assert.equal(exitCodeFor('none', { logFailed: true }), 5);
    assert.equal(exitCodeFor('item', { logFailed: true }), 1);
    assert.equal(exitCodeFor('config', { logFailed: true }), 2);
    assert.equal(exitCodeFor('auth', { logFailed: true }), 3);
  });

  it('worse() keeps the highest severity whatever the order they are met in', () => {
    const order: Worst[] = ['none', 'item', 'internal', 'locked', 'config', 'auth', 'interrupted'];
    for (const [i, a] of order.entries()) {
      for (const [j, b] of order.entries()) {
        assert.equal(worse(a, b), order[Math.max(i, j)], `${a} ${b}`);
      }
    }
    // auth over config over item: the order src/cli.ts applies to summary.worst.
    assert.equal(['item', 'auth', 'config', 'item'].reduce<Worst>((w, s) => worse(w, s as Worst), 'none'), 'auth');
  });
});
