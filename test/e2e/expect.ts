// What the end-to-end tests of `cdb2cos run` expect of an emulator item once copied: its object key,
// its origin metadata, its log events; and the emulator set-up every test of the run shares.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { formatCdbTime, startEmulator, type Emulator, type EmulatorInstanceSpec, type EmulatorItem } from '@cdb2cos/emulator';
import { assertLanded, assertNoLeaks, readLog, readLogText, recordSignedUrls, runCli, type CliResult, type LogEvent } from '../helpers/harness.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const DEFAULT_PART = 16 * MiB;

/** COS operations that write: none may happen on a run that has nothing to copy. */
export const COS_WRITES = new Set(['PutObject', 'InitiateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload', 'DeleteObject']);

/** The item's date as CDB lists it and the tool keys it: BinlogStartTime for binlogs, the day for slow logs. */
export function cdbDateOf(item: EmulatorItem): string {
  if (item.type === 'binlog') return formatCdbTime(item.binlogStartTime!);
  if (item.type === 'slowlog') return formatCdbTime(item.time).slice(0, 10);
  return formatCdbTime(item.time);
}

/** The default key template: {instance}/{type}/{date}/{name}. */
export function keyOf(item: EmulatorItem, prefix = ''): string {
  return `${prefix}${item.instance}/${item.type}/${cdbDateOf(item).slice(0, 10)}/${item.name}`;
}

/** A run's emulator (its own temp dataDir, closed and removed when the test ends) and its config. */
export interface RunFixture {
  emu: Emulator;
  config: string;
  logDir: string;
  stagingDir: string;
  /** Every download URL signed so far. */
  signedUrls: string[];
  /** Runs `cdb2cos run --config <config> ...args`, then checks that nothing secret leaked anywhere. */
  run(args?: string[], opts?: { config?: string; logDir?: string; env?: Record<string, string>; cwd?: string; secrets?: string[] }): Promise<CliResult & { events: LogEvent[]; logText: string }>;
}

export async function runFixture(
  t: { after: (fn: () => Promise<void>) => void },
  instances: EmulatorInstanceSpec[],
  config: Record<string, Record<string, string | number | boolean | readonly string[] | undefined>> = {},
): Promise<RunFixture> {
  const emu = await startEmulator({ instances });
  t.after(() => emu.close());
  const signedUrls = recordSignedUrls(emu);
  const configPath = await emu.writeConfig(join(emu.info.dataDir, 'cdb2cos.ini'), config);
  const logDir = join(emu.info.dataDir, 'logs');
  const stagingDir = join(emu.info.dataDir, 'staging');
  return {
    emu,
    config: configPath,
    logDir,
    stagingDir,
    signedUrls,
    async run(args = [], opts = {}) {
      const logs = opts.logDir ?? logDir;
      const before = await readLogText(logs);
      const res = await runCli(['run', '--config', opts.config ?? configPath, ...args], { ...(opts.env ? { env: opts.env } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) });
      const logText = (await readLogText(logs)).slice(before.length);
      const events = (await readLog(logs)).slice(before.split('\n').filter((l) => l.trim() !== '').length);
      assertNoLeaks({ stdout: res.stdout, stderr: res.stderr, log: logText }, [emu.info.secretKey, ...(opts.secrets ?? [])], signedUrls);
      return { ...res, events, logText };
    },
  };
}

/** Asserts the run ended with `code`, showing its output when it did not. */
export function assertExit(res: CliResult, code: number): void {
  assert.equal(res.code, code, `exit code ${res.code} (want ${code})\nstdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
}

/** Asserts the item landed byte for byte under its key, with its origin metadata and storage class. */
export async function assertCopied(emu: Emulator, item: EmulatorItem, opts: { storageClass?: string; partSize?: number; prefix?: string } = {}): Promise<void> {
  const key = keyOf(item, opts.prefix);
  await assertLanded(emu, item.instance, item.type, item.name, key);
  const obj = emu.cos.objects(emu.info.bucket).find((o) => o.key === key)!;
  assert.equal(obj.storageClass, opts.storageClass ?? 'STANDARD', `storage class of ${key}`);
  const partSize = opts.partSize ?? DEFAULT_PART;
  assert.equal(obj.segments, Math.max(1, Math.ceil(item.size / partSize)), `parts of ${key}`);
  const expected = emu.expectedContent(item.instance, item.type, item.name);
  const m = obj.meta;
  assert.equal(m['x-cos-meta-cdb2cos-instance'], item.instance, `instance metadata of ${key}`);
  assert.equal(m['x-cos-meta-cdb2cos-type'], item.type, `type metadata of ${key}`);
  assert.equal(m['x-cos-meta-cdb2cos-backup-id'], item.type === 'data' ? String(item.backupId) : encodeURIComponent(item.name), `backup id metadata of ${key}`);
  assert.equal(decodeURIComponent(m['x-cos-meta-cdb2cos-backup-date'] ?? ''), cdbDateOf(item), `backup date metadata of ${key}`);
  assert.equal(m['x-cos-meta-cdb2cos-size'], String(item.size), `size metadata of ${key}`);
  // CDB reports an MD5 for data backups only (and not always): the object carries it when CDB gave it.
  assert.equal(m['x-cos-meta-cdb2cos-md5'], item.md5 ? await expected.md5() : undefined, `MD5 metadata of ${key}`);
  // A single PUT knows the CRC64 up front; a multipart upload starts before it does (the manifest keeps it).
  const crc = m['x-cos-meta-cdb2cos-crc64'];
  if (obj.segments === 1) assert.equal(crc, (await expected.crc64()).toString(), `CRC64 metadata of ${key}`);
  else assert.ok(crc === undefined || crc === obj.crc64, `CRC64 metadata of ${key}`);
}

/** Asserts the log tells the story of a copied item: downloaded, uploaded, verified, with its bytes. */
export function assertCopyEvents(events: readonly LogEvent[], item: EmulatorItem, prefix = ''): void {
  const key = keyOf(item, prefix);
  for (const msg of ['downloaded', 'uploaded', 'verified']) {
    const e = events.filter((x) => x.msg === msg && x['key'] === key);
    assert.equal(e.length, 1, `one "${msg}" event for ${key}`);
    assert.equal(e[0]!['bytes'], item.size, `bytes of "${msg}" for ${key}`);
  }
  const v = events.find((x) => x.msg === 'verified' && x['key'] === key)!;
  assert.equal(v['instance'], item.instance);
  assert.equal(v['type'], item.type);
  assert.equal(v['name'], item.name);
}

/** The run's one "finished" event. */
export function finished(events: readonly LogEvent[]): LogEvent {
  const f = events.filter((e) => e.msg === 'finished');
  assert.equal(f.length, 1, 'one "finished" event');
  return f[0]!;
}
