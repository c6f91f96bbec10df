// Fault audit: the local clock far from the services' (NTP broken, a VM restored from a snapshot).
// Signatures carry the local time, so COS and CDB refuse every request. The run must say it is the
// clock, not the keys, in one line, exit 3 (a refused authentication), copy and record nothing, and
// the next run with the clock set right copies everything.
//
// The CLI's clock is moved by a module preloaded with --import (NODE_OPTIONS): Date and Date.now
// shifted by CDB2COS_AUDIT_SKEW_MS. The emulator's clock stays right.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { toCdbError } from '../../src/cdb/client.js';
import { clockSkewSeconds } from '../../src/cos/client.js';
import { assertLanded, backupKeys, filesUnder, landedKey, lines, runCli, startTestEmulator, tempDir } from '../helpers/harness.js';

const INSTANCE = 'cdb-audit005';

const SKEW_MODULE = `
const skew = Number(process.env.CDB2COS_AUDIT_SKEW_MS ?? 0);
const RealDate = Date;
class SkewedDate extends RealDate {
  constructor(...a) { if (a.length === 0) super(RealDate.now() + skew); else super(...a); }
  static now() { return RealDate.now() + skew; }
}
globalThis.Date = SkewedDate;
`;

for (const [label, skewMs, word] of [['an hour ahead', 3_600_000, 'ahead of'], ['an hour behind', -3_600_000, 'behind']] as const) {
  test(`a local clock ${label}: exit 3, one line blaming the clock (not the keys), nothing copied; with the clock right the next run copies`, async (t) => {
    const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size: 2 * 1024 * 1024 + 9, minutesAgo: 60 }] }] });
    const item = emu.catalog.list(INSTANCE, 'binlog')[0]!;
    const dir = await tempDir(t);
    const preload = join(dir, 'skew.mjs');
    await writeFile(preload, SKEW_MODULE);
    const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer: { part_size: '1MiB', retry_budget: '3s' } });

    const env = { NODE_OPTIONS: `--import=${pathToFileURL(preload).href}`, CDB2COS_AUDIT_SKEW_MS: String(skewMs) };
    const r = await runCli(['run', '--config', cfg], { env, timeoutMs: 20_000 });
    assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
    assert.equal(r.code, 3, r.stderr);
    const errLines = lines(r.stderr);
    assert.equal(errLines.length, 1, r.stderr);
    assert.match(errLines[0]!, new RegExp(`the local clock is 3[56]\\d\\d s ${word} COS's .*set the clock right`));
    assert.doesNotMatch(errLines[0]!, /check the credentials/);
    assert.equal(emu.downloads.requests.length, 0, 'nothing downloaded');
    assert.deepEqual(backupKeys(emu), []);
    assert.deepEqual((await filesUnder(join(emu.info.dataDir, 'staging'))).filter((f) => !f.startsWith('cdb2cos.lock')), []);

    const again = await runCli(['run', '--config', cfg], { timeoutMs: 20_000 });
    assert.equal(again.code, 0, again.stderr);
    await assertLanded(emu, INSTANCE, 'binlog', item.name, landedKey(emu, item.name));
  });
}

test('a CDB refusal for an expired signature names the clock; a reply Date under a minute away is no skew', () => {
  const err = toCdbError('DescribeBinlogs', { code: 'AuthFailure.SignatureExpire', message: 'Signature expired' });
  assert.equal(err.code, 'ERR_AUTH');
  assert.match(err.message, /AuthFailure\.SignatureExpire: .*the local clock differs from CDB's by more than 5 minutes: set the clock right \(NTP\)$/);
  const now = Date.parse('2026-11-30T12:00:00Z');
  assert.equal(clockSkewSeconds('Mon, 30 Nov 2026 12:00:59 GMT', now), undefined);
  assert.equal(clockSkewSeconds('Mon, 30 Nov 2026 11:58:00 GMT', now), 120);
  assert.equal(clockSkewSeconds('Mon, 30 Nov 2026 12:10:00 GMT', now), -600);
  assert.equal(clockSkewSeconds('not a date', now), undefined);
  assert.equal(clockSkewSeconds(undefined, now), undefined);
});
