// A part of the staged file as a Readable for the COS SDK, read into a ring of buffers that is used
// again part after part, instead of a fresh Buffer per read (fs.createReadStream's way): a GiB
// uploaded would otherwise be a GiB of external memory, much of it living long enough to be promoted
// out of V8's young generation and freed only at full collections, which held the process's RSS tens
// of MiB above what it needs.
//
// When a buffer may be read into again: the SDK pipes this stream into its request, and that into the
// socket. A chunk (PART_READ_CHUNK, larger than any writable's 16 KiB high-water mark on that way)
// makes every write() return false, so the pipe pauses until the socket has handed the chunk to the
// kernel ('drain'), and only then asks for more. At most one chunk waits in this stream (highWaterMark
// = one chunk) and one in the socket, so with RING buffers a buffer is read into again only two chunks
// after the socket is done with it. A ring goes back to the pool only once the upload call has settled
// (its reply came after the last byte went out) and the stream is closed (FileHandle.close waits for a
// read in flight). Were the pipe ever to hold more chunks (another SDK), the bytes COS stored would
// differ from the staged part, and its CRC-64 (or, without one, Content-MD5) catches it: the part is
// sent again.
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** Bytes per read, and per chunk handed to the SDK. */
export const PART_READ_CHUNK = 256 * 1024;
/** Buffers per part upload: memory per upload in flight = RING × PART_READ_CHUNK (1 MiB). */
const RING = 4;
/** Rings kept for reuse (more than any upload_concurrency is pointless). */
const POOL_MAX = 64;
const pool: Buffer[][] = [];

export interface PartReader {
  body: Readable;
  /** Call once the upload call has settled: closes the stream, then returns its buffers to the pool. */
  release(): void;
}

/** `openFile`: how to open the file (a local item's own file is opened confined to its base); default a plain open. */
export function partReader(path: string, start: number, end: number, openFile: (path: string) => Promise<FileHandle> = (p) => open(p, 'r')): PartReader {
  let fh: FileHandle | undefined;
  let pos = start;
  let next = 0;
  const ring = pool.pop() ?? [];
  const body = new Readable({
    highWaterMark: PART_READ_CHUNK,
    async construct(cb) {
      try {
        fh = await openFile(path);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    async read() {
      try {
        if (pos >= end) {
          this.push(null);
          return;
        }
        const i = next++ % RING;
        const buf = (ring[i] ??= Buffer.allocUnsafe(PART_READ_CHUNK));
        const { bytesRead } = await fh!.read(buf, 0, Math.min(buf.length, end - pos), pos);
        if (this.destroyed) return;
        if (bytesRead === 0) throw new Error(`staged file ${path} ended at byte ${pos}, before ${end}`);
        pos += bytesRead;
        this.push(buf.subarray(0, bytesRead));
      } catch (err) {
        this.destroy(err as Error);
      }
    },
    destroy(err, cb) {
      const h = fh;
      fh = undefined;
      if (h === undefined) cb(err);
      else h.close().then(() => cb(err), () => cb(err));
    },
  });
  let released = false;
  return {
    body,
    release() {
      if (released) return;
      released = true;
      const give = (): void => {
        if (pool.length < POOL_MAX) pool.push(ring);
      };
      if (body.closed) give();
      else {
        body.once('close', give);
        body.destroy();
      }
    },
  };
}
