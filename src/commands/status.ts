// `cdb2cos status`: per instance and type, what CDB lists beside what the bucket holds. It reads only:
// the CDB listings, the bucket listing and the manifests, and with --head one HEAD per object that the
// listing shows with the right size but the manifest does not vouch for. "Already copied" is decided by
// the run's own planCopies (and, with --head, the run's own HEAD rule), never by a rule of its own.
import { formatCdbTime, listItems } from '../cdb/catalog.js';
import { Manifest } from '../cos/manifest.js';
import { verifiedByHead } from '../core/verified-copy.js';
import { Cdb2cosError, errInfo } from '../errors.js';
import { listPrefix, planCopies, type PlannedCopy } from '../plan.js';
import { readState, stagedPaths } from '../transfer/staging.js';
import type { BackupType, CatalogItem } from '../types.js';
import { formatAge, formatTable, isFatal, type CommandContext } from './context.js';

export type ItemState = 'copied' | 'missing' | 'differs' | 'waiting' | 'archived' | 'failed-at-source';

/** Why an item is `differs`: listed with another size; listed with its size but the manifest entry disagrees, or there is none (`unrecorded`); or a HEAD (--head) did not prove it. */
export type DiffersWhy = 'size' | 'manifest' | 'unrecorded' | 'head';

export interface StatusItem {
  name: string;
  key: string;
  size: number;
  /** As CDB lists it (UTC+8). */
  date: string;
  state: Exclude<ItemState, 'copied'>;
  why?: DiffersWhy | undefined;
  /** The source status, for `failed-at-source`. */
  status?: string | undefined;
}

export interface Counts {
  listed: number;
  copied: number;
  missing: number;
  differs: number;
  waiting: number;
  archived: number;
  failedAtSource: number;
}

export interface StatusUnit extends Counts {
  type: BackupType;
  /** The listing (or the manifest, or the bucket listing) failed: nothing of this unit could be judged. */
  error?: string | undefined;
  /** CDB cannot give this type for this instance's edition (slow logs): not a failure. */
  unsupported?: boolean | undefined;
  /** Every item not copied; copied items are only counted. */
  items: StatusItem[];
}

export interface NewestCopy {
  name: string;
  key: string;
  /** As CDB lists it (UTC+8); for a binlog its finish time when listed, else its start time. */
  date: string;
  /** ISO 8601 (UTC). */
  time: string;
  ageSeconds: number;
}

export interface InstanceStatus {
  instance: string;
  units: StatusUnit[];
  newest: { data: NewestCopy | null; binlog: NewestCopy | null };
}

export interface StatusReport {
  bucket: string;
  prefix: string;
  /** ISO 8601. */
  checkedAt: string;
  head: boolean;
  /** Every ready item is copied and every listing answered: exit 0. */
  ok: boolean;
  totals: Counts & { errors: number };
  instances: InstanceStatus[];
}

export interface StatusOptions {
  /** HEAD objects the manifest does not vouch for (as a run would before copying them). */
  head: boolean;
}

const HEAD_CONCURRENCY = 8;

function zero(): Counts {
  return { listed: 0, copied: 0, missing: 0, differs: 0, waiting: 0, archived: 0, failedAtSource: 0 };
}

export async function collectStatus(ctx: CommandContext, opts: StatusOptions): Promise<StatusReport> {
  const { config, log } = ctx;
  const report: StatusReport = { bucket: config.cos.bucket, prefix: config.cos.prefix, checkedAt: new Date(ctx.now()).toISOString(), head: opts.head, ok: true, totals: { ...zero(), errors: 0 }, instances: [] };
  await ctx.apiRetry('probe destination', () => ctx.cos.probe());
  for (const instance of ctx.instances) report.instances.push(await instanceStatus(ctx, instance, opts));
  for (const inst of report.instances) {
    for (const u of inst.units) {
      for (const k of Object.keys(zero()) as Array<keyof Counts>) report.totals[k] += u[k];
      if (u.error !== undefined) report.totals.errors++;
    }
  }
  report.ok = report.totals.missing === 0 && report.totals.differs === 0 && report.totals.errors === 0;
  log.info({ ...report.totals, ok: report.ok, head: opts.head }, 'status reported');
  return report;
}

async function instanceStatus(ctx: CommandContext, instance: string, opts: StatusOptions): Promise<InstanceStatus> {
  const { config, log } = ctx;
  const out: InstanceStatus = { instance, units: [], newest: { data: null, binlog: null } };
  const items: CatalogItem[] = [];
  const units = new Map<BackupType, StatusUnit>();
  for (const type of ctx.types) {
    const unit: StatusUnit = { type, ...zero(), items: [] };
    out.units.push(unit);
    try {
      const { items: listed, pages } = await listItems(ctx.cdb, instance, type, { url: config.cdb.url, call: (fn) => ctx.apiRetry(`list ${type}`, fn) });
      log.info({ instance, type, count: listed.length, pages }, 'listed');
      items.push(...listed);
      unit.listed = listed.length;
      units.set(type, unit);
    } catch (err) {
      if (err instanceof Cdb2cosError && err.code === 'ERR_NOT_FOUND') throw new Cdb2cosError('ERR_CONFIG', `cdb.instances: instance ${instance} not found in region ${config.cdb.region}`, { cause: err });
      if (isFatal(err)) throw err;
      if (type === 'slowlog' && err instanceof Cdb2cosError && err.serviceCode?.startsWith('UnsupportedOperation')) {
        unit.unsupported = true;
        log.warn({ instance, type, err: errInfo(err) }, 'type unsupported');
        continue;
      }
      unit.error = `listing failed: ${errInfo(err)['message'] as string}`;
      log.error({ instance, type, err: errInfo(err) }, 'failed');
    }
  }
  if (units.size === 0) return out;

  let manifest: Manifest;
  let listed: Map<string, { size: number; etag: string }>;
  try {
    const loaded = await ctx.apiRetry('read manifest', () => Manifest.load(ctx.cos, config.cos.prefix, instance, ctx));
    if (loaded.warning) log.warn({ instance }, loaded.warning);
    manifest = loaded.manifest;
    const { objects } = await ctx.apiRetry('list bucket', () => ctx.cos.listObjects(listPrefix(config.cos.key, config.cos.prefix, instance)));
    listed = new Map(objects.map((o) => [o.key, { size: o.size, etag: o.etag }]));
  } catch (err) {
    if (isFatal(err)) throw err;
    for (const u of units.values()) u.error = `bucket or manifest could not be read: ${errInfo(err)['message'] as string}`;
    log.error({ instance, err: errInfo(err) }, 'failed');
    return out;
  }
  const known = manifest.known();
  const plan = planCopies(items, known, listed, { prefix: config.cos.prefix, keyTemplate: config.cos.key });
  const copied: Array<{ item: CatalogItem; key: string }> = [];
  const note = (item: CatalogItem, key: string, state: ItemState, why?: DiffersWhy): void => {
    const unit = units.get(item.type as BackupType)!;
    if (state === 'copied') {
      unit.copied++;
      copied.push({ item, key });
      return;
    }
    unit[state === 'failed-at-source' ? 'failedAtSource' : state]++;
    unit.items.push({ name: item.name, key, size: item.size, date: item.date, state, ...(why ? { why } : {}), ...(state === 'failed-at-source' ? { status: item.status } : {}) });
  };
  for (const s of plan.skip) {
    if (s.reason === 'already-copied') note(s.item, s.key, 'copied');
    else if (s.reason === 'running') note(s.item, s.key, 'waiting');
    else if (s.reason === 'archived') note(s.item, s.key, 'archived');
    else if (s.reason === 'failed-at-source') note(s.item, s.key, 'failed-at-source');
  }
  for (const c of plan.copy) {
    const inBucket = listed.get(c.key);
    if (inBucket !== undefined) note(c.item, c.key, 'differs', 'size');
    else note(c.item, c.key, 'missing');
  }
  // Listed with the item's size, but the manifest does not vouch for it: what a run would HEAD.
  const checks: PlannedCopy[] = [...plan.check];
  if (opts.head) {
    await Promise.all(
      Array.from({ length: Math.min(HEAD_CONCURRENCY, checks.length) }, async () => {
        for (let c = checks.shift(); c; c = checks.shift()) {
          let head;
          try {
            head = await ctx.apiRetry('head', () => ctx.cos.headObject(c.key));
          } catch (err) {
            if (isFatal(err)) throw err;
            const unit = units.get(c.item.type as BackupType)!;
            unit.error ??= `HEAD failed: ${errInfo(err)['message'] as string}`;
            log.error({ instance, type: c.item.type, key: c.key, err: errInfo(err) }, 'failed');
            note(c.item, c.key, 'differs', 'head');
            continue;
          }
          const st = head === undefined ? undefined : await readState(stagedPaths(config.transfer.stagingDir, c.item).state);
          if (verifiedByHead(c.item, head, st?.verified?.crc64 ?? st?.expectedCrc64)) note(c.item, c.key, 'copied');
          else note(c.item, c.key, head === undefined ? 'missing' : 'differs', head === undefined ? undefined : 'head');
        }
      }),
    );
  } else {
    for (const c of checks) note(c.item, c.key, 'differs', known.has(c.key) ? 'manifest' : 'unrecorded');
  }
  for (const u of units.values()) u.items.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.name < b.name ? -1 : 1));

  const now = ctx.now();
  const newest = (type: BackupType): NewestCopy | null => {
    const at = (i: CatalogItem): number => (i.type === 'binlog' ? (i.finishTime ?? i.time) : i.time);
    const best = copied.filter((c) => c.item.type === type && Number.isFinite(at(c.item))).sort((a, b) => at(b.item) - at(a.item))[0];
    if (best === undefined) return null;
    const t = at(best.item);
    return { name: best.item.name, key: best.key, date: formatCdbTime(t), time: new Date(t).toISOString(), ageSeconds: Math.max(0, Math.round((now - t) / 1000)) };
  };
  out.newest = { data: newest('data'), binlog: newest('binlog') };
  return out;
}

/** The report as a person reads it: a table per instance and type, the items not copied, the newest copies. */
export function formatStatus(r: StatusReport): string {
  const rows: Array<Array<string | number>> = [];
  for (const inst of r.instances) {
    for (const u of inst.units) {
      const note = u.error !== undefined ? `error: ${u.error}` : u.unsupported ? 'unsupported by this edition' : '';
      rows.push([inst.instance, u.type, u.listed, u.copied, u.missing, u.differs, u.waiting, u.archived, u.failedAtSource, note]);
    }
  }
  let text = formatTable(['INSTANCE', 'TYPE', 'LISTED', 'COPIED', 'MISSING', 'DIFFERS', 'WAITING', 'ARCHIVED', 'SRC-FAILED', 'NOTE'], rows);
  const lines: string[] = [];
  for (const inst of r.instances) {
    for (const u of inst.units) {
      for (const i of u.items) lines.push(`${i.state}${i.why ? ` (${i.why})` : ''}${i.status ? ` (${i.status})` : ''} ${inst.instance} ${u.type} ${i.name} ${i.date} → ${i.key}`);
    }
  }
  if (lines.length > 0) text += '\n' + lines.join('\n') + '\n';
  const newest: string[] = [];
  for (const inst of r.instances) {
    for (const type of ['data', 'binlog'] as const) {
      const n = inst.newest[type];
      if (n !== null) newest.push(`newest ${type} of ${inst.instance}: ${n.name}, ${n.date} (${formatAge(n.ageSeconds * 1000)} ago)`);
      else if (inst.units.some((u) => u.type === type && u.error === undefined)) newest.push(`newest ${type} of ${inst.instance}: none copied`);
    }
  }
  if (newest.length > 0) text += '\n' + newest.join('\n') + '\n';
  const t = r.totals;
  text += `\n${r.ok ? 'ok' : 'NOT OK'}: ${t.copied} copied, ${t.missing} missing, ${t.differs} differ, ${t.waiting} waiting, ${t.archived} archived, ${t.failedAtSource} failed at source${t.errors > 0 ? `, ${t.errors} listing errors` : ''}\n`;
  return text;
}
