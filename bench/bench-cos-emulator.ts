// Upload throughput of the COS emulator: 1 GiB as 64 parts of 16 MiB, 4 in flight, over loopback with
// plain node:http requests signed by the SDK's static COS.getAuthorization. Run by hand:
//   npx tsc -p . && node dist/bench/bench-cos-emulator.js [--inline] [--parts 64] [--part-mib 16] [--parallel 4]
// By default the emulator runs in a worker thread, as it would in its own process next to cdb2cos;
// --inline puts client and emulator on one thread (the worst case).
import COS from 'cos-nodejs-sdk-v5';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { startCosServer } from '@cdb2cos/emulator/cos';
import { crc64Combine, crc64OfBuffer, crc64ToString } from '../src/hash/crc64.js';

const BUCKET = 'bench-1250000000';
const REGION = 'ap-guangzhou';
const CRED = { secretId: 'AKIDbench', secretKey: 'bench-secret' };

interface ServerInfo {
  port: number;
}

async function runServer(dataDir: string): Promise<{ port: number; close(): Promise<void> }> {
  const s = await startCosServer({ dataDir, credentials: [CRED], buckets: [{ name: BUCKET, region: REGION }] });
  return { port: s.port, close: () => s.close() };
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(agent: Agent, port: number, method: COS.Method, key: string, query: Record<string, string>, body?: Buffer): Promise<Reply> {
  const host = `${BUCKET}.cos.${REGION}.myqcloud.com`;
  const headers: Record<string, string> = { Host: host, 'Content-Length': String(body?.length ?? 0) };
  const auth = COS.getAuthorization({
    SecretId: CRED.secretId,
    SecretKey: CRED.secretKey,
    Method: method,
    Key: key,
    Query: query,
    Headers: headers,
  });
  const qs = Object.entries(query)
    .map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
    .join('&');
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: '127.0.0.1', port, method, path: `/${encodeURIComponent(key)}${qs === '' ? '' : '?' + qs}`, headers: { ...headers, Authorization: auth } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const parts = arg('--parts', 64);
  const partSize = arg('--part-mib', 16) * 1024 * 1024;
  const parallel = arg('--parallel', 4);
  const inline = process.argv.includes('--inline');
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-cos-'));
  let port: number;
  let stop: () => Promise<void>;
  if (inline) {
    const s = await runServer(dataDir);
    port = s.port;
    stop = s.close;
  } else {
    const worker = new Worker(new URL(import.meta.url), { workerData: { dataDir } });
    port = await new Promise<number>((resolve, reject) => {
      worker.once('message', (m: ServerInfo) => resolve(m.port));
      worker.once('error', reject);
    });
    stop = async () => {
      worker.postMessage('stop');
      await new Promise((r) => worker.once('exit', r));
    };
  }

  // Distinct bodies so nothing upstream can shortcut on repeated content.
  const bodies = Array.from({ length: parallel }, () => randomFillSync(Buffer.allocUnsafe(partSize)));
  const agent = new Agent({ keepAlive: true, maxSockets: parallel });
  const key = 'bench/1GiB.bin';
  const init = await send(agent, port, 'POST', key, { uploads: '' });
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(init.body)?.[1];
  if (init.status !== 200 || uploadId === undefined) throw new Error(`initiate failed: ${init.status} ${init.body}`);

  const etags: string[] = [];
  const lanes: number[] = [];
  let next = 1;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async (_, lane) => {
      for (let n = next++; n <= parts; n = next++) {
        const r = await send(agent, port, 'PUT', key, { partNumber: String(n), uploadId }, bodies[lane]!);
        if (r.status !== 200) throw new Error(`part ${n}: ${r.status} ${r.body}`);
        etags[n - 1] = String(r.headers.etag);
        lanes[n - 1] = lane;
      }
    }),
  );
  const uploadMs = performance.now() - t0;
  const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
  const t1 = performance.now();
  const done = await send(agent, port, 'POST', key, { uploadId }, Buffer.from(xml));
  const completeMs = performance.now() - t1;
  if (done.status !== 200) throw new Error(`complete failed: ${done.status} ${done.body}`);

  // The object's CRC64 must be the combination of its parts' (computed here, outside the timing).
  const laneCrcs = await Promise.all(bodies.map((b) => crc64OfBuffer(b)));
  let expected = 0n;
  for (const lane of lanes) expected = crc64Combine(expected, laneCrcs[lane]!, partSize);
  const crcOk = done.headers['x-cos-hash-crc64ecma'] === crc64ToString(expected);

  const total = parts * partSize;
  const mbps = total / 1e6 / (uploadMs / 1000);
  console.log(
    `uploaded ${(total / 2 ** 20).toFixed(0)} MiB as ${parts} × ${(partSize / 2 ** 20).toFixed(0)} MiB, ${parallel} in flight` +
      ` (${inline ? 'emulator inline' : 'emulator in a worker'}): ${(uploadMs / 1000).toFixed(2)} s, ${mbps.toFixed(0)} MB/s` +
      ` (${(mbps / 1.048576).toFixed(0)} MiB/s); complete ${completeMs.toFixed(0)} ms, crc64 ${crcOk ? 'ok' : 'MISMATCH'}`,
  );
  agent.destroy();
  await stop();
  if (!crcOk) process.exitCode = 1;
  rmSync(dataDir, { recursive: true, force: true });
}

if (isMainThread) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
} else {
  const { dataDir } = workerData as { dataDir: string };
  const s = await runServer(dataDir);
  parentPort!.postMessage({ port: s.port } satisfies ServerInfo);
  parentPort!.once('message', () => {
    void s.close().then(() => process.exit(0));
  });
}
