// Our multipart contract (./destination-contract.ts) against the real adapters over the emulator, started
// in this process: COS, and the S3 adapter in each provider mode. What the memory fake refuses, they
// refuse; the shared suite (test/helpers/destination-contract.ts) runs against them in the integration tier.
import { createCosApi } from '../../src/cos/client.js';
import { cosDestination } from '../../src/destinations/cos.js';
import { createS3Destination } from '../../src/destinations/s3/index.js';
import * as emu from '@cdb2cos/emulator';
import { s3ConfigFor } from '../helpers/s3-config.js';
import { multipartContract } from './destination-contract.js';

for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete process.env[k];

const NO_PROXY = { proxyFor: () => undefined };

multipartContract('COS adapter (emulator)', async (t) => {
  const e = await emu.startEmulator({ instances: [] });
  t.after(() => e.close());
  const cfg = { region: e.info.cosRegion, bucket: e.info.bucket, prefix: 'bk/', key: '{prefix}{name}', storageClass: 'STANDARD', sse: undefined, kmsKeyId: undefined, tags: undefined, endpoint: e.info.cosEndpoint };
  const api = createCosApi({ credentials: { secretId: e.info.secretId, secretKey: e.info.secretKey }, region: cfg.region, bucket: cfg.bucket, endpoint: cfg.endpoint, timeoutMs: 30_000, proxy: NO_PROXY });
  return { dest: cosDestination(api, cfg) };
});

for (const mode of emu.S3_MODES) {
  multipartContract(`S3 adapter, ${mode} (emulator)`, async (t) => {
    const e = await emu.startEmulator({ instances: [] });
    t.after(() => e.close());
    const dest = createS3Destination(
      s3ConfigFor(e, mode),
      { timeoutMs: 30_000, proxy: NO_PROXY },
    );
    return { dest };
  });
}
