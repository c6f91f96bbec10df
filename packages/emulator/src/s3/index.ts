// The S3 part of the local emulator (provider modes aws, oss, bos, minio, other). The composition in
// packages/emulator/src/index.ts hands it requests from its own server; startS3Server runs it alone.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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

export interface S3Server {
  emulator: S3Emulator;
  /** http://127.0.0.1:PORT */
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 only (port 0 = any free port). */
export async function startS3Server(opts: S3EmulatorOptions & { port?: number }): Promise<S3Server> {
  const emulator = new S3Emulator(opts);
  const server = createServer({ noDelay: true }, (req, res) => emulator.handle(req, res));
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    emulator,
    endpoint: `http://127.0.0.1:${port}`,
    port,
    close(): Promise<void> {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await emulator.close();
      })();
      return closing;
    },
  };
}
