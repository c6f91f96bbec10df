// The S3 part of the local emulator (provider modes aws, oss, bos, minio, other). The composition in
// packages/emulator/src/index.ts hands it requests from its own server; startS3Server runs it alone.
import { servePart, type PartServer } from '../serve.js';
import { S3Emulator, type S3EmulatorOptions } from './emulator.js';

export { S3Emulator, S3Faults, S3_LIMITS } from './emulator.js';
export type { S3BucketSpec, S3EmulatorOptions, S3ObjectInfo, S3RequestRecord, S3UploadInfo } from './emulator.js';
export {
  S3_MODES,
  S3_MODE_RULES,
  DEMO_S3_BUCKETS,
  DEMO_S3_REGIONS,
  DEMO_S3_ENDPOINT_HOSTS,
  DEMO_S3_ACCESS_KEY_ID,
  DEMO_S3_SECRET_ACCESS_KEY,
  type S3Mode,
  type S3ModeRules,
} from './modes.js';
export type { S3Op } from './query.js';
export type { S3Credential } from './sigv4.js';
export { verifySigV4, uriEncode, canonicalQuery, signatureOf } from './sigv4.js';
export { CHECKSUM_ALGORITHMS, checksumOf, combineCrcs, type ChecksumAlgorithm } from './checksums.js';

export type S3Server = PartServer<S3Emulator>;

/** Runs the S3 emulator alone on 127.0.0.1 (port 0 = any free port). */
export function startS3Server(opts: S3EmulatorOptions & { port?: number }): Promise<S3Server> {
  return servePart(new S3Emulator(opts), opts.port);
}
