// The COS destination: the port's words mapped onto COS's (x-cos-* headers, its error codes, its CRC-64
// on every reply). The SDK calls themselves are in src/cos/client.ts.
import type { CosApi } from '../cos/client.js';
import { Cdb2cosError } from '../errors.js';
import type { CosConfig } from '../types.js';
import type { Destination, SendChecks } from './destination.js';

/** COS's smallest part but the last (1 MiB) and most parts of one upload. */
const COS_MIN_PART = 1024 * 1024;
const COS_MAX_PARTS = 10_000;

export function cosDestination(api: CosApi, cfg: CosConfig): Destination {
  const objectHeaders = (meta: Record<string, string>, checks?: SendChecks): Record<string, string> => {
    const h: Record<string, string> = { 'x-cos-storage-class': cfg.storageClass };
    for (const [k, v] of Object.entries(meta)) h[`x-cos-meta-${k}`] = v;
    if (cfg.sse) h['x-cos-server-side-encryption'] = cfg.sse;
    if (cfg.kmsKeyId) h['x-cos-server-side-encryption-cos-kms-key-id'] = cfg.kmsKeyId;
    if (cfg.tags) h['x-cos-tagging'] = cfg.tags;
    if (checks?.md5Base64 !== undefined) h['Content-MD5'] = checks.md5Base64;
    return h;
  };
  return {
    kind: 'cos',
    label: `cos://${cfg.bucket}`,
    prefix: cfg.prefix,
    keyTemplate: cfg.key,
    checksum: 'crc64',
    minPartSize: COS_MIN_PART,
    maxParts: COS_MAX_PARTS,
    async probe() {
      try {
        await api.headBucket();
      } catch (err) {
        throw cosBucketError(err, cfg);
      }
    },
    listObjects: (prefix) => api.listObjects(prefix),
    headObject: (key) => api.headObject(key),
    getObjectText: (key) => api.getObjectText(key),
    readObjectRange: (key, start, end, onData) => api.readObjectRange(key, start, end, onData),
    putObject: (key, body, size, meta, checks) => api.putObject(key, body, size, objectHeaders(meta, checks)),
    async putText(key, text) {
      const body = Buffer.from(text, 'utf8');
      await api.putObject(key, body, body.length, { 'Content-Type': 'application/json' });
    },
    initUpload: (key, meta) => api.initUpload(key, objectHeaders(meta)),
    uploadPart: (key, id, n, body, size, checks) => api.uploadPart(key, id, n, body, size, checks?.md5Base64),
    listParts: (key, id) => api.listParts(key, id),
    complete: (key, id, parts) => api.complete(key, id, parts),
    abort: (key, id) => api.abort(key, id),
    listUploads: (prefix) => api.listUploads(prefix),
    deleteObject: (key) => api.deleteObject(key),
  };
}

/** A HEAD Bucket refusal in the user's words: a missing bucket is a config error, a denial names the keys. */
export function cosBucketError(err: unknown, cfg: Pick<CosConfig, 'bucket' | 'region'>): unknown {
  if (!(err instanceof Cdb2cosError)) return err;
  if (err.code === 'ERR_NOT_FOUND') return new Cdb2cosError('ERR_CONFIG', `cos.bucket: bucket ${cfg.bucket} does not exist in region ${cfg.region}`, { cause: err, serviceCode: err.serviceCode });
  if (err.code === 'ERR_PERMISSION') return new Cdb2cosError('ERR_PERMISSION', `COS denied access to bucket ${cfg.bucket}: check the credentials (secret id and key) and their permissions on the bucket`, { cause: err, serviceCode: err.serviceCode });
  return err;
}
