// A bucket listing gives Key, Size and ETag but no metadata. To decide "already copied and verified"
// for thousands of binlogs without one HEAD each, every verified copy is also recorded in a small JSON
// object per instance. It is a cache, cross-checked against the listing: an entry counts only while the
// listing shows an object with the same size and ETag.
import type { KnownObject } from '../plan.js';
import type { CosApi } from './client.js';

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

export function manifestKey(prefix: string, instance: string): string {
  return `${prefix}.cdb2cos/manifest-${instance}.json`;
}

export class Manifest {
  private readonly entries = new Map<string, ManifestEntry>();
  private dirty = false;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly cos: CosApi,
    readonly key: string,
    readonly instance: string,
  ) {}

  /** Loads the manifest; a missing or unreadable one starts empty (its objects get checked by HEAD). */
  static async load(cos: CosApi, prefix: string, instance: string): Promise<{ manifest: Manifest; warning?: string }> {
    const m = new Manifest(cos, manifestKey(prefix, instance), instance);
    const text = await cos.getObjectText(m.key);
    if (text === undefined) return { manifest: m };
    try {
      const parsed = JSON.parse(text) as ManifestFile;
      for (const [k, v] of Object.entries(parsed.objects ?? {})) {
        if (typeof v?.crc64 === 'string' && typeof v.size === 'number') m.entries.set(k, v);
      }
      return { manifest: m };
    } catch {
      return { manifest: m, warning: `manifest ${m.key} is not valid JSON; objects will be checked one by one` };
    }
  }

  known(): Map<string, KnownObject> {
    const out = new Map<string, KnownObject>();
    for (const [k, v] of this.entries) out.set(k, { size: v.size, etag: v.etag, crc64: v.crc64, md5: v.md5, verified: true });
    return out;
  }

  record(key: string, entry: ManifestEntry): void {
    this.entries.set(key, entry);
    this.dirty = true;
  }

  get pending(): boolean {
    return this.dirty;
  }

  /** Writes the manifest if it changed; writes are serialised. */
  flush(): Promise<void> {
    const next = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const file: ManifestFile = { version: 1, instance: this.instance, objects: Object.fromEntries([...this.entries].sort(([a], [b]) => a.localeCompare(b))) };
      const body = Buffer.from(JSON.stringify(file));
      try {
        await this.cos.putObject(this.key, body, body.length, { 'Content-Type': 'application/json' });
      } catch (err) {
        this.dirty = true;
        throw err;
      }
    });
    this.writing = next.catch(() => undefined);
    return next;
  }
}
