// Where an item waits between download and upload, and the small state file beside it that lets the
// next run resume: which parts are on disk (with their MD5 and CRC64), the multipart upload's id, and
// which parts COS already holds.
import { mkdir, readFile, rename, rm, writeFile, readdir, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CatalogItem } from '../types.js';

export interface PartState {
  /** Hex MD5 of the part's bytes as downloaded. */
  md5: string;
  /** Unsigned decimal CRC64 of the part. */
  crc64: string;
}

export interface ItemState {
  version: 1;
  /** What the staged bytes are a copy of; a different fingerprint means the source changed. */
  fingerprint: string;
  key: string;
  size: number;
  partSize: number;
  /** Part number → hashes, for parts fully on disk. */
  downloaded: Record<string, PartState>;
  uploadId?: string | undefined;
  /** Part number → ETag, for parts COS confirmed. */
  uploaded: Record<string, string>;
  /** Set once the object was completed and its CRC64 checked: waiting only for the manifest. */
  verified?: { crc64: string; etag: string } | undefined;
  /** CRC64 the object must have, once known (all parts downloaded). */
  expectedCrc64?: string | undefined;
}

export function fingerprint(item: CatalogItem, sourceTag?: string): string {
  return [item.instance, item.type, item.id, item.name, item.size, item.date, item.md5 ?? '', sourceTag ?? ''].join('|');
}

export function stagedPaths(stagingDir: string, item: Pick<CatalogItem, 'instance' | 'type' | 'id' | 'name'>): { data: string; state: string } {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  const base = item.id === item.name ? safe(item.name) : `${safe(item.id)}-${safe(item.name)}`;
  const data = join(stagingDir, safe(item.instance), item.type, base);
  return { data, state: `${data}.cdb2cos-state.json` };
}

export async function readState(path: string): Promise<ItemState | undefined> {
  try {
    const s = JSON.parse(await readFile(path, 'utf8')) as ItemState;
    return s.version === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Atomic: a crash leaves the old or the new state, never half of one. */
export async function writeState(path: string, state: ItemState): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, path);
}

export async function removeStaged(paths: { data: string; state?: string }): Promise<void> {
  await rm(paths.data, { force: true });
  if (paths.state) await rm(paths.state, { force: true });
}

export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Every state file under the staging dir (for clean-up of verified items whose manifest was written). */
export async function listStateFiles(stagingDir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string, depth: number): Promise<void> {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      if (n.endsWith('.cdb2cos-state.json')) out.push(p);
      else if (depth < 3) {
        try {
          if ((await stat(p)).isDirectory()) await walk(p, depth + 1);
        } catch {
          // vanished meanwhile
        }
      }
    }
  }
  await walk(stagingDir, 0);
  return out;
}
