// Garbage that outlives V8's young generation between a copy's parts (the SDKs' request objects live
// as long as a part's upload, seconds, and are promoted) is freed only by a full collection, and V8
// starts the first one only when the old generation reaches a limit set from the machine's memory:
// hundreds of MiB on a host of a few GiB. Measured on an 8 GiB copy: the heap grew by ~2.5 MiB per GiB
// copied, all of it garbage (a 48 MiB old-space cap kept it flat at ~21 MiB live), and the peak RSS
// with it. So a full collection runs after every COLLECT_EVERY_BYTES sent, when the process was
// started with --expose-gc (bin/cdb2cos and the container image do): ~30 ms each, ~0.5 CPU-s per
// 8 GiB. Without the flag nothing happens.

/** Bytes sent between two full collections. */
export const COLLECT_EVERY_BYTES = 512 * 1024 * 1024;

let sinceLast = 0;

/**
 * Counts bytes sent; past COLLECT_EVERY_BYTES since the last time, runs a full collection (`gc`: the
 * global one --expose-gc gives, null when there is none) and says so.
 */
export function collectAfter(bytes: number, gc: (() => void) | null = (globalThis as { gc?: () => void }).gc ?? null): boolean {
  sinceLast += bytes;
  if (sinceLast < COLLECT_EVERY_BYTES || gc === null) return false;
  sinceLast = 0;
  gc();
  return true;
}

/**
 * One full collection now (when `gc` is there): before the copies start, the garbage of start-up
 * (module loading, the listings, the plan) goes, instead of sitting under the copies' own memory at the
 * run's peak.
 */
export function collectNow(gc: (() => void) | null = (globalThis as { gc?: () => void }).gc ?? null): boolean {
  sinceLast = 0;
  if (gc === null) return false;
  gc();
  return true;
}
