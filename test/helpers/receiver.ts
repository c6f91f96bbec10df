// A local HTTP receiver on 127.0.0.1 (port 0) standing in for webhooks, health-check services and a
// Pushgateway: it records every request and answers as the test scripts it (status, body, or never).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** What to do with a request: answer, or hang (never answer, until the receiver closes). */
export type Behaviour = { status: number; body?: string; headers?: Record<string, string> } | 'hang';

export interface Receiver {
  /** http://127.0.0.1:<port> */
  base: string;
  received: Received[];
  /** Requests to a path (without query). */
  to(path: string): Received[];
  /** Sets how requests to a path (without query) are answered; the default is 200 "ok". */
  on(path: string, behaviour: Behaviour | ((req: Received, n: number) => Behaviour)): void;
  close(): Promise<void>;
}

export async function startReceiver(t: { after: (fn: () => Promise<void>) => void }): Promise<Receiver> {
  const received: Received[] = [];
  const rules = new Map<string, Behaviour | ((req: Received, n: number) => Behaviour)>();
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      received.push(r);
      const path = r.url.split('?')[0]!;
      const rule = rules.get(path);
      const n = received.filter((x) => x.url.split('?')[0] === path).length;
      const b: Behaviour = typeof rule === 'function' ? rule(r, n) : (rule ?? { status: 200, body: 'ok' });
      if (b === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(b.status, { 'content-type': 'text/plain', ...b.headers });
      res.end(b.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  return {
    base: `http://127.0.0.1:${port}`,
    received,
    to: (path) => received.filter((r) => r.url.split('?')[0] === path),
    on: (path, b) => rules.set(path, b),
    close,
  };
}
