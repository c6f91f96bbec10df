// The tool's own CDB listings against the emulator's strict CDB API: every call it makes is well-formed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator, type Emulator, type EmulatorItemSpec } from '@cdb2cos/emulator';
import { listItems } from '../../src/cdb/catalog.js';
import { createCdbApi } from '../../src/cdb/client.js';

// The SDK sends every request through a lowercase http_proxy, even to 127.0.0.1.
delete process.env['http_proxy'];
delete process.env['HTTP_PROXY'];

// Dates as CDB shows them (UTC+8).
const binlogs: EmulatorItemSpec[] = [
  { type: 'binlog', name: 'mysql-bin.000001', size: 10, binlogStartTime: '2024-05-01 00:00:00', date: '2024-05-01 01:00:00' },
  { type: 'binlog', name: 'mysql-bin.000002', size: 20, binlogStartTime: '2024-05-01 01:00:00', date: '2024-05-01 02:00:00' },
  { type: 'binlog', name: 'mysql-bin.000003', size: 30, binlogStartTime: '2024-05-01 02:00:00', date: '2024-05-01 03:00:00', status: 'SUCCESS' },
  { type: 'binlog', name: 'mysql-bin.000004', size: 40, binlogStartTime: '2024-05-01 03:00:00', date: '2024-05-01 04:00:00' },
];

describe('CDB listings against the emulator', () => {
  let emu: Emulator;

  before(async () => {
    emu = await startEmulator();
    emu.addItems('cdb-many0001', Array.from({ length: 150 }, (_, i) => ({ type: 'data' as const, size: 1000 + i, minutesAgo: 10_000 - i })));
    emu.addItems('cdb-logs0001', binlogs);
  });
  after(() => emu.close());

  test("the tool's own listings pass the strict checks: every page of every type, with and without a time window", async () => {
    const api = createCdbApi({ credentials: { secretId: emu.info.secretId, secretKey: emu.info.secretKey }, region: emu.info.cdbRegion, endpoint: emu.info.cdbEndpoint, timeoutMs: 10_000 });
    emu.resetLog();
    const windows = [{}, { since: Date.parse('2024-05-01T01:30:00+08:00') }, { until: Date.parse('2024-05-01T03:00:00+08:00') }, { since: 0, until: Date.now() }];
    let listed = 0;
    for (const w of windows) {
      for (const [instance, type] of [['cdb-many0001', 'data'], ['cdb-logs0001', 'binlog'], ['cdb-demo0001', 'slowlog']] as const) {
        listed += (await listItems(api, instance, type, { ...w, url: 'internet' })).items.length;
      }
    }
    assert.ok(listed > 150 * windows.length);
    assert.ok(emu.cdb.requests.length >= 4 * windows.length);
    assert.deepEqual(emu.cdb.requests.filter((r) => r.errorCode !== undefined), []);
  });
});
