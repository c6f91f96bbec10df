// End to end: a copy begun before [retention] let its item go is never finished: the next run skips the
// item (outside-retention), removes its staged bytes and state file, and aborts its open upload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventsOf, filesUnder, readLog, runCli, startCliFor, startTestEmulator, waitFor } from '../helpers/harness.js';
import { KiB, MiB } from './expect.js';

const INSTANCE = 'cdb-prunelo1';

test('a staged copy of an item outside retention is removed and its upload aborted, not resumed', async (t) => {
  const emu = await startTestEmulator(t, {
    instances: [
      {
        id: INSTANCE,
        items: [
          { type: 'data', name: 'big.xb', size: 40 * MiB, date: '2025-03-05 02:00:00' },
          { type: 'data', name: 'small.xb', size: 5 * KiB, date: '2025-03-06 02:00:00' },
        ],
      },
    ],
  });
  const dir = emu.info.dataDir;
  const staging = join(dir, 'staging');
  const logs = join(dir, 'logs');
  const transfer = { part_size: '4MiB', connections: '2' };
  const plain = await emu.writeConfig(join(dir, 'plain.ini'), { cdb: { types: 'data' }, transfer });
  const kept = await emu.writeConfig(join(dir, 'retention.ini'), { cdb: { types: 'data' }, transfer, retention: { data_days: 30, keep_data_min: 1 } });

  // The newer backup is copied and recorded; then a run is killed in the middle of the older one.
  const first = await runCli(['run', '--config', plain, '--since', '2025-03-06']);
  assert.equal(first.code, 0, first.stderr);
  emu.downloads.faults.throttle(4 * MiB);
  const run = startCliFor(t, ['run', '--config', plain]);
  await waitFor('part of big.xb staged and its upload open', async () => {
    const state = (await filesUnder(staging)).find((f) => f.endsWith('.cdb2cos-state.json'));
    return state !== undefined && (emu.downloads.bytesServed()[`${INSTANCE}/data/big.xb`] ?? 0) >= 12 * MiB && emu.cos.openUploads(emu.info.bucket).length === 1;
  });
  run.child.kill('SIGKILL');
  await run.done;
  emu.downloads.faults.clear();
  assert.ok((await filesUnder(staging)).some((f) => f.includes('big.xb')), 'the killed run left big.xb staged');

  const before = (await readLog(logs)).length;
  emu.resetLog();
  const r = await runCli(['run', '--config', kept]);
  assert.equal(r.code, 0, r.stderr);
  const events = (await readLog(logs)).slice(before);
  assert.deepEqual(await filesUnder(staging), [], 'nothing left in the staging folder');
  assert.deepEqual(emu.cos.openUploads(emu.info.bucket), [], 'the open upload was aborted');
  assert.deepEqual(eventsOf(events, 'staged copy removed').map((e) => [e['key'], e['reason'], e['uploadAborted']]), [[`${INSTANCE}/data/2025-03-05/big.xb`, 'outside-retention', true]]);
  assert.equal(emu.downloads.requests.length, 0, 'big.xb was not resumed');
  assert.deepEqual(eventsOf(events, 'planned')[0]?.['skipped'], { 'already-copied': 1, 'outside-retention': 1 });
});
