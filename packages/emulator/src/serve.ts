// One way to run a part of the emulator (COS, S3) as its own HTTP server on 127.0.0.1, for tests and
// benchmarks that want just that part.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PartServer<E> {
  emulator: E;
  /** http://127.0.0.1:PORT */
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 only (port 0 = any free port); close() ends open connections, then the emulator. */
export async function servePart<E extends { handle(req: IncomingMessage, res: ServerResponse): void; close(): Promise<void> }>(emulator: E, port = 0): Promise<PartServer<E>> {
  const server = createServer({ noDelay: true }, (req, res) => emulator.handle(req, res));
  // Parts of several GiB may take minutes; the SDKs keep sockets alive between requests.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    emulator,
    endpoint: `http://127.0.0.1:${bound}`,
    port: bound,
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
