// The [s3] config (as the config reader would give it) for one of the emulator's S3 provider modes:
// shared by the tests that build an S3 destination straight from the emulator.
import type { S3Config } from '../../src/destinations/s3/index.js';
import type * as Emu from '@cdb2cos/emulator';

export function s3ConfigFor(e: Emu.Emulator, mode: Emu.S3Mode, over: Partial<S3Config> = {}): S3Config {
  const m = e.info.s3[mode];
  return {
    provider: mode,
    endpoint: m.endpoint,
    region: m.region,
    bucket: m.bucket,
    credentials: { accessKeyId: e.info.s3AccessKeyId, secretAccessKey: e.info.s3SecretAccessKey },
    pathStyle: mode === 'minio',
    connectTo: m.connectTo,
    prefix: '',
    key: '{prefix}{name}',
    storageClass: undefined,
    sse: undefined,
    kmsKeyId: undefined,
    tags: undefined,
    verify: 'checksum',
    ...over,
  };
}
