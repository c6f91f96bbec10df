// The destination port: what a run needs from an object store, in words no vendor owns. An adapter
// (cos.ts, s3/) maps them to its service: its headers, its error codes, its checksums. The run, the item
// copy, the manifests and the commands speak only this.
import type { Readable } from 'node:stream';

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: string;
}

export interface OpenUpload {
  key: string;
  uploadId: string;
  initiated: string;
}

export interface UploadedPart {
  partNumber: number;
  etag: string;
  size: number;
}

export interface ObjectHead {
  size: number;
  etag: string;
  /** CRC-64/ECMA-182 (the XZ variant) of the whole object as the service reports it, decimal; undefined when it reports none. */
  crc64: string | undefined;
  /** Full-object CRC-64/NVME the service reports (S3 with checksum mode), base64 of 8 big-endian bytes. */
  crc64nvme?: string | undefined;
  /** User metadata, names without the vendor's prefix (`cdb2cos-crc64`, not `x-cos-meta-cdb2cos-crc64`). */
  meta: Record<string, string>;
}

/** What the service said it stored, from a PUT, a part or a Complete. */
export interface StoredReply {
  etag: string;
  /** CRC-64/ECMA of what was stored (COS, OSS; S3 with verify = readback, of the bytes read back), decimal; undefined when there is none. */
  crc64: string | undefined;
}

/** Integrity data sent with a body, for the service to check before it stores it. */
export interface SendChecks {
  /** Content-MD5 (base64): the service refuses the body if it differs; its ETag is then this MD5. */
  md5Base64?: string | undefined;
  /** CRC-64/NVME of the body (base64): S3 refuses the body if it differs. */
  crc64nvme?: string | undefined;
}

/**
 * How a destination proves what it stored, each end to end against the bytes staged:
 * - `crc64`: every part and object reply (and HEAD) carries the CRC-64/ECMA of what it stored (COS, OSS);
 *   a reply without one falls back to Content-MD5 for that part.
 * - `crc64nvme`: it checks a CRC-64/NVME sent with each part and the full-object value sent with
 *   Complete, and reports it on HEAD (AWS S3, MinIO).
 * - `md5`: it checks the Content-MD5 sent with every part and PUT; the whole object's CRC-64 and MD5 go in
 *   metadata (BOS, other S3-compatible stores).
 */
export type DestinationChecksum = 'crc64' | 'crc64nvme' | 'md5';

export interface Destination {
  /** Config section: `cos` or `s3`. Names the destination's staging state and its manifests' owner. */
  readonly kind: 'cos' | 's3';
  /** For people: `cos://bucket`, `s3://bucket`. No credentials, no endpoint. */
  readonly label: string;
  /** Always empty or ending in "/". */
  readonly prefix: string;
  /** Object key template with the source's placeholders. */
  readonly keyTemplate: string;
  readonly checksum: DestinationChecksum;
  /** Smallest part but the last, and most parts, of one multipart upload. */
  readonly minPartSize: number;
  readonly maxParts: number;
  /** The bucket is there and ours to write: maps "no such bucket" to ERR_CONFIG and a refusal to ERR_PERMISSION. */
  probe(): Promise<void>;
  listObjects(prefix: string): Promise<{ objects: ListedObject[]; pages: number }>;
  headObject(key: string): Promise<ObjectHead | undefined>;
  getObjectText(key: string): Promise<string | undefined>;
  /** Streams bytes start..end (inclusive) of the object to `onData`, chunk by chunk (nothing held whole); resolves with the byte count. */
  readObjectRange(key: string, start: number, end: number, onData: (chunk: Buffer) => void): Promise<number>;
  /** `meta`: user metadata without the vendor prefix; the adapter adds storage class, encryption and tags from its config. */
  putObject(key: string, body: Readable | Buffer, size: number, meta: Record<string, string>, checks?: SendChecks): Promise<StoredReply>;
  /** A small document of ours (a manifest): JSON, no storage class or tags of the backups. */
  putText(key: string, text: string): Promise<void>;
  /** With checksum `crc64nvme` every upload is created for a full-object CRC-64/NVME, which Complete must carry. */
  initUpload(key: string, meta: Record<string, string>): Promise<string>;
  uploadPart(key: string, uploadId: string, partNumber: number, body: Readable, size: number, checks?: SendChecks): Promise<StoredReply>;
  listParts(key: string, uploadId: string): Promise<UploadedPart[]>;
  /** `checks.crc64nvme`: the full object's CRC-64/NVME, which the service verifies (checksum `crc64nvme`). */
  complete(key: string, uploadId: string, parts: Array<{ partNumber: number; etag: string }>, checks?: SendChecks): Promise<StoredReply>;
  abort(key: string, uploadId: string): Promise<void>;
  listUploads(prefix: string): Promise<OpenUpload[]>;
  deleteObject(key: string): Promise<void>;
}
