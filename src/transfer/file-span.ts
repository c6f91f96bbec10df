// Ranged reads of a local file in place ([local] items are never staged), hashing as the bytes pass.
// The file is opened confined to its glob's base (openConfined) and must still be the version listed:
// its size and mtime are checked before and after the read, so a file written to during the copy is
// not counted as copied (the next run copies the new version). Memory: one buffer, the caller's or one
// of READ_BATCH bytes, reused for the whole span.
import { constants, type FileHandle } from 'node:fs/promises';
import * as fsp from 'node:fs/promises';
import { Cdb2cosError } from '../errors.js';
import { newCrc64 } from '../hash/crc64.js';
import { newCrc64Nvme } from '../hash/crc64nvme.js';
import { createMd5 } from '../hash/md5.js';

/** Bytes read (and hashed) at a time. */
export const READ_BATCH = 512 * 1024;

export interface FileSpanOptions {
  /** Absolute real path, as listed. */
  path: string;
  /** The glob's real base: the file must be inside it. */
  base: string;
  start: number;
  /** Exclusive. */
  end: number;
  /** Size and mtime as listed: any other value before or after the read fails with ERR_SOURCE_CHANGED. */
  expectSize: number;
  expectMtimeMs: number;
  /** Also compute the span's MD5 (the CRC-64 is always computed). */
  md5?: boolean | undefined;
  /** Also compute the span's CRC-64/NVME, in the same pass. */
  crc64nvme?: boolean | undefined;
  /** The read buffer (the caller's, reused span after span); else one of READ_BATCH. */
  buffer?: Buffer | undefined;
  /** Called with each batch of bytes read (progress). */
  onProgress?: ((bytes: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface FileSpanResult {
  crc64: bigint;
  /** Hex MD5 of the span, only when asked for. */
  md5?: string | undefined;
  /** CRC-64/NVME of the span (base64), only when asked for. */
  crc64nvme?: string | undefined;
}

/** The validator of a local file's version as listed: its size and mtime (ms, fractional as fs gives it). */
export function fileValidator(size: number, mtimeMs: number): string {
  return `${size}:${mtimeMs}`;
}

/** The size and mtime a local item was listed with (its validator), for expectSize/expectMtimeMs; undefined if it is not one. */
export function parseFileValidator(validator: string | undefined): { size: number; mtimeMs: number } | undefined {
  const m = /^(\d+):(\d+(?:\.\d+)?)$/.exec(validator ?? '');
  return m ? { size: Number(m[1]), mtimeMs: Number(m[2]) } : undefined;
}

/** Reads [start, end) of a local file and hashes it; throws ERR_SOURCE_CHANGED if the file is not the version listed. */
export async function hashFileSpan(o: FileSpanOptions): Promise<FileSpanResult> {
  const file = await openConfined(o.path, o.base);
  try {
    await checkUnchanged(file, o, 'before');
    const crc = newCrc64();
    const md5 = o.md5 === true ? createMd5() : undefined;
    const nvme = o.crc64nvme === true ? newCrc64Nvme() : undefined;
    const buf = o.buffer !== undefined && o.buffer.length > 0 ? o.buffer : Buffer.allocUnsafe(Math.max(1, Math.min(READ_BATCH, o.end - o.start)));
    let pos = o.start;
    while (pos < o.end) {
      o.signal?.throwIfAborted();
      const want = Math.min(buf.length, o.end - pos);
      let bytesRead: number;
      try {
        ({ bytesRead } = await file.read(buf, 0, want, pos));
      } catch (err) {
        throw new Cdb2cosError('ERR_IO', `cannot read ${o.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      }
      if (bytesRead === 0) throw changed(o.path, `it ended at byte ${pos}, before ${o.end}`);
      const bytes = buf.subarray(0, bytesRead);
      crc.update(bytes);
      md5?.update(bytes);
      nvme?.update(bytes);
      pos += bytesRead;
      o.onProgress?.(bytesRead);
    }
    await checkUnchanged(file, o, 'after');
    return { crc64: crc.digest(), ...(md5 !== undefined ? { md5: md5.digestHex() } : {}), ...(nvme !== undefined ? { crc64nvme: nvme.digestBase64() } : {}) };
  } finally {
    await file.close();
  }
}

async function checkUnchanged(file: FileHandle, o: FileSpanOptions, when: 'before' | 'after'): Promise<void> {
  const st = await file.stat();
  if (st.size !== o.expectSize) throw changed(o.path, `its size is ${st.size} bytes ${when} reading, ${o.expectSize} when listed`);
  if (st.mtimeMs !== o.expectMtimeMs) throw changed(o.path, `its mtime is ${new Date(st.mtimeMs).toISOString()} ${when} reading, ${new Date(o.expectMtimeMs).toISOString()} when listed`);
  if (when === 'after') {
    // Replaced by a rename while read (the handle still reads the old file): the listed path now names another.
    const now = await fsp.stat(o.path).catch(() => undefined);
    if (now === undefined || now.ino !== st.ino || now.dev !== st.dev) throw changed(o.path, 'it was replaced or removed while it was read');
  }
}

function changed(path: string, why: string): Cdb2cosError {
  return new Cdb2cosError('ERR_SOURCE_CHANGED', `${path} changed while it was copied: ${why}; not counted as copied (the next run copies it again)`);
}

/**
 * Opens a listed file for reading, confined to its base (O_NONBLOCK: a file swapped for a FIFO does not
 * hang the open): O_NOFOLLOW refuses a symlink in the last
 * component, and the path's real path must be itself, inside `base`, and the very file opened (same
 * device and inode), so a folder swapped for a symlink after listing is caught too. Throws ERR_SOURCE_CHANGED
 * (gone, replaced) or ERR_PERMISSION (outside the base).
 */
export async function openConfined(path: string, base: string): Promise<FileHandle> {
  let file: FileHandle;
  try {
    file = await fsp.open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'ENOENT') throw changed(path, 'it is gone');
    // ELOOP: the last component became a symlink since it was listed.
    if (code === 'ELOOP' || code === 'EMLINK') throw changed(path, 'it is now a symlink');
    throw new Cdb2cosError(code === 'EACCES' || code === 'EPERM' ? 'ERR_PERMISSION' : 'ERR_IO', `cannot open ${path}: ${code || (err as Error).message}`, { cause: err });
  }
  try {
    const [real, st] = await Promise.all([fsp.realpath(path), file.stat()]);
    if (real !== path) throw changed(path, `its real path is now ${real}`);
    if (!isInsideBase(real, base)) throw new Cdb2cosError('ERR_PERMISSION', `${path} is outside ${base}: not read`);
    const now = await fsp.stat(real);
    if (now.ino !== st.ino || now.dev !== st.dev) throw changed(path, 'it was replaced while it was opened');
    if (!st.isFile()) throw changed(path, 'it is no longer a regular file');
    return file;
  } catch (err) {
    await file.close();
    if (err instanceof Cdb2cosError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'ENOENT') throw changed(path, 'it is gone');
    throw new Cdb2cosError('ERR_IO', `cannot open ${path}: ${code || (err as Error).message}`, { cause: err });
  }
}

function isInsideBase(real: string, base: string): boolean {
  return real === base || real.startsWith(base === '/' ? '/' : `${base}/`);
}
