// The COS part of the local emulator. The composition in packages/emulator/src/index.ts hands it requests from
// its own server; startCosServer runs it alone (tests, benchmarks).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CosEmulator, type CosEmulatorOptions } from './emulator.js';

export { CosEmulator, COS_LIMITS, STORAGE_CLASSES, parseRange } from './emulator.js';
export type { CosEmulatorOptions, CosObjectInfo, CosRequestRecord, CosUploadInfo } from './emulator.js';
export { CosFaults } from './faults.js';
export type { CosOp, OpFailure, PartCorruption, PartFailure, PartReset, ReplyDrop } from './faults.js';
export { camSafeUrlEncode, computeSignature } from './auth.js';

export interface CosServer {
  emulator: CosEmulator;
  /** http://127.0.0.1:PORT */
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 only (port 0 = any free port). */
export async function startCosServer(opts: CosEmulatorOptions & { port?: number }): Promise<CosServer> {
  const emulator = new CosEmulator(opts);
  const server = createServer((req, res) => emulator.handle(req, res));
  // Parts of several GiB may take minutes; the SDK keeps sockets alive between requests.
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
