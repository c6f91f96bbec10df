// The emulated CDB's instances and their backups, binlogs and slow logs: what the CDB API lists and
// the download server serves. Times are epoch ms; CDB shows them in UTC+8.
import { createHash } from 'node:crypto';

export type EmulatorItemType = 'data' | 'binlog' | 'slowlog';
export const EMULATOR_ITEM_TYPES: readonly EmulatorItemType[] = ['data', 'binlog', 'slowlog'];

/** What a test or the control API asks for; everything but type and size has a default. */
export interface EmulatorItemSpec {
  type: EmulatorItemType;
  /** File name; default like CDB's (cdb-xxx_backup_20240101020000.xb, mysql-bin.000001, slow_query_2024-01-01.log). */
  name?: string;
  /** Bytes. */
  size: number;
  /** When the backup was taken / the file stored: a Date, epoch ms, ISO 8601, or "YYYY-MM-DD HH:mm:ss" (UTC+8). */
  date?: Date | number | string;
  /** Alternative to `date`: this many minutes before the emulator's now(). */
  minutesAgo?: number;
  /** Default SUCCESS (data), FINISHED (binlog, as the official example shows), SUCCESS (slowlog). */
  status?: string;
  /** 0 regular (default), 1 archive (listed, not downloadable), 2 standard (intranet only). */
  cosStorageType?: number;
  /**
   * Data backups only: report an MD5 (default true); false → no MD5 field, as CDB sometimes does;
   * a hex string → report that MD5 instead of the content's (a source whose checksum is wrong).
   */
  md5?: boolean | string;
  /** Data backups only: default from a counter. */
  backupId?: number;
  /** Data backups: "physical" (default) or "logical". */
  backupType?: 'physical' | 'logical';
  /** Data backups: "automatic" (default) or "manual". */
  way?: 'automatic' | 'manual';
  method?: 'full' | 'partial';
  manualBackupName?: string;
  /** Data backups: EncryptionFlag "on". */
  encrypted?: boolean;
  /** Binlogs: first event's time; default the previous binlog's finish time, else an hour before `date`. */
  binlogStartTime?: Date | number | string;
  /** Seed of the content; default derived from instance, type and name. */
  seed?: string;
  /**
   * The size the CDB API lists when it differs from the bytes the download URL serves (`size`): a
   * source whose listing is wrong. A reported MD5 is then that of the first `listedSize` bytes.
   */
  listedSize?: number;
  /** Serve this byte of the content flipped, while the CRC-64 header and the MD5 stay the true content's: corruption at the source. */
  corruptAt?: number;
  /** List the item with both InternetUrl and IntranetUrl empty. */
  noUrl?: boolean;
  /** Serve it without x-cos-hash-crc64ecma: a source that gives no CRC-64 (the copy must check CDB's MD5). */
  noCrc64?: boolean;
}

export interface EmulatorItem {
  instance: string;
  region: string;
  type: EmulatorItemType;
  name: string;
  size: number;
  /** Date as CDB lists it (snapshot time for data backups, storage time for binlogs). */
  time: number;
  status: string;
  cosStorageType: number;
  /** true: the content's MD5; a string: that (possibly wrong) MD5; false: none. */
  md5: boolean | string;
  backupId: number | undefined;
  backupType: 'physical' | 'logical';
  way: 'automatic' | 'manual';
  method: 'full' | 'partial';
  manualBackupName: string;
  encrypted: boolean;
  startTime: number;
  finishTime: number;
  binlogStartTime: number | undefined;
  binlogFinishTime: number | undefined;
  /** 0..100 */
  progress: number;
  seed: string;
  /** instance/type/name: unique, and the download URL's path. */
  key: string;
  /** Bytes the download URL serves when they differ from the listed `size` (see EmulatorItemSpec.listedSize). */
  contentSize?: number | undefined;
  /** See EmulatorItemSpec.corruptAt. */
  corruptAt?: number | undefined;
  /** See EmulatorItemSpec.noUrl. */
  noUrl?: boolean | undefined;
  /** See EmulatorItemSpec.noCrc64. */
  noCrc64?: boolean | undefined;
}

/** The bytes an item's download URL serves (its listed size unless the listing is wrong on purpose). */
export function servedSize(item: EmulatorItem): number {
  return item.contentSize ?? item.size;
}

export interface EmulatorInstance {
  id: string;
  region: string;
  /** InstanceName; default the id. */
  name: string;
  /** TagList: key → value. */
  tags: Map<string, string>;
  /** InstanceType: 1 primary (default), 2 disaster recovery, 3 read-only. */
  instanceType: 1 | 2 | 3;
  /** Status: 0 creating, 1 running (default), 4 being isolated, 5 isolated. */
  status: 0 | 1 | 4 | 5;
}

/** What an instance may be created with besides its id and region. */
export interface EmulatorInstanceAttributes {
  name?: string;
  tags?: Record<string, string>;
  instanceType?: 1 | 2 | 3;
  status?: 0 | 1 | 4 | 5;
}

/** Checks attributes from a test or the control API; throws RangeError naming the bad one. */
export function checkInstanceAttributes(a: EmulatorInstanceAttributes): void {
  if (a.name !== undefined && (typeof a.name !== 'string' || a.name === '')) throw new RangeError('instance name must be a non-empty string');
  if (a.tags !== undefined) {
    if (a.tags === null || typeof a.tags !== 'object' || Array.isArray(a.tags)) throw new RangeError('tags must be an object of key → value');
    for (const [k, v] of Object.entries(a.tags)) if (k === '' || typeof v !== 'string') throw new RangeError(`tag ${JSON.stringify(k)} must have a non-empty key and a string value`);
  }
  if (a.instanceType !== undefined && ![1, 2, 3].includes(a.instanceType)) throw new RangeError('instanceType must be 1, 2 or 3');
  if (a.status !== undefined && ![0, 1, 4, 5].includes(a.status)) throw new RangeError('status must be 0, 1, 4 or 5');
}

const UTC8_MS = 8 * 3600_000;

/** "YYYY-MM-DD HH:mm:ss" in UTC+8, CDB's clock. */
export function formatCdbTime(ms: number): string {
  return new Date(ms + UTC8_MS).toISOString().slice(0, 19).replace('T', ' ');
}

/** "YYYY-MM-DD" in UTC+8. */
export function formatCdbDate(ms: number): string {
  return formatCdbTime(ms).slice(0, 10);
}

/** Parses "YYYY-MM-DD HH:mm:ss" (or "YYYY-MM-DD") read as UTC+8; undefined when malformed. */
export function parseCdbTime(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2}))?$/.exec(s.trim());
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, se] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(se ?? 0)) - UTC8_MS;
  return Number.isNaN(ms) ? undefined : ms;
}

function toMs(v: Date | number | string, what: string): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number') return v;
  const cdb = parseCdbTime(v);
  if (cdb !== undefined && !v.includes('T')) return cdb;
  const iso = Date.parse(v);
  if (Number.isNaN(iso)) throw new RangeError(`${what}: not a date: ${JSON.stringify(v)}`);
  return iso;
}

const compact = (ms: number): string => formatCdbTime(ms).replace(/[-: ]/g, '');

export class Catalog {
  readonly #instances = new Map<string, EmulatorInstance>();
  readonly #items = new Map<string, EmulatorItem[]>();
  readonly #now: () => number;
  #nextBackupId = 480_000_001;
  #binlogSeq = new Map<string, number>();

  constructor(now: () => number) {
    this.#now = now;
  }

  addInstance(id: string, region: string, attrs: EmulatorInstanceAttributes = {}): EmulatorInstance {
    checkInstanceAttributes(attrs);
    const existing = this.#instances.get(id);
    if (existing !== undefined) {
      if (existing.region !== region) throw new Error(`instance ${id} already exists in ${existing.region}`);
      this.setAttributes(id, attrs);
      return existing;
    }
    const inst: EmulatorInstance = {
      id,
      region,
      name: attrs.name ?? id,
      tags: new Map(Object.entries(attrs.tags ?? {})),
      instanceType: attrs.instanceType ?? 1,
      status: attrs.status ?? 1,
    };
    this.#instances.set(id, inst);
    this.#items.set(id, []);
    return inst;
  }

  /** Changes an instance's name, tags (replaced whole), type or status. */
  setAttributes(id: string, attrs: EmulatorInstanceAttributes): EmulatorInstance {
    checkInstanceAttributes(attrs);
    const inst = this.#instances.get(id);
    if (inst === undefined) throw new Error(`unknown instance ${id}`);
    if (attrs.name !== undefined) inst.name = attrs.name;
    if (attrs.tags !== undefined) inst.tags = new Map(Object.entries(attrs.tags));
    if (attrs.instanceType !== undefined) inst.instanceType = attrs.instanceType;
    if (attrs.status !== undefined) inst.status = attrs.status;
    return inst;
  }

  /** Deletes an instance and its items, as when it is destroyed: no longer listed, its URLs answer 404. */
  removeInstance(id: string): void {
    if (!this.#instances.delete(id)) throw new Error(`unknown instance ${id}`);
    this.#items.delete(id);
  }

  instance(id: string): EmulatorInstance | undefined {
    return this.#instances.get(id);
  }

  instances(): EmulatorInstance[] {
    return [...this.#instances.values()];
  }

  /** Adds items to an existing instance; returns them as stored. */
  add(instanceId: string, specs: readonly EmulatorItemSpec[]): EmulatorItem[] {
    const inst = this.#instances.get(instanceId);
    const list = this.#items.get(instanceId);
    if (inst === undefined || list === undefined) throw new Error(`unknown instance ${instanceId}`);
    // Binlogs chain (each starts where the previous one ended), so they are built oldest first;
    // the result keeps the order of `specs`.
    const added: EmulatorItem[] = new Array<EmulatorItem>(specs.length);
    const timed = specs.map((spec, i) => ({ spec, i, time: this.#timeOf(spec) }));
    const binlogsByTime = timed.filter((t) => t.spec.type === 'binlog').sort((a, b) => a.time - b.time);
    // Built on a copy, so a bad spec adds nothing.
    const working = [...list];
    for (const { spec, i, time } of [...timed.filter((t) => t.spec.type !== 'binlog'), ...binlogsByTime]) {
      const item = this.#build(inst, working, spec, time);
      working.push(item);
      added[i] = item;
    }
    this.#items.set(instanceId, working);
    return added;
  }

  /** The instance's items of one type, newest first (CDB's order in practice). */
  list(instanceId: string, type: EmulatorItemType): EmulatorItem[] {
    return (this.#items.get(instanceId) ?? [])
      .filter((i) => i.type === type)
      .sort((a, b) => b.time - a.time || (b.backupId ?? 0) - (a.backupId ?? 0) || (a.name < b.name ? 1 : -1));
  }

  /** Every item, in the order added. */
  all(): EmulatorItem[] {
    return [...this.#items.values()].flat();
  }

  /** Changes an item's status, e.g. a RUNNING backup that finishes (FinishTime and Progress follow). */
  setStatus(instanceId: string, type: string, name: string, status: string, now: number = Date.now()): EmulatorItem {
    const item = this.find(instanceId, type, name);
    if (item === undefined) throw new Error(`no ${type} item ${name} in ${instanceId}`);
    item.status = status;
    if (status === 'SUCCESS' || status === 'FINISHED') {
      item.progress = 100;
      item.finishTime = Math.max(item.startTime, now);
    }
    return item;
  }

  /** Removes an item, as CDB does when a backup expires or is deleted: no longer listed, its URLs answer 404. */
  remove(instanceId: string, type: string, name: string): EmulatorItem {
    const list = this.#items.get(instanceId);
    const item = this.find(instanceId, type, name);
    if (list === undefined || item === undefined) throw new Error(`no ${type} item ${name} in ${instanceId}`);
    list.splice(list.indexOf(item), 1);
    return item;
  }

  /**
   * New bytes under the same name and id (a re-taken backup, a binlog rewritten): a new seed, and a
   * new size when given. The listed size follows the content.
   */
  change(instanceId: string, type: string, name: string, to: { seed?: string; size?: number }): EmulatorItem {
    const item = this.find(instanceId, type, name);
    if (item === undefined) throw new Error(`no ${type} item ${name} in ${instanceId}`);
    if (to.size !== undefined && (!Number.isSafeInteger(to.size) || to.size < 0)) throw new RangeError(`item size must be a whole number of bytes: ${to.size}`);
    if (to.seed !== undefined && (typeof to.seed !== 'string' || to.seed === '')) throw new RangeError('seed must be a non-empty string');
    item.seed = to.seed ?? `${item.seed}-changed`;
    if (to.size !== undefined) {
      item.size = to.size;
      item.contentSize = undefined;
    }
    return item;
  }

  find(instanceId: string, type: string, name: string): EmulatorItem | undefined {
    return this.#items.get(instanceId)?.find((i) => i.type === type && i.name === name);
  }

  #timeOf(spec: EmulatorItemSpec): number {
    if (spec.date !== undefined) return toMs(spec.date, 'date');
    return this.#now() - (spec.minutesAgo ?? 0) * 60_000;
  }

  #build(inst: EmulatorInstance, list: EmulatorItem[], spec: EmulatorItemSpec, time: number): EmulatorItem {
    if (!(spec.type === 'data' || spec.type === 'binlog' || spec.type === 'slowlog')) {
      throw new RangeError(`item type must be data, binlog or slowlog: ${JSON.stringify(spec.type)}`);
    }
    if (!Number.isSafeInteger(spec.size) || spec.size < 0) throw new RangeError(`item size must be a whole number of bytes: ${spec.size}`);
    if (spec.listedSize !== undefined && (!Number.isSafeInteger(spec.listedSize) || spec.listedSize < 0)) throw new RangeError(`listedSize must be a whole number of bytes: ${spec.listedSize}`);
    if (spec.corruptAt !== undefined && (!Number.isSafeInteger(spec.corruptAt) || spec.corruptAt < 0 || spec.corruptAt >= spec.size)) {
      throw new RangeError(`corruptAt must be a byte offset inside the item (0..${spec.size - 1}): ${spec.corruptAt}`);
    }
    if (spec.noUrl !== undefined && typeof spec.noUrl !== 'boolean') throw new RangeError('noUrl must be true or false');
    const type = spec.type;
    const backupType = spec.backupType ?? 'physical';
    const taken = (name: string): boolean => list.some((i) => i.type === type && i.name === name);
    let name = spec.name;
    if (name === undefined) {
      let base: string;
      if (type === 'data') base = `${inst.id}_backup_${compact(time)}${backupType === 'physical' ? '.xb' : '.sql.gz'}`;
      else if (type === 'binlog') {
        const seq = (this.#binlogSeq.get(inst.id) ?? 0) + 1;
        this.#binlogSeq.set(inst.id, seq);
        base = `mysql-bin.${String(seq).padStart(6, '0')}`;
      } else base = `slow_query_${formatCdbDate(time)}.log`;
      name = base;
      for (let n = 2; taken(name); n++) name = `${base}.${n}`;
    } else if (taken(name)) {
      throw new Error(`${inst.id} already has a ${type} item named ${name}`);
    }
    if (name === '' || name.includes('/')) throw new RangeError(`bad item name ${JSON.stringify(name)}`);

    const status = spec.status ?? (type === 'binlog' ? 'FINISHED' : 'SUCCESS');
    // A backup of N bytes "took" 60 s + N / 50 MB/s.
    const duration = 60_000 + Math.round(spec.size / 50_000);
    let backupId: number | undefined;
    if (type === 'data') {
      backupId = spec.backupId ?? this.#nextBackupId++;
      if (backupId >= this.#nextBackupId) this.#nextBackupId = backupId + 1;
    }
    let binlogStartTime: number | undefined;
    let binlogFinishTime: number | undefined;
    if (type === 'binlog') {
      binlogFinishTime = time;
      if (spec.binlogStartTime !== undefined) binlogStartTime = toMs(spec.binlogStartTime, 'binlogStartTime');
      else {
        const previous = list
          .filter((i) => i.type === 'binlog' && i.binlogFinishTime !== undefined && i.binlogFinishTime <= time)
          .reduce<number | undefined>((acc, i) => Math.max(acc ?? -Infinity, i.binlogFinishTime!), undefined);
        binlogStartTime = previous !== undefined && time - previous < 86_400_000 ? previous : time - 3600_000;
      }
    }
    const running = status === 'RUNNING';
    const key = `${inst.id}/${type}/${name}`;
    return {
      instance: inst.id,
      region: inst.region,
      type,
      name,
      size: spec.listedSize ?? spec.size,
      contentSize: spec.listedSize !== undefined && spec.listedSize !== spec.size ? spec.size : undefined,
      corruptAt: spec.corruptAt,
      noUrl: spec.noUrl,
      noCrc64: spec.noCrc64,
      time,
      status,
      cosStorageType: spec.cosStorageType ?? 0,
      md5: type === 'data' && (spec.md5 ?? true),
      backupId,
      backupType,
      way: spec.way ?? (spec.manualBackupName !== undefined ? 'manual' : 'automatic'),
      method: spec.method ?? 'full',
      manualBackupName: spec.manualBackupName ?? '',
      encrypted: spec.encrypted ?? false,
      startTime: type === 'binlog' ? binlogStartTime! : time,
      finishTime: running ? 0 : type === 'binlog' ? time : time + duration,
      binlogStartTime,
      binlogFinishTime,
      progress: running ? 42 : 100,
      seed: spec.seed ?? createHash('sha256').update(key).digest('hex').slice(0, 32),
      key,
    };
  }
}
