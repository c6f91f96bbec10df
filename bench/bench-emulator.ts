// Throughput of the emulator on loopback, client and emulator in this one process (the worst case):
//  - download: a 2 GiB backup listed through the official CDB SDK, read over 4 parallel ranged
//    connections with undici (target ≥ 300 MB/s unthrottled);
//  - upload: 1 GiB into the emulated COS bucket as 16 MiB parts, 4 in flight, signed with
//    cos-nodejs-sdk-v5's static COS.getAuthorization.
// Run: npx tsc -p . && node dist/bench/bench-emulator.js [--gib 2] [--connections 4] [--no-upload]
import COS from 'cos-nodejs-sdk-v5';
import { createRequire } from 'node:module';
import { Agent, request } from 'undici';
import { contentAt, startEmulator, type Emulator } from '@cdb2cos/emulator';

delete process.env['http_proxy'];
delete process.env['HTTP_PROXY'];
const require = createRequire(import.meta.url);
const { cdb } = require('tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js') as typeof import('tencentcloud-sdk-nodejs/tencentcloud/services/cdb/index.js');

const GiB = 2 ** 30;
const MiB = 2 ** 20;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const rate = (bytes: number, ms: number): string => {
  const mbps = bytes / 1e6 / (ms / 1000);
  return `${(ms / 1000).toFixed(2)} s, ${mbps.toFixed(0)} MB/s (${(mbps / 1.048576).toFixed(0)} MiB/s)`;
};

async function benchDownload(emu: Emulator, size: number, connections: number): Promise<void> {
  const instance = 'cdb-bench0001';
  emu.addItems(instance, [{ type: 'data', name: 'bench.xb', size, md5: false }]);
  // The CRC64 would otherwise be computed in a worker while we measure (the server starts it on the
  // first GET); compute it first so the number below is the transfer alone.
  const t = performance.now();
  const crc = await emu.expectedContent(instance, 'data', 'bench.xb').crc64();
  console.log(`crc64 of ${(size / GiB).toFixed(2)} GiB computed in ${((performance.now() - t) / 1000).toFixed(2)} s: ${crc}`);

  const client = new cdb.v20170320.Client({
    credential: { secretId: emu.info.secretId, secretKey: emu.info.secretKey },
    region: emu.info.cdbRegion,
    profile: { httpProfile: { endpoint: emu.info.cdbEndpoint.replace('http://', ''), protocol: 'http://', reqTimeout: 10 } },
  });
  const listed = await client.DescribeBackups({ InstanceId: instance });
  const url = listed.Items?.find((i) => i.Name === 'bench.xb')?.InternetUrl;
  if (url === undefined || url === '') throw new Error('the bench item was not listed');

  const agent = new Agent({ connections });
  const span = Math.ceil(size / connections);
  const t0 = performance.now();
  const got = await Promise.all(
    Array.from({ length: connections }, async (_, i) => {
      const start = i * span;
      const end = Math.min(size, start + span);
      const res = await request(url, { dispatcher: agent, headers: { range: `bytes=${start}-${end - 1}` } });
      if (res.statusCode !== 206) throw new Error(`range ${i}: HTTP ${res.statusCode}`);
      let n = 0;
      for await (const chunk of res.body) n += (chunk as Buffer).length;
      if (n !== end - start) throw new Error(`range ${i}: ${n} of ${end - start} bytes`);
      return n;
    }),
  );
  const ms = performance.now() - t0;
  await agent.close();
  const total = got.reduce((a, b) => a + b, 0);
  console.log(`download ${(total / GiB).toFixed(2)} GiB over ${connections} ranged connections: ${rate(total, ms)}`);
}

async function benchUpload(emu: Emulator, size: number, partSize: number, parallel: number): Promise<void> {
  const { bucket, cosRegion, secretId, secretKey } = emu.info;
  const host = `${bucket}.cos.${cosRegion}.myqcloud.com`;
  const agent = new Agent({ connections: parallel });
  const key = 'bench/upload.bin';
  const send = async (method: 'POST' | 'PUT', query: Record<string, string>, body?: Buffer): Promise<{ status: number; headers: Record<string, unknown>; text: string }> => {
    const headers: Record<string, string> = { Host: host, 'Content-Length': String(body?.length ?? 0) };
    const authorization = COS.getAuthorization({ SecretId: secretId, SecretKey: secretKey, Method: method, Key: key, Query: query, Headers: headers });
    const qs = new URLSearchParams(query).toString().replace(/=(&|$)/g, '$1');
    const res = await request(`${emu.info.cosEndpoint}/${key}${qs === '' ? '' : `?${qs}`}`, {
      method,
      dispatcher: agent,
      headers: { host, 'content-length': headers['Content-Length']!, authorization },
      ...(body !== undefined ? { body } : {}),
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  const init = await send('POST', { uploads: '' });
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(init.text)?.[1];
  if (init.status !== 200 || uploadId === undefined) throw new Error(`initiate: HTTP ${init.status} ${init.text}`);
  const parts = Math.ceil(size / partSize);
  // Distinct bodies generated up front, so the timing is the transfer and the server's hashing.
  const bodies = Array.from({ length: parallel }, (_, lane) => contentAt(`bench-upload-${lane}`, 0, partSize));
  const etags: string[] = [];
  let next = 1;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async (_, lane) => {
      for (let n = next++; n <= parts; n = next++) {
        const body = bodies[lane]!.subarray(0, Math.min(partSize, size - (n - 1) * partSize));
        const r = await send('PUT', { partNumber: String(n), uploadId }, body);
        if (r.status !== 200) throw new Error(`part ${n}: HTTP ${r.status} ${r.text}`);
        etags[n - 1] = String(r.headers['etag']);
      }
    }),
  );
  const ms = performance.now() - t0;
  const xml = `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
  const done = await send('POST', { uploadId }, Buffer.from(xml));
  if (done.status !== 200 || done.text.includes('<Error>')) throw new Error(`complete: HTTP ${done.status} ${done.text}`);
  await agent.close();
  console.log(`upload ${(size / GiB).toFixed(2)} GiB as ${parts} × ${partSize / MiB} MiB parts, ${parallel} in flight: ${rate(size, ms)}`);
}

async function main(): Promise<void> {
  const size = Math.round(arg('--gib', 2) * GiB);
  const connections = arg('--connections', 4);
  const emu = await startEmulator({ instances: [] });
  try {
    await benchDownload(emu, size, connections);
    if (!process.argv.includes('--no-upload')) await benchUpload(emu, arg('--upload-gib', 1) * GiB, 16 * MiB, 4);
  } finally {
    await emu.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
