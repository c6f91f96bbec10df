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
import type { KnownObject } from '../plan.js';
import type { CosApi } from './client.js';
import { Cdb2cosError } from '../errors.js';

export interface ManifestEntry {
  size: number;
  etag: string;
  crc64: string;
  md5?: string | undefined;
  id: string;
  copiedAt: string;
}

interface ManifestFile {
  version: 1;
  instance: string;
  objects: Record<string, ManifestEntry>;
}

/** What a write needs besides COS: a pause and a source of jitter (tests pass their own). */
export interface ManifestDeps {
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
}

/** Write, read back, and if our entries are missing merge and write again: at most this many writes. */
export const MANIFEST_WRITE_ATTEMPTS = 6;
/** Pause before the read-back, and the base of the jittered pause between attempts. */
export const MANIFEST_SETTLE_MS = 100;

export function manifestKey(prefix: string, instance: string): string {
  return `${prefix}.cdb2cos/manifest-${instance}.json`;
}

/** Parses a manifest's text; undefined when it is not one. Entries without a CRC64 or size are dropped. */
export function parseManifest(text: string): Map<string, ManifestEntry> | undefined {
  let parsed: ManifestFile;
  try {
    parsed = JSON.parse(text) as ManifestFile;
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const out = new Map<string, ManifestEntry>();
  for (const [k, v] of Object.entries(parsed.objects ?? {})) {
    if (typeof v?.crc64 === 'string' && typeof v.size === 'number') out.set(k, v);
  }
  return out;
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

/** True when `have` holds every entry of `want`, or a later copy of the same key. */
export function holdsAll(have: ReadonlyMap<string, ManifestEntry>, want: ReadonlyMap<string, ManifestEntry>): boolean {
  for (const [k, v] of want) {
    const got = have.get(k);
    if (got === undefined || copiedAtMs(got) < copiedAtMs(v)) return false;
    if (copiedAtMs(got) === copiedAtMs(v) && (got.etag !== v.etag || got.crc64 !== v.crc64)) return false;
  }
  return true;
}

function copiedAtMs(e: ManifestEntry): number {
  const t = Date.parse(e.copiedAt);
  return Number.isFinite(t) ? t : 0;
}

export class Manifest {
  private entries = new Map<string, ManifestEntry>();
  /** Entries recorded by this run: what each write must find in the read-back. */
  private readonly mine = new Map<string, ManifestEntry>();
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly cos: CosApi,
    private readonly deps: ManifestDeps,
    readonly key: string,
    readonly instance: string,
  ) {}

  /** Loads the manifest; a missing or unreadable one starts empty (its objects get checked by HEAD). */
  static async load(cos: CosApi, prefix: string, instance: string, deps: ManifestDeps): Promise<{ manifest: Manifest; warning?: string }> {
    const m = new Manifest(cos, deps, manifestKey(prefix, instance), instance);
    const text = await cos.getObjectText(m.key);
    if (text === undefined) return { manifest: m };
    const entries = parseManifest(text);
    if (entries === undefined) return { manifest: m, warning: `manifest ${m.key} is not valid JSON; objects will be checked one by one` };
    m.entries = entries;
    return { manifest: m };
  }

  known(): Map<string, KnownObject> {
    const out = new Map<string, KnownObject>();
    for (const [k, v] of this.entries) out.set(k, { size: v.size, etag: v.etag, crc64: v.crc64, md5: v.md5, verified: true });
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

  private async read(): Promise<Map<string, ManifestEntry>> {
    const text = await this.cos.getObjectText(this.key);
    // Not JSON (a torn or foreign object): nothing of it can be kept; our merge replaces it.
    return text === undefined ? new Map() : (parseManifest(text) ?? new Map());
  }

  private async mergeAndWrite(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const merged = mergeEntries(this.entries, await this.read());
      const file: ManifestFile = { version: 1, instance: this.instance, objects: Object.fromEntries([...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
      const body = Buffer.from(JSON.stringify(file));
      await this.cos.putObject(this.key, body, body.length, { 'Content-Type': 'application/json' });
      this.entries = merged;
      await this.deps.sleep(MANIFEST_SETTLE_MS * (1 + this.deps.random()));
      const back = await this.read();
      this.entries = mergeEntries(this.entries, back);
      if (holdsAll(back, this.mine)) return;
      if (attempt >= MANIFEST_WRITE_ATTEMPTS) {
        throw new Cdb2cosError('ERR_SERVER', `manifest ${this.key}: other writers kept replacing it; ${attempt} merged writes did not stick`, { retryable: true });
      }
      // Full jitter, growing: two writers that collided are unlikely to collide again.
      await this.deps.sleep(MANIFEST_SETTLE_MS * 2 ** attempt * this.deps.random());
    }
  }
}
