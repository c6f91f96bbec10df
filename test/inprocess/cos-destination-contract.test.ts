// The destination contract against the COS adapter (src/destinations/cos.ts) over the COS emulator,
// started in this process: what the memory fake is held to is what COS does.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCosApi } from '../../src/cos/client.js';
import { cosDestination } from '../../src/destinations/cos.js';
import type { Config } from '../../src/types.js';
import { startCosServer } from '@cdb2cos/emulator/cos';
import { destinationContract } from './destination-contract.js';

for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete process.env[k];

const BUCKET = 'backup-1250000000';
const REGION = 'ap-guangzhou';
const CRED = { secretId: 'AKIDemulatortest', secretKey: 'emulator-secret-key' };

destinationContract('COS adapter over the emulator', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cdb2cos-contract-'));
  const server = await startCosServer({ dataDir: dir, credentials: [CRED], buckets: [{ name: BUCKET, region: REGION }], hashThreads: 0 });
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const api = createCosApi({ bucket: BUCKET, region: REGION, credentials: CRED, endpoint: `http://127.0.0.1:${server.port}`, timeoutMs: 30_000 });
  const cfg: Config['cos'] = { region: REGION, bucket: BUCKET, prefix: 'bk/', key: '{prefix}{instance}/{type}/{name}', storageClass: 'STANDARD', sse: undefined, kmsKeyId: undefined, tags: undefined, endpoint: undefined };
  return { dest: cosDestination(api, cfg) };
});
