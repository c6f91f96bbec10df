// A bucket listing gives Key, Size and ETag but no metadata. To decide "already copied and verified"
// for thousands of binlogs without one HEAD each, every verified copy is also recorded in a small JSON
// object per instance. It is a cache, cross-checked against the listing: an entry counts only while the
// listing shows an object with the same size and ETag.
//
// Several jobs may write one instance's manifest at once (a data-backup job and a binlog job with their
// own configs, or sharded runs on several hosts). A write therefore never replaces what another writer
// recorded: it re-reads the manifest, merges (the union by key; for one key the later copiedAt wins),
// writes, and reads it back to check that this run's entries are there. COS documents no If-Match
// precondition on PutObject that could make the write conditional, so a lost update is caught after the
// fact: a read-back that lacks an entry of ours (another writer's merge, based on an older read, landed
// after ours) merges and writes again, after a jittered pause, a bounded number of times. The read-back
// waits a little first, so that a writer that read before our write has had time to land its write.
//
// Deletions (`cdb2cos prune`) travel the same way, as tombstones in a `deleted` map beside `objects`: a
// tombstone names the copiedAt of the entry it removes, so a merge with a writer that still holds the
// old entry does not bring it back, while a copy made again later (a newer copiedAt) wins over it. A
// tombstone is written before its object is deleted ("deleting"), gets `deletedAt` once the DeleteObject
// succeeded, and is dropped TOMBSTONE_KEEP_MS later. The format stays `version: 1`: a reader that knows
// only `objects` reads such a file correctly, since a removed entry is no longer under `objects`.
import type { KnownObject } from '../plan.js';
import type { Destination } from '../destinations/destination.js';

/** What a manifest needs of its destination. */
export type ManifestStore = Pick<Destination, 'getObjectText' | 'putText'>;
import { Cdb2cosError } from '../errors.js';

export interface ManifestEntry {
  size: number;
  etag: string;
  crc64: string;
  md5?: string | undefined;
  id: string;
  copiedAt: string;
  /** data, binlog or slowlog (entries written before retention existed lack it). */
  type?: string | undefined;
  /** ISO 8601: the item's time as CDB gave it (its Date, BinlogStartTime or slow-log day). */
  time?: string | undefined;
  /** URL items and local files: the validator of the version copied (added with issue 10; older entries lack it). */
  validator?: string | undefined;
}

/** A deletion by prune (see the top of this file). */
export interface Tombstone {
  /** copiedAt of the entry it removes: an entry copied later than this is a new copy and wins. */
  copiedAt: string;
  size: number;
  etag: string;
  /** Why retention let it go: data-age, binlog-age, slowlog-age. */
  reason: string;
  markedAt: string;
  /** Set once DeleteObject succeeded; until then a rerun of prune deletes the object again. */
  deletedAt?: string | undefined;
}

interface ManifestFile {
  version: 1;
  instance: string;
  objects: Record<string, ManifestEntry>;
  deleted?: Record<string, Tombstone>;
}

/** What a manifest holds: live entries, and tombstones of deleted ones. */
export interface ManifestState {
  entries: Map<string, ManifestEntry>;
  tombs: Map<string, Tombstone>;
}

/** What a write needs besides COS: a pause and a source of jitter (tests pass their own). */
export interface ManifestDeps {
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  /** For dropping old tombstones; without it they are kept. */
  now?: () => number;
}

/** A tombstone is kept this long after its object was deleted, for writers that still hold the entry. */
export const TOMBSTONE_KEEP_MS = 90 * 86_400_000;

/** Write, read back, and if our entries are missing merge and write again: at most this many writes. */
export const MANIFEST_WRITE_ATTEMPTS = 6;
/** Pause before the read-back, and the base of the jittered pause between attempts. */
export const MANIFEST_SETTLE_MS = 100;

export function manifestKey(prefix: string, instance: string): string {
  return `${prefix}.cdb2cos/manifest-${instance}.json`;
}

/** Parses a manifest's text; undefined when it is not one. Entries without a CRC64 or size are dropped. */
export function parseManifest(text: string): Map<string, ManifestEntry> | undefined {
  return parseManifestState(text)?.entries;
}

/** Parses a manifest's entries and tombstones, settled (see settle); undefined when it is not a manifest. */
export function parseManifestState(text: string): ManifestState | undefined {
  let parsed: ManifestFile;
  try {
    parsed = JSON.parse(text) as ManifestFile;
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const entries = new Map<string, ManifestEntry>();
  for (const [k, v] of Object.entries(parsed.objects ?? {})) {
    if (typeof v?.crc64 === 'string' && typeof v.size === 'number') entries.set(k, v);
  }
  const tombs = new Map<string, Tombstone>();
  const deleted: unknown = parsed.deleted;
  if (deleted !== null && typeof deleted === 'object') {
    for (const [k, v] of Object.entries(deleted as Record<string, Tombstone>)) {
      if (typeof v?.copiedAt === 'string' && typeof v.markedAt === 'string' && typeof v.size === 'number') tombs.set(k, v);
    }
  }
  return settle({ entries, tombs });
}

/**
 * Pure: applies tombstones. An entry copied no later than its key's tombstone is gone; a tombstone older
 * than its key's entry (the object was copied again) is void. With `now`, tombstones whose deletion is
 * older than TOMBSTONE_KEEP_MS are dropped.
 */
export function settle(state: ManifestState, now?: number): ManifestState {
  const entries = new Map(state.entries);
  const tombs = new Map(state.tombs);
  for (const [k, t] of state.tombs) {
    const e = entries.get(k);
    if (e !== undefined && msOf(e.copiedAt) > msOf(t.copiedAt)) tombs.delete(k);
    else entries.delete(k);
    if (now !== undefined && t.deletedAt !== undefined && now - msOf(t.deletedAt) > TOMBSTONE_KEEP_MS) tombs.delete(k);
  }
  return { entries, tombs };
}

/** Pure: for one key, the tombstone of the later copy wins; for the same copy, the one with the deletion done. */
export function mergeTombs(a: ReadonlyMap<string, Tombstone>, b: ReadonlyMap<string, Tombstone>): Map<string, Tombstone> {
  const out = new Map(a);
  for (const [k, v] of b) {
    const cur = out.get(k);
    if (cur === undefined || tombRank(v) > tombRank(cur)) out.set(k, v);
  }
  return out;
}

function tombRank(t: Tombstone): number {
  // copiedAt first (ms), then deleted over deleting.
  return msOf(t.copiedAt) * 2 + (t.deletedAt !== undefined ? 1 : 0);
}

/** Pure: the merge of two manifests' states (entries, tombstones), settled. */
export function mergeStates(a: ManifestState, b: ManifestState, now?: number): ManifestState {
  return settle({ entries: mergeEntries(a.entries, b.entries), tombs: mergeTombs(a.tombs, b.tombs) }, now);
}

/** Pure: the union of two manifests by key; for a key in both, the entry copied later wins (ties: `a`). */
export function mergeEntries(a: ReadonlyMap<string, ManifestEntry>, b: ReadonlyMap<string, ManifestEntry>): Map<string, ManifestEntry> {
  const out = new Map(a);
  for (const [k, v] of b) {
    const cur = out.get(k);
    if (cur === undefined || copiedAtMs(v) > copiedAtMs(cur)) out.set(k, v);
  }
  return out;
}

/**
 * True when `have` holds every entry of `want`, or a later copy of the same key, or (given `tombs`) a
 * tombstone that removed it: a concurrent prune's deletion is not a lost update.
 */
export function holdsAll(have: ReadonlyMap<string, ManifestEntry>, want: ReadonlyMap<string, ManifestEntry>, tombs?: ReadonlyMap<string, Tombstone>): boolean {
  for (const [k, v] of want) {
    const gone = tombs?.get(k);
    if (gone !== undefined && msOf(gone.copiedAt) >= copiedAtMs(v)) continue;
    const got = have.get(k);
    if (got === undefined || copiedAtMs(got) < copiedAtMs(v)) return false;
    if (copiedAtMs(got) === copiedAtMs(v) && (got.etag !== v.etag || got.crc64 !== v.crc64)) return false;
  }
  return true;
}

/** True when `have` holds every tombstone of `want` (or a later one, or a copy made again since). */
export function holdsAllTombs(have: ManifestState, want: ReadonlyMap<string, Tombstone>): boolean {
  for (const [k, v] of want) {
    const e = have.entries.get(k);
    if (e !== undefined && copiedAtMs(e) > msOf(v.copiedAt)) continue;
    const got = have.tombs.get(k);
    if (got === undefined || tombRank(got) < tombRank(v)) return false;
  }
  return true;
}

function copiedAtMs(e: ManifestEntry): number {
  return msOf(e.copiedAt);
}

function msOf(iso: string): number {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : 0;
}

export class Manifest {
  private entries = new Map<string, ManifestEntry>();
  private tombs = new Map<string, Tombstone>();
  /** Entries recorded by this run: what each write must find in the read-back. */
  private readonly mine = new Map<string, ManifestEntry>();
  /** Tombstones written by this run (prune): likewise. */
  private readonly mineTombs = new Map<string, Tombstone>();
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly cos: ManifestStore,
    private readonly deps: ManifestDeps,
    readonly key: string,
    readonly instance: string,
  ) {}

  /** Loads the manifest; a missing or unreadable one starts empty (its objects get checked by HEAD). */
  static async load(cos: ManifestStore, prefix: string, instance: string, deps: ManifestDeps): Promise<{ manifest: Manifest; warning?: string }> {
    const m = new Manifest(cos, deps, manifestKey(prefix, instance), instance);
    const text = await cos.getObjectText(m.key);
    if (text === undefined) return { manifest: m };
    const state = parseManifestState(text);
    if (state === undefined) return { manifest: m, warning: `manifest ${m.key} is not valid JSON; objects will be checked one by one` };
    m.entries = state.entries;
    m.tombs = state.tombs;
    return { manifest: m };
  }

  /** The live entries (for prune). */
  recorded(): ReadonlyMap<string, ManifestEntry> {
    return this.entries;
  }

  /** Tombstones, deleting and deleted (for prune). */
  tombstones(): ReadonlyMap<string, Tombstone> {
    return this.tombs;
  }

  /** Marks an entry as being deleted: it leaves `objects`, a tombstone takes its place. */
  markDeleting(key: string, reason: string, at: number): Tombstone | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    const t: Tombstone = { copiedAt: e.copiedAt, size: e.size, etag: e.etag, reason, markedAt: new Date(at).toISOString() };
    this.entries.delete(key);
    this.tombs.set(key, t);
    this.mineTombs.set(key, t);
    this.dirty = true;
    return t;
  }

  /** Records that the tombstone's object was deleted. */
  markDeleted(key: string, at: number): void {
    const t = this.tombs.get(key);
    if (t === undefined) return;
    const done: Tombstone = { ...t, deletedAt: new Date(at).toISOString() };
    this.tombs.set(key, done);
    this.mineTombs.set(key, done);
    this.dirty = true;
  }

  known(): Map<string, KnownObject> {
    const out = new Map<string, KnownObject>();
    for (const [k, v] of this.entries) out.set(k, { size: v.size, etag: v.etag, crc64: v.crc64, md5: v.md5, verified: true, validator: v.validator });
    return out;
  }

  record(key: string, entry: ManifestEntry): void {
    this.entries.set(key, entry);
    this.mine.set(key, entry);
    this.dirty = true;
  }

  get pending(): boolean {
    return this.dirty;
  }

  /** Merges this run's entries into the manifest in COS (see the top of this file); writes are serialised. */
  flush(): Promise<void> {
    const next = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        await this.mergeAndWrite();
      } catch (err) {
        this.dirty = true;
        throw err;
      }
    });
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async read(): Promise<ManifestState> {
    const text = await this.cos.getObjectText(this.key);
    // Not JSON (a torn or foreign object): nothing of it can be kept; our merge replaces it.
    return (text === undefined ? undefined : parseManifestState(text)) ?? { entries: new Map(), tombs: new Map() };
  }

  private async mergeAndWrite(): Promise<void> {
    const sorted = <T>(m: Map<string, T>): Record<string, T> => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    for (let attempt = 1; ; attempt++) {
      const merged = mergeStates({ entries: this.entries, tombs: this.tombs }, await this.read(), this.deps.now?.());
      const file: ManifestFile = { version: 1, instance: this.instance, objects: sorted(merged.entries) };
      if (merged.tombs.size > 0) file.deleted = sorted(merged.tombs);
      await this.cos.putText(this.key, JSON.stringify(file));
      this.entries = merged.entries;
      this.tombs = merged.tombs;
      await this.deps.sleep(MANIFEST_SETTLE_MS * (1 + this.deps.random()));
      const back = await this.read();
      const now = mergeStates({ entries: this.entries, tombs: this.tombs }, back);
      this.entries = now.entries;
      this.tombs = now.tombs;
      if (holdsAll(back.entries, this.mine, back.tombs) && holdsAllTombs(back, this.mineTombs)) return;
      if (attempt >= MANIFEST_WRITE_ATTEMPTS) {
        throw new Cdb2cosError('ERR_SERVER', `manifest ${this.key}: other writers kept replacing it; ${attempt} merged writes did not stick`, { retryable: true });
      }
      // Full jitter, growing: two writers that collided are unlikely to collide again.
      await this.deps.sleep(MANIFEST_SETTLE_MS * 2 ** attempt * this.deps.random());
    }
  }
}
