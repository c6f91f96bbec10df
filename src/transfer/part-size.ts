// Part sizing for COS multipart uploads.
// memory: a part is never held in memory; it is streamed from the staged file.
//
// COS limits: 1..10,000 parts; each part 1 MiB..5 GiB except the last, which may be smaller; so an
// object is at most 5 GiB × 10,000 = 53,687,091,200,000 bytes (COS's "48.82 TB" is this in TiB).

export const MiB = 1024 * 1024;
export const MIN_PART_SIZE = MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
export const MAX_OBJECT_SIZE = MAX_PART_SIZE * MAX_PARTS;
export const DEFAULT_PART_SIZE = 16 * MiB;

export interface PartRange {
  partNumber: number;
  start: number;
  /** Exclusive. */
  end: number;
}

function checkObjectSize(objectSize: number): void {
  if (!Number.isSafeInteger(objectSize) || objectSize < 0) {
    throw new RangeError(`object size must be a non-negative integer: ${objectSize}`);
  }
  if (objectSize > MAX_OBJECT_SIZE) {
    throw new RangeError(`object of ${objectSize} bytes exceeds the COS maximum of ${MAX_OBJECT_SIZE} bytes`);
  }
}

/**
 * The part size to upload an object of objectSize bytes with. requested = 0 means the default
 * (16 MiB). A requested size is raised to 1 MiB and lowered to 5 GiB; either way the size grows, in
 * whole MiB, until the object fits in 10,000 parts.
 */
export function choosePartSize(objectSize: number, requested: number): number {
  checkObjectSize(objectSize);
  if (!Number.isSafeInteger(requested) || requested < 0) {
    throw new RangeError(`requested part size must be a non-negative integer: ${requested}`);
  }
  const wanted = requested === 0 ? DEFAULT_PART_SIZE : Math.min(MAX_PART_SIZE, Math.max(MIN_PART_SIZE, requested));
  const smallestThatFits = Math.ceil(Math.ceil(objectSize / MAX_PARTS) / MiB) * MiB;
  // smallestThatFits ≤ MAX_PART_SIZE because objectSize ≤ MAX_OBJECT_SIZE and MAX_PART_SIZE is whole MiB.
  return Math.max(wanted, smallestThatFits);
}

/** Contiguous byte ranges covering [0, objectSize); a 0-byte object is one empty part. */
export function partRanges(objectSize: number, partSize: number): PartRange[] {
  checkObjectSize(objectSize);
  if (!Number.isSafeInteger(partSize) || partSize < 1) {
    throw new RangeError(`part size must be a positive integer: ${partSize}`);
  }
  if (objectSize === 0) return [{ partNumber: 1, start: 0, end: 0 }];
  const count = Math.ceil(objectSize / partSize);
  if (count > MAX_PARTS) {
    throw new RangeError(`${objectSize} bytes in parts of ${partSize} would need ${count} parts (max ${MAX_PARTS})`);
  }
  const ranges: PartRange[] = new Array<PartRange>(count);
  for (let i = 0; i < count; i++) {
    const start = i * partSize;
    ranges[i] = { partNumber: i + 1, start, end: Math.min(objectSize, start + partSize) };
  }
  return ranges;
}
