// Pure: the one rule for "this object, listed with the item's size but missing from the manifest, is a
// verified copy of ours", from its HEAD. `run` applies it before copying, `status --head` to report.
import type { DestinationChecksum, ObjectHead } from '../destinations/destination.js';
import type { CatalogItem } from '../types.js';

/**
 * The object's ETag and CRC64 when its HEAD proves it is the verified copy of `item`: the same size, an
 * MD5 in its metadata (when both have one) equal to CDB's, and a CRC64 reported by COS equal to one
 * recorded earlier, in its own `x-cos-meta-cdb2cos-crc64` or else in the local resume state.
 */
export function verifiedByHead(item: Pick<CatalogItem, 'size' | 'md5'>, head: ObjectHead | undefined, recordedCrc64?: string | undefined, checksum: DestinationChecksum = 'crc64'): { etag: string; crc64: string } | undefined {
  if (!head || head.size !== item.size) return undefined;
  if (checksum !== 'crc64') {
    // A destination that reports no CRC-64/ECMA: only the CRC-64 our verified upload wrote into the
    // object's metadata (a single PUT) vouches for it, and it must agree with what we recorded.
    const meta = head.meta['cdb2cos-crc64'];
    if (meta === undefined || (recordedCrc64 !== undefined && meta !== recordedCrc64)) return undefined;
    if (item.md5 !== undefined && head.meta['cdb2cos-md5'] !== undefined && head.meta['cdb2cos-md5'] !== item.md5) return undefined;
    return { etag: head.etag, crc64: meta };
  }
  if (head.crc64 === undefined) return undefined;
  if (item.md5 !== undefined && head.meta['cdb2cos-md5'] !== undefined && head.meta['cdb2cos-md5'] !== item.md5) return undefined;
  const expected = head.meta['cdb2cos-crc64'] ?? recordedCrc64;
  if (expected === undefined || expected !== head.crc64) return undefined;
  return { etag: head.etag, crc64: head.crc64 };
}
