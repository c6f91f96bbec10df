// `cdb2cos verify`: every object the manifests record is checked against its entry, by HEAD (size,
// COS's CRC-64, ETag, the tool's x-cos-meta-cdb2cos-* metadata) and with --deep by reading every byte
// (ranged GETs, streamed through CRC-64 and MD5: nothing is held whole). Then, per instance, the chain of
// binlogs kept is checked for gaps after the oldest kept data backup (src/core/binlog-chain.ts). The
// manifest keeps no binlog times: start times come from each object's backup-date metadata, finish times
// from CDB's current listing where it still lists the binlog.
import { formatCdbTime, listItems, parseCdbTime } from '../cdb/catalog.js';
import type { ObjectHead } from '../cos/client.js';
import { manifestKey, parseManifest, type ManifestEntry } from '../cos/manifest.js';
import { checkBinlogChain, type ChainBinlog, type ChainReport } from '../core/binlog-chain.js';
import { Cdb2cosError, errInfo } from '../errors.js';
import { crc64ToString, newCrc64 } from '../hash/crc64.js';
import { createMd5 } from '../hash/md5.js';
import { renderKey } from '../plan.js';
import { peakRssBytes } from '../run/index.js';
import { BACKUP_TYPES, type BackupType, type CatalogItem } from '../types.js';
import { formatTable, isFatal, type CommandContext } from './context.js';

export interface VerifyOptions {
  /** GET every object and hash every byte. */
  deep: boolean;
}

export interface ObjectResult {
  instance: string;
  key: string;
  type: BackupType | null;
  name: string;
  size: number;
  /** `ok`; `missing` (no such object); `mismatch` (see problems); `error` (it could not be checked). */
  result: 'ok' | 'missing' | 'mismatch' | 'error';
  problems: string[];
  /** True when every byte was read and hashed (--deep). */
  deep: boolean;
  /** Why --deep could not read it (an object in COS's archive storage classes must be restored first). */
  note?: string | undefined;
}

export interface InstanceVerify {
  instance: string;
  manifest: string;
  /** The manifest could not be read or parsed. */
  error?: string | undefined;
  objects: number;
  ok: number;
  missing: number;
  mismatched: number;
  errors: number;
  /** Oldest data backup kept in the bucket (ISO 8601), the chain's anchor. */
  oldestDataBackup: string | null;
  chain: (Omit<ChainReport, 'gaps'> & { gaps: Array<ChainReport['gaps'][number] & { fromTime?: string; toTime?: string }> }) | null;
}

export interface VerifyReport {
  bucket: string;
  checkedAt: string;
  deep: boolean;
  ok: boolean;
  totals: { objects: number; ok: number; missing: number; mismatched: number; errors: number; gaps: number };
  instances: InstanceVerify[];
  objects: ObjectResult[];
}

const CONCURRENCY = 8;
/** Bytes read per GET with --deep: each request stays short, so request_timeout and retries apply per range. */
export const DEEP_RANGE_BYTES = 16 * 1024 * 1024;

const unquote = (etag: string): string => etag.replace(/^"|"$/g, '');

/** Pure: what the HEAD says against the manifest entry; [] when they agree. */
export function headProblems(instance: string, e: ManifestEntry, h: ObjectHead): string[] {
  const p: string[] = [];
  if (h.size !== e.size) p.push(`size: bucket has ${h.size} bytes, manifest ${e.size}`);
  if (unquote(h.etag) !== unquote(e.etag)) p.push(`etag: bucket ${h.etag}, manifest ${e.etag}`);
  if (h.crc64 === undefined) p.push('crc64: COS reports none (x-cos-hash-crc64ecma)');
  else if (h.crc64 !== e.crc64) p.push(`crc64: COS reports ${h.crc64}, manifest ${e.crc64}`);
  const m = h.meta;
  const need = ['instance', 'type', 'backup-id', 'backup-date', 'size'];
  const absent = need.filter((n) => m[`cdb2cos-${n}`] === undefined);
  if (absent.length > 0) p.push(`metadata: no ${absent.map((n) => `x-cos-meta-cdb2cos-${n}`).join(', ')}`);
  if (m['cdb2cos-instance'] !== undefined && m['cdb2cos-instance'] !== instance) p.push(`metadata: instance ${m['cdb2cos-instance']}, manifest of ${instance}`);
  if (m['cdb2cos-type'] !== undefined && !(BACKUP_TYPES as readonly string[]).includes(m['cdb2cos-type'])) p.push(`metadata: type ${m['cdb2cos-type']}`);
  if (m['cdb2cos-size'] !== undefined && m['cdb2cos-size'] !== String(e.size)) p.push(`metadata: size ${m['cdb2cos-size']}, manifest ${e.size}`);
  if (m['cdb2cos-backup-id'] !== undefined && decode(m['cdb2cos-backup-id']) !== e.id) p.push(`metadata: backup id ${m['cdb2cos-backup-id']}, manifest ${e.id}`);
  if (m['cdb2cos-crc64'] !== undefined && m['cdb2cos-crc64'] !== e.crc64) p.push(`metadata: crc64 ${m['cdb2cos-crc64']}, manifest ${e.crc64}`);
  if ((m['cdb2cos-md5'] ?? '') !== (e.md5 ?? '')) p.push(`metadata: md5 ${m['cdb2cos-md5'] ?? 'none'}, manifest ${e.md5 ?? 'none'}`);
  return p;
}

function decode(v: string): string | undefined {
  try {
    return decodeURIComponent(v);
  } catch {
    return undefined;
  }
}

export async function verifyBucket(ctx: CommandContext, opts: VerifyOptions): Promise<VerifyReport> {
  const { config, log } = ctx;
  const report: VerifyReport = { bucket: config.cos.bucket, checkedAt: new Date(ctx.now()).toISOString(), deep: opts.deep, ok: true, totals: { objects: 0, ok: 0, missing: 0, mismatched: 0, errors: 0, gaps: 0 }, instances: [], objects: [] };
  await ctx.apiRetry('probe destination', () => ctx.cos.probe());
  for (const instance of ctx.instances) {
    const inst = await verifyInstance(ctx, instance, opts, report.objects);
    report.instances.push(inst);
    report.totals.objects += inst.objects;
    report.totals.ok += inst.ok;
    report.totals.missing += inst.missing;
    report.totals.mismatched += inst.mismatched;
    report.totals.errors += inst.errors + (inst.error !== undefined ? 1 : 0);
    report.totals.gaps += inst.chain?.gaps.length ?? 0;
  }
  report.objects.sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const t = report.totals;
  report.ok = t.missing === 0 && t.mismatched === 0 && t.errors === 0 && t.gaps === 0;
  log.info({ ...t, deep: opts.deep, clean: report.ok, maxRssBytes: peakRssBytes() }, 'verify finished');
  return report;
}

async function verifyInstance(ctx: CommandContext, instance: string, opts: VerifyOptions, results: ObjectResult[]): Promise<InstanceVerify> {
  const { config, log } = ctx;
  const mkey = manifestKey(config.cos.prefix, instance);
  const inst: InstanceVerify = { instance, manifest: mkey, objects: 0, ok: 0, missing: 0, mismatched: 0, errors: 0, oldestDataBackup: null, chain: null };
  let entries: Map<string, ManifestEntry>;
  try {
    const text = await ctx.apiRetry('read manifest', () => ctx.cos.getObjectText(mkey));
    const parsed = text === undefined ? new Map<string, ManifestEntry>() : parseManifest(text);
    if (parsed === undefined) throw new Cdb2cosError('ERR_VERIFY', `manifest ${mkey} is not valid JSON`);
    entries = parsed;
  } catch (err) {
    if (isFatal(err)) throw err;
    inst.error = errInfo(err)['message'] as string;
    log.error({ instance, key: mkey, err: errInfo(err) }, 'verify failed');
    return inst;
  }

  // CDB's binlog listing, for finish times (and names and types of objects whose metadata is gone).
  const listedByKey = new Map<string, CatalogItem>();
  const binlogByName = new Map<string, CatalogItem>();
  try {
    const { items } = await listItems(ctx.cdb, instance, 'binlog', { url: config.cdb.url, call: (fn) => ctx.apiRetry('list binlog', fn) });
    for (const i of items) {
      binlogByName.set(i.name, i);
      try {
        listedByKey.set(renderKey(config.cos.key, config.cos.prefix, i), i);
      } catch {
        // a name no key can hold was never copied
      }
    }
  } catch (err) {
    if (err instanceof Cdb2cosError && err.code === 'ERR_AUTH') throw err;
    // Without it (a key allowed to read the bucket but not CDB, an instance since deleted) the chain is
    // still checked by file number and start time.
    log.warn({ instance, type: 'binlog', err: errInfo(err) }, 'binlog times unavailable');
  }

  const found: Array<{ type: BackupType | null; name: string; key: string; start: number | undefined }> = [];
  const queue = [...entries].sort(([a], [b]) => (a < b ? -1 : 1));
  inst.objects = queue.length;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, queue.length) }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [key, entry] = next;
        const { start, ...r } = await verifyObject(ctx, instance, key, entry, opts, listedByKey.get(key));
        results.push(r);
        inst[r.result === 'ok' ? 'ok' : r.result === 'missing' ? 'missing' : r.result === 'mismatch' ? 'mismatched' : 'errors']++;
        if (r.result !== 'missing' && r.result !== 'error') found.push({ type: r.type, name: r.name, key, start });
      }
    }),
  );

  const dataTimes = found.filter((f) => f.type === 'data' && f.start !== undefined).map((f) => f.start!);
  const oldest = dataTimes.length > 0 ? Math.min(...dataTimes) : undefined;
  inst.oldestDataBackup = oldest === undefined ? null : new Date(oldest).toISOString();
  const binlogs: ChainBinlog[] = found.filter((f) => f.type === 'binlog').map((f) => ({ name: f.name, key: f.key, start: f.start, finish: binlogByName.get(f.name)?.finishTime }));
  if (binlogs.length > 0) {
    const chain = checkBinlogChain(binlogs, { oldestDataBackup: oldest });
    const iso = (t: number | undefined): string | undefined => (t === undefined ? undefined : formatCdbTime(t));
    inst.chain = { ...chain, gaps: chain.gaps.map((g) => ({ ...g, ...(g.from !== undefined ? { fromTime: iso(g.from) } : {}), ...(g.to !== undefined ? { toTime: iso(g.to) } : {}) })) };
    for (const g of inst.chain.gaps) log.error({ instance, kind: g.kind, after: g.after, before: g.before, missing: g.missing, from: g.fromTime, to: g.toTime }, 'binlog gap found');
    log.info({ instance, checked: chain.checked, ignored: chain.ignored, first: chain.first, last: chain.last, gaps: chain.gaps.length }, 'binlog chain checked');
  }
  return inst;
}

async function verifyObject(ctx: CommandContext, instance: string, key: string, e: ManifestEntry, opts: VerifyOptions, listed: CatalogItem | undefined): Promise<ObjectResult & { start?: number | undefined }> {
  const base = { instance, key, size: e.size, deep: false };
  const guessType = (): BackupType | null => (listed?.type as BackupType | undefined) ?? ((BACKUP_TYPES as readonly string[]).find((t) => key.includes(`/${t}/`)) as BackupType | undefined) ?? null;
  const lastSegment = key.slice(key.lastIndexOf('/') + 1);
  let head: ObjectHead | undefined;
  try {
    head = await ctx.apiRetry('head', () => ctx.cos.headObject(key));
  } catch (err) {
    if (isFatal(err)) throw err;
    ctx.log.error({ instance, key, err: errInfo(err) }, 'verify failed');
    return { ...base, type: guessType(), name: listed?.name ?? lastSegment, result: 'error', problems: [`HEAD failed: ${errInfo(err)['message'] as string}`] };
  }
  if (head === undefined) {
    ctx.log.error({ instance, key, problems: ['missing'] }, 'verify failed');
    return { ...base, type: guessType(), name: listed?.name ?? lastSegment, result: 'missing', problems: ['no such object in the bucket'] };
  }
  const metaType = head.meta['cdb2cos-type'];
  const type = metaType !== undefined && (BACKUP_TYPES as readonly string[]).includes(metaType) ? (metaType as BackupType) : guessType();
  const metaId = head.meta['cdb2cos-backup-id'] !== undefined ? decode(head.meta['cdb2cos-backup-id']) : undefined;
  // A binlog's id is its name; a data backup's id is its BackupId, so its name is the key's last segment.
  const name = listed?.name ?? (type === 'binlog' && metaId ? metaId : lastSegment);
  const dateMeta = head.meta['cdb2cos-backup-date'] !== undefined ? decode(head.meta['cdb2cos-backup-date']) : undefined;
  const start = dateMeta !== undefined && Number.isFinite(parseCdbTime(dateMeta)) ? parseCdbTime(dateMeta) : listed?.time;
  const problems = headProblems(instance, e, head);
  let deep = false;
  let note: string | undefined;
  if (opts.deep) {
    try {
      problems.push(...(await deepProblems(ctx, key, e, head.size)));
      deep = true;
    } catch (err) {
      // ARCHIVE and DEEP_ARCHIVE objects are not readable until restored: checked by HEAD only, and said so.
      if (err instanceof Cdb2cosError && err.serviceCode === 'InvalidObjectState') {
        note = 'in an archive storage class: not read (restore it to read it); checked by HEAD only';
      } else {
        if (isFatal(err)) throw err;
      ctx.log.error({ instance, key, err: errInfo(err) }, 'verify failed');
        return { ...base, type, name, start, result: 'error', problems: [...problems, `read failed: ${errInfo(err)['message'] as string}`] };
      }
    }
  }
  if (problems.length > 0) {
    ctx.log.error({ instance, type, name, key, problems, deep, note }, 'verify failed');
    return { ...base, type, name, start, result: 'mismatch', problems, deep, ...(note ? { note } : {}) };
  }
  ctx.log.info({ instance, type, name, key, bytes: e.size, crc64: e.crc64, deep, note }, 'verified object');
  return { ...base, type, name, start, result: 'ok', problems, deep, ...(note ? { note } : {}) };
}

/**
 * Reads the whole object in ranges and hashes every byte as it arrives. A range that fails is not
 * resumed: the bytes of a failed reply may be an error body, so the read starts over with fresh hashers
 * (under the API retry policy). Memory: one stream chunk at a time, whatever the object's size.
 */
async function deepProblems(ctx: CommandContext, key: string, e: ManifestEntry, size: number): Promise<string[]> {
  return ctx.apiRetry('read object', async () => {
    const crc = newCrc64();
    const md5 = e.md5 !== undefined ? createMd5() : undefined;
    let bytes = 0;
    for (let start = 0; start < size; start += DEEP_RANGE_BYTES) {
      const end = Math.min(size, start + DEEP_RANGE_BYTES) - 1;
      const got = await ctx.cos.readObjectRange(key, start, end, (chunk) => {
        crc.update(chunk);
        md5?.update(chunk);
      });
      if (got !== end - start + 1) throw new Cdb2cosError('ERR_NETWORK', `COS GetObject ${key}: range ${start}-${end} gave ${got} bytes`, { retryable: true });
      bytes += got;
    }
    const p: string[] = [];
    const sum = crc64ToString(crc.digest());
    if (sum !== e.crc64) p.push(`bytes: CRC-64 of the ${bytes} bytes read is ${sum}, manifest ${e.crc64}`);
    if (md5 !== undefined && md5.digestHex() !== e.md5) p.push(`bytes: MD5 of the bytes read is ${md5.digestHex()}, manifest ${e.md5}`);
    return p;
  });
}

/** The report for a person: a line per object that failed (and per object with `verbose`), the chain, a summary. */
export function formatVerify(r: VerifyReport, verbose: boolean): string {
  const lines: string[] = [];
  for (const o of [...r.objects].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    if (o.result === 'ok' && !verbose && o.note === undefined) continue;
    lines.push(`${o.result === 'ok' ? 'ok' : o.result.toUpperCase()} ${o.instance} ${o.key}${o.problems.length > 0 ? `: ${o.problems.join('; ')}` : ''}${o.note ? ` (${o.note})` : ''}`);
  }
  let text = lines.length > 0 ? lines.join('\n') + '\n\n' : '';
  const rows: Array<Array<string | number>> = r.instances.map((i) => [
    i.instance,
    i.objects,
    i.ok,
    i.missing,
    i.mismatched,
    i.errors + (i.error !== undefined ? 1 : 0),
    i.chain === null ? '-' : `${i.chain.first ?? '-'} … ${i.chain.last ?? '-'} (${i.chain.checked})`,
    i.chain?.gaps.length ?? 0,
  ]);
  text += formatTable(['INSTANCE', 'OBJECTS', 'OK', 'MISSING', 'MISMATCH', 'ERRORS', 'BINLOG CHAIN', 'GAPS'], rows);
  for (const i of r.instances) {
    if (i.error !== undefined) text += `ERROR ${i.instance}: ${i.error}\n`;
    for (const g of i.chain?.gaps ?? []) {
      const span = g.fromTime !== undefined || g.toTime !== undefined ? ` (${g.fromTime ?? '?'} → ${g.toTime ?? '?'})` : '';
      if (g.kind === 'start') text += `GAP ${i.instance}: the oldest kept data backup (${i.oldestDataBackup}) is older than the first binlog ${g.before}${span}\n`;
      else if (g.kind === 'number') text += `GAP ${i.instance}: between ${g.after} and ${g.before}${g.missing ? `, missing ${g.missing.first}${g.missing.count > 1 ? ` … ${g.missing.last} (${g.missing.count} files)` : ''}` : ', numbers out of order'}${span}\n`;
      else text += `GAP ${i.instance}: ${g.before} starts after ${g.after} finished${span}\n`;
    }
  }
  const t = r.totals;
  text += `\n${r.ok ? 'ok' : 'NOT OK'}: ${t.objects} objects${r.deep ? ' read in full' : ''}, ${t.ok} ok, ${t.missing} missing, ${t.mismatched} mismatched, ${t.errors} errors, ${t.gaps} binlog gaps\n`;
  return text;
}
