// Fault audit: a resume state file damaged on disk (a crash of the file system, a full disk while
// another tool wrote it, a hand edit): invalid JSON, cut short, empty, or valid JSON of the wrong shape.
// The next run must not crash on it: it copies the item afresh (or resumes what is sound), lands it
// byte for byte, records it, and leaves nothing staged.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertLanded, backupKeys, filesUnder, landedKey, lines, runCli, startTestEmulator } from '../helpers/harness.js';

const MiB = 1024 * 1024;
const INSTANCE = 'cdb-audit001';

const DAMAGE: Record<string, (text: string) => string> = {
  'invalid JSON': () => '{"version":1,"fingerprint":',
  'cut short (half the file)': (text) => text.slice(0, Math.floor(text.length / 2)),
  'empty': () => '',
  'NUL bytes (a block lost by the file system)': (text) => '\0'.repeat(text.length),
  'wrong types: downloaded null, uploaded a string, others a number': (text) => {
    const s = JSON.parse(text) as Record<string, unknown>;
    return JSON.stringify({ ...s, downloaded: null, uploaded: 'x', others: 5 });
  },
  'wrong types: part entries of the wrong shape': (text) => {
    const s = JSON.parse(text) as Record<string, unknown>;
    return JSON.stringify({ ...s, downloaded: { 1: 'nope', 2: null, 3: [] }, uploaded: { 1: 42 }, size: 'big', partSize: -1 });
  },
  'a JSON array': () => '[1,2,3]',
};

for (const [what, damage] of Object.entries(DAMAGE)) {
  test(`a resume state ${what}: the next run copies the item, exit 0, no stack trace, nothing left staged`, async (t) => {
    const size = 6 * MiB + 17;
    const emu = await startTestEmulator(t, { instances: [{ id: INSTANCE, items: [{ type: 'binlog', size, minutesAgo: 60 }] }] });
    const item = emu.catalog.list(INSTANCE, 'binlog')[0]!;
    const staging = join(emu.info.dataDir, 'staging');
    const cfg = await emu.writeConfig(join(emu.info.dataDir, 'c.ini'), { cdb: { types: 'binlog' }, transfer: { part_size: '1MiB', retry_budget: '2s' } });
    // The first run stages every part and uploads some, then part 4 is refused for good: the item
    // fails and its state stays for the next run.
    emu.cos.faults.failPart({ partNumber: 4, status: 400, code: 'InvalidArgument', times: 1000 });
    const first = await runCli(['run', '--config', cfg], { timeoutMs: 30_000 });
    assert.equal(first.code, 1, first.stderr);
    emu.cos.faults.clear();
    const stateFile = (await filesUnder(staging)).find((f) => f.endsWith('.cdb2cos-state.json'));
    assert.ok(stateFile, 'the failed item left its resume state');
    const path = join(staging, stateFile);
    await writeFile(path, damage(await readFile(path, 'utf8')));

    const r = await runCli(['run', '--config', cfg], { timeoutMs: 30_000 });
    assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stderr), [], 'nothing on stderr');
    assert.match(r.stdout, /copied 1,/);
    await assertLanded(emu, INSTANCE, 'binlog', item.name, landedKey(emu, item.name));
    assert.equal(backupKeys(emu).length, 1);
    // At most the first run's upload stays open (its id was in the damaged state): the stale clean-up's.
    const open = emu.cos.openUploads(emu.info.bucket);
    assert.ok(open.length <= 1, `at most the first run's upload is open: ${JSON.stringify(open)}`);
    const left = (await filesUnder(staging)).filter((f) => !f.startsWith('cdb2cos.lock'));
    assert.deepEqual(left, [], 'nothing left staged');
    const manifests = emu.cos.objects(emu.info.bucket).filter((o) => o.key.includes('.cdb2cos/'));
    assert.ok(manifests.length > 0, 'a manifest was written');
  });
}
