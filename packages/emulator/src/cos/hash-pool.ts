// MD5 + CRC64 of upload bodies on worker threads. Hashing costs about 2 s of CPU per GiB (MD5 ~730 MB/s,
// CRC64 ~1.5 GB/s per core); on the thread that also parses HTTP and writes files it capped uploads near
// 220 MB/s. Each chunk is copied (memcpy speed) into a slot of shared memory and hashed there, in the same
// pass as the file write. Memory: SLOTS × SLOT_BYTES of shared memory per worker; a stream waits for a
// free slot when the worker falls behind, which is the backpressure.
import { Worker } from 'node:worker_threads';

const SLOT_BYTES = 1 << 20;
const SLOTS = 16;

export type ToHashWorker =
  | { t: 'data'; id: number; slot: number; offset: number; length: number }
  | { t: 'end'; id: number }
  | { t: 'drop'; id: number };

export type FromHashWorker = { t: 'free'; slot: number } | { t: 'digest'; id: number; md5: string; crc64: string };

export interface Digests {
  md5: Buffer;
  crc64: bigint;
}

class HashThread {
  readonly #worker: Worker;
  readonly #memory: Uint8Array;
  readonly #free: number[] = [];
  readonly #waiters: Array<() => void> = [];
  readonly #digests = new Map<number, { resolve: (d: Digests) => void; reject: (e: Error) => void }>();
  #failed: Error | undefined;
  streams = 0;

  constructor() {
    const sab = new SharedArrayBuffer(SLOT_BYTES * SLOTS);
    this.#memory = new Uint8Array(sab);
    for (let i = 0; i < SLOTS; i++) this.#free.push(i);
    this.#worker = new Worker(new URL('./hash-worker.js', import.meta.url), { workerData: { sab } });
    this.#worker.unref();
    this.#worker.on('message', (m: FromHashWorker) => {
      if (m.t === 'free') {
        this.#free.push(m.slot);
        this.#waiters.shift()?.();
      } else {
        const d = this.#digests.get(m.id);
        this.#digests.delete(m.id);
        d?.resolve({ md5: Buffer.from(m.md5, 'hex'), crc64: BigInt(m.crc64) });
      }
    });
    const fail = (err: Error): void => {
      this.#failed = err;
      for (const d of this.#digests.values()) d.reject(err);
      this.#digests.clear();
      for (const w of this.#waiters.splice(0)) w();
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`hash worker exited (${code})`)));
  }

  /** A free slot, waiting for one if all are being hashed. */
  async slot(): Promise<number> {
    for (;;) {
      if (this.#failed !== undefined) throw this.#failed;
      const s = this.#free.pop();
      if (s !== undefined) return s;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Returns a slot that was never sent to the worker. */
  release(slot: number): void {
    this.#free.push(slot);
    this.#waiters.shift()?.();
  }

  view(slot: number): Uint8Array {
    return this.#memory.subarray(slot * SLOT_BYTES, (slot + 1) * SLOT_BYTES);
  }

  send(m: ToHashWorker): void {
    this.#worker.postMessage(m);
  }

  digest(id: number): Promise<Digests> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#digests.set(id, { resolve, reject });
      this.send({ t: 'end', id });
    });
  }

  terminate(): Promise<number> {
    return this.#worker.terminate();
  }
}

export class HashStream {
  #slot = -1;
  #used = 0;
  #done = false;

  constructor(
    readonly thread: HashThread,
    readonly id: number,
  ) {
    thread.streams++;
  }

  /** Copies `chunk` into shared memory for hashing; resolves once it has been copied (the caller may
   * then reuse or pass on the chunk). */
  async update(chunk: Uint8Array): Promise<void> {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#slot < 0) {
        const slot = await this.thread.slot();
        if (this.#done) {
          this.thread.release(slot);
          return;
        }
        this.#slot = slot;
        this.#used = 0;
      }
      const n = Math.min(SLOT_BYTES - this.#used, chunk.length - pos);
      this.thread.view(this.#slot).set(chunk.subarray(pos, pos + n), this.#used);
      this.#used += n;
      pos += n;
      if (this.#used === SLOT_BYTES) this.#flush();
    }
  }

  #flush(): void {
    if (this.#slot < 0) return;
    this.thread.send({ t: 'data', id: this.id, slot: this.#slot, offset: this.#slot * SLOT_BYTES, length: this.#used });
    this.#slot = -1;
    this.#used = 0;
  }

  async digest(): Promise<Digests> {
    this.#flush();
    this.#finish();
    return this.thread.digest(this.id);
  }

  /** Gives up on the stream (its slot and worker-side state are released). */
  drop(): void {
    if (this.#done) return;
    if (this.#slot >= 0) {
      this.thread.release(this.#slot);
      this.#slot = -1;
    }
    this.thread.send({ t: 'drop', id: this.id });
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.thread.streams--;
  }
}

/** A few hash threads, started on first use; streams go to the least busy one. */
export class HashPool {
  readonly #threads: HashThread[] = [];
  readonly #size: number;
  #nextId = 1;

  constructor(size: number) {
    this.#size = Math.max(1, size);
  }

  open(): HashStream {
    let best: HashThread | undefined;
    for (const t of this.#threads) if (best === undefined || t.streams < best.streams) best = t;
    if (best === undefined || (best.streams > 0 && this.#threads.length < this.#size)) {
      best = new HashThread();
      this.#threads.push(best);
    }
    return new HashStream(best, this.#nextId++);
  }

  async close(): Promise<void> {
    await Promise.all(this.#threads.splice(0).map((t) => t.terminate()));
  }
}
