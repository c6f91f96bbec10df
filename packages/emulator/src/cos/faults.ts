// Faults a test arms on the COS emulator. Each counts down its own attempts and then disarms itself, so
// "503 on part 2 for two attempts" is one call and needs no cleanup between retries.

export type CosOp =
  | 'PutObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'GetObjectTagging'
  | 'GetBucket'
  | 'HeadBucket'
  | 'InitiateMultipartUpload'
  | 'UploadPart'
  | 'ListParts'
  | 'ListMultipartUploads'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'Unknown';

/** The faults of an object store's emulator (COS, S3), over its own operation names. */
export interface PartFailure {
  partNumber: number;
  /** 503 comes with Retry-After: 1. */
  status: number;
  code: string;
  times: number;
  /** Only uploads of this object key; any key when absent. */
  key?: string;
  message?: string;
}

export interface OpFailure<Op extends string = CosOp> {
  op: Op;
  /** 200 sends the Error document inside a 200 reply, as COS may do for CompleteMultipartUpload. */
  status: number;
  code: string;
  times: number;
  key?: string;
  message?: string;
}

export interface PartReset {
  partNumber: number;
  /** The socket is destroyed once this many body bytes have arrived. */
  afterBytes: number;
  times: number;
  key?: string;
}

export interface PartCorruption {
  partNumber: number;
  times: number;
  key?: string;
  /** Byte of the part to flip (default 0; clamped to the part's last byte). */
  offset?: number;
  /** Flipped on the way in, before COS hashes it: the reply's ETag and CRC64 describe the flipped
   * bytes (and a Content-MD5 sent with it is refused with BadDigest). */
  inTransit?: boolean;
}

export interface PartCrcOmission {
  partNumber: number;
  times: number;
  key?: string;
}

export interface ReplyDrop<Op extends string = CosOp> {
  /** Any operation but Unknown: PutObject, UploadPart, InitiateMultipartUpload, CompleteMultipartUpload, … */
  op: Op;
  times: number;
  key?: string;
}

const DROPPABLE = new Set<CosOp>([
  'PutObject',
  'GetObject',
  'HeadObject',
  'DeleteObject',
  'GetObjectTagging',
  'GetBucket',
  'HeadBucket',
  'InitiateMultipartUpload',
  'UploadPart',
  'ListParts',
  'ListMultipartUploads',
  'CompleteMultipartUpload',
  'AbortMultipartUpload',
]);

interface Armed<T> {
  spec: T;
  left: number;
}

function take<T extends { key?: string }>(list: Armed<T>[], match: (s: T) => boolean, key: string): T | undefined {
  for (let i = 0; i < list.length; i++) {
    const a = list[i]!;
    if ((a.spec.key !== undefined && a.spec.key !== key) || !match(a.spec)) continue;
    a.left--;
    if (a.left <= 0) list.splice(i, 1);
    return a.spec;
  }
  return undefined;
}

function checkTimes(times: number): number {
  if (!Number.isInteger(times) || times < 1) throw new RangeError(`times must be a positive integer: ${times}`);
  return times;
}

/** A shared token bucket over all upload bodies (a narrow uplink, not a per-connection cap). */
export class UploadThrottle {
  #bytesPerSecond = 0;
  #next = 0;

  set(bytesPerSecond: number): void {
    if (!Number.isFinite(bytesPerSecond) || bytesPerSecond < 0) throw new RangeError(`bytesPerSecond must be ≥ 0: ${bytesPerSecond}`);
    this.#bytesPerSecond = bytesPerSecond;
    this.#next = 0;
  }

  get active(): boolean {
    return this.#bytesPerSecond > 0;
  }

  /** Milliseconds to hold back before accepting more, after `bytes` more have arrived. */
  reserve(bytes: number): number {
    if (this.#bytesPerSecond <= 0) return 0;
    const now = performance.now();
    this.#next = Math.max(this.#next, now) + (bytes * 1000) / this.#bytesPerSecond;
    return Math.max(0, this.#next - now);
  }
}

export class StoreFaults<Op extends string> {
  #partFailures: Armed<PartFailure>[] = [];
  #opFailures: Armed<OpFailure<Op>>[] = [];
  #resets: Armed<PartReset>[] = [];
  #corruptions: Armed<PartCorruption>[] = [];
  #drops: Armed<ReplyDrop<Op>>[] = [];
  #crcOmissions: Armed<PartCrcOmission>[] = [];
  #latencyMs = 0;
  readonly throttle = new UploadThrottle();
  readonly #droppable: ReadonlySet<Op>;
  readonly #service: string;

  constructor(droppable: ReadonlySet<Op>, service: string) {
    this.#droppable = droppable;
    this.#service = service;
  }

  /** The first `times` UploadPart attempts of that part get this error (before the body is read). */
  failPart(spec: PartFailure): void {
    this.#partFailures.push({ spec: { ...spec }, left: checkTimes(spec.times) });
  }

  /** The first `times` requests of that operation get this error. */
  failOp(spec: OpFailure<Op>): void {
    this.#opFailures.push({ spec: { ...spec }, left: checkTimes(spec.times) });
  }

  /** The first `times` UploadPart attempts of that part lose their connection mid-body. */
  resetPart(spec: PartReset): void {
    this.#resets.push({ spec: { ...spec }, left: checkTimes(spec.times) });
  }

  /** The first `times` UploadPart attempts of that part are stored with one byte flipped; the reply
   * (ETag, CRC64) still describes what the client sent: silent corruption. */
  corruptPart(spec: PartCorruption): void {
    this.#corruptions.push({ spec: { ...spec }, left: checkTimes(spec.times) });
  }

  /** The first `times` successful UploadPart replies of that part come without x-cos-hash-crc64ecma. */
  omitPartCrc(spec: PartCrcOmission): void {
    this.#crcOmissions.push({ spec: { ...spec }, left: checkTimes(spec.times) });
  }

  /**
   * The first `times` successful requests of that operation take effect (the object is stored, the
   * upload created or completed, the part kept) and then lose their reply: the connection is closed
   * without a byte of the answer, as when a reply is lost on the way back.
   */
  dropReply(spec: ReplyDrop<Op>): void {
    if (!this.#droppable.has(spec.op)) throw new RangeError(`dropReply: unknown ${this.#service} operation ${String(spec.op)}`);
    this.#drops.push({ spec: { ...spec }, left: checkTimes(spec.times) });
  }

  /** Caps the combined rate at which PutObject and UploadPart bodies are read; 0 lifts the cap. */
  throttleUploads(bytesPerSecond: number): void {
    this.throttle.set(bytesPerSecond);
  }

  /** Delays every request by this much before it is handled; 0 for none. */
  latency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be ≥ 0: ${ms}`);
    this.#latencyMs = ms;
  }

  clear(): void {
    this.#partFailures = [];
    this.#opFailures = [];
    this.#resets = [];
    this.#corruptions = [];
    this.#drops = [];
    this.#crcOmissions = [];
    this.#latencyMs = 0;
    this.throttle.set(0);
  }

  /** Attempts still armed, per kind: lets a test assert that every fault it set was hit. */
  pending(): { failPart: number; failOp: number; resetPart: number; corruptPart: number; dropReply: number; omitPartCrc: number } {
    const sum = (l: Armed<unknown>[]): number => l.reduce((n, a) => n + a.left, 0);
    return {
      failPart: sum(this.#partFailures),
      failOp: sum(this.#opFailures),
      resetPart: sum(this.#resets),
      corruptPart: sum(this.#corruptions),
      dropReply: sum(this.#drops),
      omitPartCrc: sum(this.#crcOmissions),
    };
  }

  // --- used by the emulator ----------------------------------------------------------------------

  get latencyMs(): number {
    return this.#latencyMs;
  }

  takeOpFailure(op: Op, key: string): OpFailure<Op> | undefined {
    return take(this.#opFailures, (s) => s.op === op, key);
  }

  takePartFailure(partNumber: number, key: string): PartFailure | undefined {
    return take(this.#partFailures, (s) => s.partNumber === partNumber, key);
  }

  takePartReset(partNumber: number, key: string): PartReset | undefined {
    return take(this.#resets, (s) => s.partNumber === partNumber, key);
  }

  /** Whether this successful reply is to be lost (counts the drop down). */
  takeReplyDrop(op: Op, key: string): boolean {
    return this.#drops.length > 0 && take(this.#drops, (s) => s.op === op, key) !== undefined;
  }

  takePartCrcOmission(partNumber: number, key: string): boolean {
    return this.#crcOmissions.length > 0 && take(this.#crcOmissions, (s) => s.partNumber === partNumber, key) !== undefined;
  }

  takePartCorruption(partNumber: number, key: string): PartCorruption | undefined {
    return take(this.#corruptions, (s) => s.partNumber === partNumber, key);
  }
}

export class CosFaults extends StoreFaults<CosOp> {
  constructor() {
    super(DROPPABLE, 'COS');
  }
}
