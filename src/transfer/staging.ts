// Where an item waits between download and upload, and the small state file beside it that lets the
// next run resume: which parts are on disk (with their CRC64), the multipart upload's id, and which
// parts COS already holds (with the ETags it returned).
import { lstat, mkdir, readFile, rename, rm, writeFile, readdir, stat, statfs } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { CatalogItem } from '../types.js';
import type { UploadState } from './upload.js';

export interface PartState {
  /**
   * Hex MD5 of the part's bytes as downloaded: only for a single-part item whose CDB MD5 is checked,
   * and in state files written by earlier releases. Parts are verified by their CRC-64.
   */
  md5?: string | undefined;
  /** Unsigned decimal CRC64 of the part. */
  crc64: string;
  /** CRC-64/NVME of the part (base64), for a destination that checks it (AWS S3, MinIO). */
  crc64nvme?: string | undefined;
  /**
   * The part's file was removed once every destination held the part (see releasable parts in
   * item-copy.ts): its hashes stand, its bytes are fetched again only if a destination needs them anew.
   */
  released?: true | undefined;
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
  /** Part number → ETag as COS returned it, for parts COS confirmed (its CRC-64 equal to the staged
   * part's): on resume, ListParts must show the same ETag and size for a part to count as uploaded. */
  uploaded: Record<string, string>;
  /** Set once the object was completed and its CRC64 checked: waiting only for the manifest. */
  verified?: { crc64: string; etag: string } | undefined;
  /** The source's whole-object CRC-64 (x-cos-hash-crc64ecma) when it sent one: a resumed copy checks it is unchanged. */
  sourceCrc64?: string | undefined;
  /** CRC64 the object must have, once known (all parts downloaded). */
  expectedCrc64?: string | undefined;
  /** The destination kind owning the top-level key, uploadId, uploaded and verified; absent: `cos` (states before issue 10). */
  dest?: string | undefined;
  /**
   * The uploads to every destination but the first (whose upload is the top-level key, uploadId,
   * uploaded and verified, as releases before issue 10 wrote it), by destination kind.
   */
  others?: Record<string, UploadState> | undefined;
}

/** Every destination's upload is verified: only the manifests remain to be written. */
export function allVerified(st: ItemState): boolean {
  return st.verified !== undefined && Object.values(st.others ?? {}).every((u) => u.verified !== undefined);
}

export function fingerprint(item: CatalogItem, sourceTag?: string): string {
  // The validator (a URL's ETag, a file's size and mtime) tells a new version of the same name and size
  // apart; CDB items have none, so their fingerprints read as before.
  return [item.instance, item.type, item.id, item.name, item.size, item.date, item.md5 ?? '', sourceTag ?? '', ...(item.validator !== undefined ? [item.validator] : [])].join('|');
}

/** Longest staged file name we write, in bytes: NAME_MAX is 255, minus the state suffix and ".tmp". */
const MAX_SEGMENT = 200;
/** Above MAX_SEGMENT the readable head kept before the hash. */
const HASHED_HEAD = 150;
const STATE_SUFFIX = '.cdb2cos-state.json';

/**
 * One path segment for a CDB-given string, injective and confined: every byte outside [A-Za-z0-9._-]
 * (UTF-8) becomes %XX, `%` included, so two different strings never give the same segment; a leading
 * `.` is encoded too, so no segment is `.`, `..` or hidden, and `/`, `\` and NUL never appear. Longer
 * than MAX_SEGMENT: a readable head, `~` (never produced by the encoding) and a SHA-256 of the string.
 */
export function pathSegment(s: string): string {
  return capSegment(encodeSegment(s), `one\0${s}`);
}

function encodeSegment(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) || (c === '.' && out !== '') ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  // A lone "%" is never produced by the encoding above: the empty string's own segment.
  return out === '' ? '%' : out;
}

function capSegment(encoded: string, raw: string): string {
  if (encoded.length <= MAX_SEGMENT) return encoded;
  // Cut the head before a %XX, never inside one, so it stays readable.
  let head = encoded.slice(0, HASHED_HEAD);
  const pct = head.lastIndexOf('%');
  if (pct > HASHED_HEAD - 3) head = head.slice(0, pct);
  return `${head}~${createHash('sha256').update(raw, 'utf8').digest('hex')}`;
}

/**
 * Where an item is staged: <staging>/<instance>/<type>/<id>+<name> (just <name> when the id is the
 * name). Distinct items (instance, type, id, name) always get distinct paths, all inside stagingDir.
 * `data` is one file holding the whole item (a single part, a source without ranges, or a copy staged by
 * a release before parts had files of their own), or a folder holding one file per part (partPath).
 */
export function stagedPaths(stagingDir: string, item: Pick<CatalogItem, 'instance' | 'type' | 'id' | 'name'>): { data: string; state: string } {
  // `+` is never produced by pathSegment: it separates id and name unambiguously.
  const base =
    item.id === item.name
      ? pathSegment(item.name)
      : capSegment(`${encodeSegment(item.id)}+${encodeSegment(item.name)}`, `pair\0${item.id.length}:${item.id}\0${item.name}`);
  const data = join(stagingDir, pathSegment(item.instance), pathSegment(item.type), base);
  return { data, state: `${data}${STATE_SUFFIX}` };
}

/**
 * Where releases before 1.x staged an item: lossy (every character outside [A-Za-z0-9._-] became `_`),
 * so two items could share it. Read only to carry over resume state whose fingerprint proves it is
 * this item's.
 */
export function legacyStagedPaths(stagingDir: string, item: Pick<CatalogItem, 'instance' | 'type' | 'id' | 'name'>): { data: string; state: string } | undefined {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  const base = item.id === item.name ? safe(item.name) : `${safe(item.id)}-${safe(item.name)}`;
  const inst = safe(item.instance);
  // A name of "." or ".." (or an instance) put the legacy path outside its folder: never read it.
  if (['', '.', '..'].includes(base) || ['', '.', '..'].includes(inst)) return undefined;
  const data = join(stagingDir, inst, item.type, base);
  return { data, state: `${data}${STATE_SUFFIX}` };
}

/**
 * Moves an item's resume state from where an earlier release staged it, when that state's fingerprint
 * shows it is this very item's (the old naming was lossy: a state of another item is left alone).
 */
export async function adoptLegacyState(stagingDir: string, item: CatalogItem, fp: string): Promise<void> {
  const now = stagedPaths(stagingDir, item);
  const old = legacyStagedPaths(stagingDir, item);
  if (old === undefined || old.state === now.state) return;
  const state = await readState(old.state);
  if (state?.fingerprint !== fp || (await readState(now.state)) !== undefined) return;
  await mkdir(dirname(now.data), { recursive: true });
  await rename(old.data, now.data).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await rename(old.state, now.state);
}

export async function readState(path: string): Promise<ItemState | undefined> {
  try {
    const s: unknown = JSON.parse(await readFile(path, 'utf8'));
    // A state damaged on disk (or by hand) into valid JSON of another shape is no state: the copy
    // starts afresh instead of failing on it at every run.
    return isItemState(s) ? s : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const optString = (v: unknown): boolean => v === undefined || typeof v === 'string';

function isVerified(v: unknown): boolean {
  return v === undefined || (isRecord(v) && typeof v['crc64'] === 'string' && typeof v['etag'] === 'string');
}

function isUploadState(v: unknown): boolean {
  return (
    isRecord(v) &&
    typeof v['key'] === 'string' &&
    optString(v['uploadId']) &&
    isRecord(v['uploaded']) &&
    Object.values(v['uploaded']).every((e) => typeof e === 'string') &&
    isVerified(v['verified'])
  );
}

function isPartState(v: unknown): boolean {
  return isRecord(v) && typeof v['crc64'] === 'string' && optString(v['md5']) && optString(v['crc64nvme']) && (v['released'] === undefined || v['released'] === true);
}

/** The shape of a resume state, checked field by field (its values are used as they are). */
export function isItemState(v: unknown): v is ItemState {
  return (
    isRecord(v) &&
    v['version'] === 1 &&
    typeof v['fingerprint'] === 'string' &&
    Number.isSafeInteger(v['size']) &&
    Number.isSafeInteger(v['partSize']) &&
    isRecord(v['downloaded']) &&
    Object.values(v['downloaded']).every(isPartState) &&
    isUploadState(v) &&
    optString(v['sourceCrc64']) &&
    optString(v['expectedCrc64']) &&
    optString(v['dest']) &&
    (v['others'] === undefined || (isRecord(v['others']) && Object.values(v['others']).every(isUploadState)))
  );
}

/** Atomic: a crash leaves the old or the new state, never half of one. */
export async function writeState(path: string, state: ItemState): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(state));
  await rename(tmp, path);
}

/** A part's own file, in an item staged part by part: <data>/part-<n>. */
export function partPath(data: string, partNumber: number): string {
  return join(data, `part-${partNumber}`);
}

/** Bytes staged at `data`: the file's size, or the sum of its parts' files. */
export async function stagedBytes(data: string): Promise<number> {
  const s = await lstat(data).catch(() => undefined);
  if (s === undefined) return 0;
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const name of await readdir(data).catch(() => [] as string[])) total += (await lstat(join(data, name)).catch(() => undefined))?.size ?? 0;
  return total;
}

/** Removes the staged bytes (a file or a folder of parts) and, when given, the state file. */
export async function removeStaged(paths: { data: string; state?: string }): Promise<void> {
  await rm(paths.data, { force: true, recursive: true });
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
