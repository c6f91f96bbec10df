// One item's upload to one destination: a single PUT or a multipart upload, each part and the object
// verified the way the destination speaks (its `checksum`), retried on a verification failure, and its
// progress kept in the item's resume state. The single-PUT and multipart cases share the verification.
//
// - crc64 (COS, OSS): each reply carries the CRC-64 of what was stored, compared with the staged part's;
//   a reply without one makes that part go again with Content-MD5, whose ETag must then be that MD5.
// - md5 (BOS, other): every part and PUT carries Content-MD5, checked by the service; the ETag must equal
//   it. The object is then the parts we listed, in order: its size is checked by HEAD.
// - crc64nvme (AWS, MinIO): every part carries its CRC-64/NVME and Complete the full object's, both
//   checked by the service; HEAD must report the full object's value.
import type { Readable } from 'node:stream';
import type { Destination, SendChecks, StoredReply } from '../destinations/destination.js';
import { Cdb2cosError, errInfo } from '../errors.js';
import type { Runtime } from '../types.js';
import type { PartRange } from './part-size.js';
import type { Semaphore } from './rate-limit.js';

/** Add to the Initiate call's own duration when telling its orphans (a lost reply) from older uploads:
 * listing times are whole seconds. */
const ORPHAN_WINDOW_SLACK_MS = 2000;
/** Attempts at a part the service rejected as corrupt (BadDigest, checksum mismatch). */
const PART_INTEGRITY_ATTEMPTS = 3;

/** The ETag quoted or not, in any case (OSS gives upper-case hex): compared without the quotes, in lower case. */
export const bareEtag = (etag: string): string => etag.replace(/"/g, '').toLowerCase();

/** What the resume state keeps of one destination's upload of an item. */
export interface UploadState {
  key: string;
  uploadId?: string | undefined;
  /** Part number → ETag as the service returned it, for parts verified: on resume ListParts must show the same. */
  uploaded: Record<string, string>;
  /** Set once the object was completed and verified: waiting only for the manifest. */
  verified?: { crc64: string; etag: string } | undefined;
}

/** What the item copy gives each of its uploads. */
export interface UploadContext extends Pick<Runtime, 'log' | 'now'> {
  item: { size: number; md5: string | undefined };
  ranges: PartRange[];
  /** Run-wide part uploads in flight. */
  uploads: Semaphore;
  signal: AbortSignal;
  retry: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  /**
   * Called before each send of part r: its bytes are there (a staged part whose file was released is
   * fetched again) and still what was hashed (a local file: confined, unchanged).
   */
  ready: (r: PartRange) => Promise<void>;
  /** The part's bytes as a stream, its file already open; `release` after the call settled. */
  body: (r: PartRange) => Promise<{ body: Readable | Buffer; release: () => void }>;
  /** The staged part's CRC-64/ECMA (decimal), known once the part is staged. */
  partCrc64: (r: PartRange) => string;
  /** MD5 (hex) and/or CRC-64/NVME (base64) of the staged part, for destinations that need them. */
  partChecks: (r: PartRange, want: { md5: boolean; crc64nvme: boolean }) => Promise<{ md5?: string | undefined; crc64nvme?: string | undefined }>;
  /** Fetches the part again from the source (its staged bytes are suspect). */
  restage: (r: PartRange) => Promise<void>;
  /** Saves the resume state (soon, or at once). */
  save: (now?: boolean) => Promise<void>;
  onBytesSent: (n: number) => void;
  /** Metadata of the object (without the vendor prefix), given the whole object's CRC-64 when known. */
  meta: (crc64: string | undefined) => Record<string, string>;
}

export class DestinationUpload {
  /** Parts found already uploaded from an earlier run. */
  partsResumed = 0;
  /** Why this destination's upload failed, when it did (the item's other destinations go on). */
  failure: unknown = undefined;

  constructor(
    readonly dest: Destination,
    readonly state: UploadState,
    private readonly c: UploadContext,
  ) {}

  get key(): string {
    return this.state.key;
  }

  private get log(): UploadContext['log'] {
    return this.c.log;
  }

  /** Multipart: continues an earlier run's upload when the service still has it (parts checked by ETag and size), else starts one. */
  async prepareMultipart(staged: (n: number) => boolean): Promise<void> {
    const st = this.state;
    if (st.uploadId) {
      try {
        const listed = await this.c.retry('list parts', () => this.dest.listParts(st.key, st.uploadId!));
        const recorded = st.uploaded;
        st.uploaded = {};
        for (const p of listed) {
          const r = this.c.ranges[p.partNumber - 1];
          const etag = recorded[p.partNumber];
          if (staged(p.partNumber) && r && etag !== undefined && bareEtag(p.etag) === bareEtag(etag) && p.size === r.end - r.start) st.uploaded[p.partNumber] = p.etag;
        }
        this.partsResumed = Object.keys(st.uploaded).length;
        this.log.info({ destination: this.dest.kind, partsStaged: this.c.ranges.filter((r) => staged(r.partNumber)).length, partsUploaded: this.partsResumed }, 'resumed');
      } catch (err) {
        if (!(err instanceof Cdb2cosError && err.code === 'ERR_NOT_FOUND')) throw err;
        st.uploadId = undefined;
        st.uploaded = {};
      }
    }
    if (!st.uploadId) {
      st.uploadId = await this.initiate();
      st.uploaded = {};
      await this.c.save(true);
    }
  }

  /**
   * Starts a multipart upload, then aborts the uploads of this exact key that the Initiate itself left
   * behind. An Initiate whose reply was lost still created an upload; the retry creates another, and only
   * the last id reaches us. Those orphans hold no part and no one knows their id, so they are aborted.
   * Only uploads initiated during our call are touched, measured against our own upload's Initiated
   * time on the service's clock: an older upload of the key belongs to another run (perhaps alive on
   * another host) and is left to the stale-upload clean-up.
   */
  private async initiate(): Promise<string> {
    const key = this.state.key;
    const t0 = this.c.now();
    const id = await this.c.retry('initiate', () => this.dest.initUpload(key, this.c.meta(undefined)));
    const window = this.c.now() - t0 + ORPHAN_WINDOW_SLACK_MS;
    try {
      const open = (await this.c.retry('list uploads', () => this.dest.listUploads(key))).filter((u) => u.key === key);
      const ours = Date.parse(open.find((u) => u.uploadId === id)?.initiated ?? '');
      for (const u of open) {
        const started = Date.parse(u.initiated);
        if (u.uploadId === id || !Number.isFinite(ours) || !Number.isFinite(started) || started < ours - window || started > ours + ORPHAN_WINDOW_SLACK_MS) continue;
        await this.c.retry('abort', () => this.dest.abort(key, u.uploadId));
        this.log.info({ destination: this.dest.kind, uploadId: u.uploadId, initiated: u.initiated }, 'orphan upload aborted');
      }
    } catch (err) {
      if (this.c.signal.aborted) throw err;
      // Not worth failing a copy for: the stale-upload clean-up aborts it later.
      this.log.warn({ destination: this.dest.kind, err: errInfo(err) }, 'orphan upload clean-up failed');
    }
    return id;
  }

  /** What to send with a body so the service checks it, per the destination's checksum. */
  private async checksFor(r: PartRange, forceMd5: boolean): Promise<{ send: SendChecks; md5?: string | undefined }> {
    const kind = this.dest.checksum;
    const want = { md5: forceMd5 || kind === 'md5', crc64nvme: kind === 'crc64nvme' };
    if (!want.md5 && !want.crc64nvme) return { send: {} };
    const got = await this.c.partChecks(r, want);
    return {
      send: { ...(got.md5 !== undefined ? { md5Base64: Buffer.from(got.md5, 'hex').toString('base64') } : {}), ...(got.crc64nvme !== undefined ? { crc64nvme: got.crc64nvme } : {}) },
      md5: got.md5,
    };
  }

  /** Sends a body (a part, or the whole object by PUT) and checks what the service says it stored. */
  /** `what`: the retry's label (`upload part 3`, `put`); messages name the part. */
  private async send(r: PartRange, what: string, call: (body: Readable | Buffer, checks: SendChecks) => Promise<StoredReply>): Promise<StoredReply> {
    const part = what === 'put' ? 'put' : `part ${r.partNumber}`;
    let forceMd5 = false;
    for (let attempt = 1; ; attempt++) {
      await this.c.ready(r);
      const { send, md5 } = await this.checksFor(r, forceMd5);
      const size = r.end - r.start;
      try {
        const res = await this.c.retry(what, async () => {
          const release = await this.c.uploads.acquire(this.c.signal);
          try {
            this.c.onBytesSent(size);
            const b = await this.c.body(r);
            try {
              return await call(b.body, send);
            } finally {
              b.release();
            }
          } finally {
            release();
          }
        });
        const staged = this.c.partCrc64(r);
        if (md5 !== undefined) {
          // Content-MD5 was checked by the service; the ETag it gives back is that MD5 (a single PUT or a part).
          if (bareEtag(res.etag) !== md5) throw new Cdb2cosError('ERR_VERIFY', `${this.key} ${part}: ETag ${res.etag} differs from the staged bytes' MD5 ${md5}`, { origin: 'destination' });
        } else if (this.dest.checksum === 'crc64' && res.crc64 === undefined) {
          // Nothing to compare with: send it again, this time with Content-MD5.
          this.log.warn({ destination: this.dest.kind, part: r.partNumber }, 'part reply without crc64; sending it again with Content-MD5');
          forceMd5 = true;
          attempt--;
          continue;
        }
        if (res.crc64 !== undefined && res.crc64 !== staged) {
          throw new Cdb2cosError('ERR_VERIFY', `${this.key} ${part}: ${this.dest.kind.toUpperCase()} stored CRC64 ${res.crc64}, staged part has ${staged}`, { origin: 'destination' });
        }
        return res;
      } catch (err) {
        if (!(err instanceof Cdb2cosError && err.code === 'ERR_VERIFY') || attempt >= PART_INTEGRITY_ATTEMPTS || this.c.signal.aborted) throw err;
        this.log.warn({ destination: this.dest.kind, part: r.partNumber, attempt, err: errInfo(err) }, 'part failed verification; sending it again');
        if (err.serviceCode === 'BadDigest' || attempt >= 2) {
          // The staged bytes may no longer match what was downloaded (disk trouble, a crash mid-write):
          // the service said so (BadDigest), or the part failed twice. Fetch them again.
          await this.c.restage(r);
        }
      }
    }
  }

  /** Uploads one staged part (multipart), unless already uploaded. */
  async uploadPart(r: PartRange): Promise<void> {
    if (this.state.uploaded[r.partNumber] !== undefined) return;
    const res = await this.send(r, `upload part ${r.partNumber}`, (body, checks) =>
      this.dest.uploadPart(this.key, this.state.uploadId!, r.partNumber, body as Readable, r.end - r.start, checks),
    );
    this.state.uploaded[r.partNumber] = res.etag;
    void this.c.save();
  }

  /**
   * Complete, or proof that it already happened: a Complete whose reply was lost has taken effect, so
   * sending it again meets NoSuchUpload. The object then tells: this size and checksum mean it is this
   * upload, completed.
   */
  private async completeOnce(id: string, expected: { crc64: string; crc64nvme?: string | undefined }): Promise<StoredReply> {
    const parts = this.c.ranges.map((r) => ({ partNumber: r.partNumber, etag: this.state.uploaded[r.partNumber]! }));
    const checks: SendChecks = expected.crc64nvme !== undefined ? { crc64nvme: expected.crc64nvme } : {};
    try {
      return await this.c.retry('complete', () => this.dest.complete(this.key, id, parts, checks));
    } catch (err) {
      if (!(err instanceof Cdb2cosError && err.serviceCode === 'NoSuchUpload')) throw err;
      const head = await this.c.retry('head', () => this.dest.headObject(this.key));
      if (head && head.size === this.c.item.size && this.matches(head, expected)) {
        this.log.info({ destination: this.dest.kind, uploadId: id }, 'completed upload found');
        return { etag: head.etag, crc64: head.crc64 };
      }
      // Gone without becoming this object (aborted by someone else): the next run starts a new upload.
      this.state.uploadId = undefined;
      throw new Cdb2cosError('ERR_NOT_FOUND', `${this.key}: ${this.dest.label} no longer knows upload ${id} and the object there is not this file (size ${head?.size ?? 'none'}, staged CRC64 ${expected.crc64})`, {
        cause: err,
        serviceCode: 'NoSuchUpload',
      });
    }
  }

  /** Whether a HEAD shows the object the staged bytes make, by the destination's checksum. */
  private matches(head: { crc64: string | undefined; crc64nvme?: string | undefined; meta: Record<string, string> }, expected: { crc64: string; crc64nvme?: string | undefined }): boolean {
    switch (this.dest.checksum) {
      case 'crc64':
        return head.crc64 === expected.crc64;
      case 'crc64nvme':
        return head.crc64nvme !== undefined && head.crc64nvme === expected.crc64nvme;
      case 'md5':
        // The service gives no checksum of the whole object: its parts were each checked by MD5, and a
        // completed upload's object is those parts; the recorded CRC-64 (metadata, or ours) must agree.
        return head.meta['cdb2cos-crc64'] === undefined || head.meta['cdb2cos-crc64'] === expected.crc64;
    }
  }

  /** Checks the object after Complete or PUT: the reply's CRC-64 or a HEAD. */
  private async verifyObject(reply: StoredReply, expected: { crc64: string; crc64nvme?: string | undefined }): Promise<{ ok: boolean; got: string | undefined }> {
    if (reply.crc64 !== undefined) return { ok: reply.crc64 === expected.crc64, got: reply.crc64 };
    const head = await this.c.retry('head', () => this.dest.headObject(this.key));
    if (!head || head.size !== this.c.item.size) return { ok: false, got: head ? `size ${head.size}` : 'none' };
    return { ok: this.matches(head, expected), got: this.dest.checksum === 'crc64nvme' ? head.crc64nvme : head.crc64 };
  }

  /** Multipart: Complete and verify; on a mismatch every part goes again under a new upload, once. */
  async complete(expected: { crc64: string; crc64nvme?: string | undefined }, uploadAll: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const t1 = this.c.now();
      let done: StoredReply | undefined;
      let refused: Cdb2cosError | undefined;
      try {
        done = await this.completeOnce(this.state.uploadId!, expected);
      } catch (err) {
        // The service refused the parts as a whole (a full-object checksum that differs: BadDigest): as
        // a mismatch after Complete, except that the upload is still open and must be aborted.
        if (!(err instanceof Cdb2cosError && err.code === 'ERR_VERIFY') || this.c.signal.aborted) throw err;
        refused = err;
        await this.dest.abort(this.key, this.state.uploadId!).catch(() => undefined);
      }
      const { ok, got } = done !== undefined ? await this.verifyObject(done, expected) : { ok: false, got: `refused (${refused?.serviceCode ?? refused?.message ?? 'checksum'})` };
      if (ok && done !== undefined) {
        this.log.info({ destination: this.dest.kind, bytes: this.c.item.size, parts: this.c.ranges.length, completeMs: this.c.now() - t1 }, 'uploaded');
        this.state.verified = { crc64: expected.crc64, etag: done.etag };
        this.state.uploadId = undefined;
        await this.c.save(true);
        return;
      }
      this.log.warn({ destination: this.dest.kind, expected: expected.crc64, got, attempt }, 'crc64 mismatch after complete');
      if (attempt >= 2) {
        if (done !== undefined) await this.dest.deleteObject(this.key).catch(() => undefined);
        this.state.uploadId = undefined;
        await this.c.save(true);
        throw new Cdb2cosError('ERR_VERIFY', `${this.key}: CRC64 of the completed object in ${this.dest.label} (${got ?? 'none'}) differs from the staged file's (${expected.crc64}); ${done !== undefined ? 'object removed' : 'upload aborted'}`, { origin: 'destination' });
      }
      this.state.uploadId = await this.initiate();
      this.state.uploaded = {};
      await this.c.save(true);
      await uploadAll();
    }
  }

  /** A single-part item: one PUT, verified like a part and then as an object. */
  async put(expected: { crc64: string; crc64nvme?: string | undefined }): Promise<void> {
    const r = this.c.ranges[0] ?? { partNumber: 1, start: 0, end: 0 };
    const t1 = this.c.now();
    for (let attempt = 1; ; attempt++) {
      const reply = await this.send(r, 'put', (body, checks) => this.dest.putObject(this.key, body, this.c.item.size, this.c.meta(expected.crc64), { ...checks, ...(expected.crc64nvme !== undefined ? { crc64nvme: expected.crc64nvme } : {}) }));
      const { ok, got } = await this.verifyObject(reply, expected);
      if (ok) {
        this.log.info({ destination: this.dest.kind, bytes: this.c.item.size, ms: this.c.now() - t1 }, 'uploaded');
        this.state.verified = { crc64: expected.crc64, etag: reply.etag };
        await this.c.save(true);
        return;
      }
      this.log.warn({ destination: this.dest.kind, expected: expected.crc64, got, attempt }, 'crc64 mismatch after upload');
      if (attempt >= 2) {
        await this.dest.deleteObject(this.key).catch(() => undefined);
        throw new Cdb2cosError('ERR_VERIFY', `${this.key}: CRC64 of the uploaded object in ${this.dest.label} (${got ?? 'none'}) differs from the staged file's (${expected.crc64}); object removed`, { origin: 'destination' });
      }
    }
  }

  /** Drops the upload in progress (the source changed, or its bytes were wrong). */
  async discard(): Promise<void> {
    if (this.state.uploadId) await this.dest.abort(this.key, this.state.uploadId).catch(() => undefined);
  }
}
