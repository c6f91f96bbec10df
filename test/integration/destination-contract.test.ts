// The destination contract (test/helpers/destination-contract.ts) against the real adapters and the
// emulator: COS, and the S3 adapter in each of the emulator's provider modes.
// The emulator is loaded from this checkout's build by path, not as '@cdb2cos/emulator' (which resolves
// to the main checkout's copy): switch back to the package name once both are the same.
import { createCosApi } from '../../src/cos/client.js';
import { cosDestination } from '../../src/destinations/cos.js';
import { createS3Destination } from '../../src/destinations/s3/index.js';
import { destinationContract } from '../helpers/destination-contract.js';
import { s3ConfigFor } from '../helpers/s3-config.js';
import * as emu from '@cdb2cos/emulator';

for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete process.env[k];

const NO_PROXY = { proxyFor: () => undefined };
/** The listings past 1000 objects take ~1000 signed PUTs each (5–15 s here): only with CDB2COS_SLOW=1. */
const SLOW = process.env['CDB2COS_SLOW'] === '1';

destinationContract(
  'cos (emulator)',
  async () => {
    const e = await emu.startEmulator({ instances: [] });
    const cfg = { region: e.info.cosRegion, bucket: e.info.bucket, prefix: '', key: '{prefix}{name}', storageClass: 'STANDARD', sse: undefined, kmsKeyId: undefined, tags: undefined, endpoint: e.info.cosEndpoint };
    const api = createCosApi({ credentials: { secretId: e.info.secretId, secretKey: e.info.secretKey }, region: cfg.region, bucket: cfg.bucket, endpoint: cfg.endpoint, timeoutMs: 30_000, proxy: NO_PROXY });
    return { dest: cosDestination(api, cfg), close: () => e.close() };
  },
  { paging: SLOW },
);


for (const mode of emu.S3_MODES) {
  destinationContract(
    `s3 ${mode} (emulator)`,
    async () => {
      const e = await emu.startEmulator({ instances: [] });
      return { dest: createS3Destination(s3ConfigFor(e, mode), { timeoutMs: 30_000, proxy: NO_PROXY }), close: () => e.close() };
    },
    { paging: SLOW },
  );
}
