// The S3-compatible destination (Amazon S3, Aliyun OSS, Baidu BOS, MinIO, others) through the official
// @aws-sdk/client-s3: the port's words mapped onto S3's (x-amz-meta-*, its error codes) and, per
// provider, the checksum it proves a stored object with:
//   oss          crc64      x-oss-hash-crc64ecma on every PUT, part, Complete and HEAD reply (decimal)
//   aws, minio   crc64nvme  x-amz-checksum-crc64nvme on each part and PUT, the full-object value on
//                           Complete (type FULL_OBJECT), reported by HeadObject with checksum mode on
//   bos, other   md5        Content-MD5 on every part and PUT; `verify = readback` reads the object back
//
// The SDK's own checksums are off (requestChecksumCalculation and responseChecksumValidation
// WHEN_REQUIRED): its default sends them as aws-chunked trailers, which OSS, BOS and COS's S3 endpoint
// refuse, and we send the checksums we computed while staging anyway. Its retries are off too (the run
// retries with backoff and a budget); every request has a timeout (the SDK's default is none).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Cdb2cosError } from '../../errors.js';
import { newCrc64, crc64ToString, parseCrc64 } from '../../hash/crc64.js';
import { proxyPolicyFromEnv, type ProxyPolicy } from '../../net/proxy.js';
import type { Config } from '../../types.js';
import type { Destination, DestinationChecksum, ListedObject, OpenUpload, SendChecks, StoredReply, UploadedPart } from '../destination.js';
import { httpAgentFor, httpsAgentFor, parseConnectTo } from './connect.js';
import { scrubberFor, toS3Error } from './errors.js';

export type S3Config = NonNullable<Config['s3']>;
export type S3Provider = S3Config['provider'];

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface S3DestinationOptions {
  /** Milliseconds a connection attempt, and a request without progress, may take. */
  timeoutMs: number;
  /** Which proxy, if any, each connection goes through; default: the environment's (src/net/proxy.ts). */
  proxy?: ProxyPolicy | undefined;
  /** Default: cfg.credentials. */
  credentials?: S3Credentials | undefined;
  /** Tests only: the HTTP handler the SDK sends through instead of the agents built here. */
  requestHandler?: S3ClientConfig['requestHandler'];
}

/** How each provider proves what it stored, its smallest part but the last, and most parts. */
export const PROVIDERS: Readonly<Record<S3Provider, { checksum: DestinationChecksum; minPartSize: number; maxParts: number }>> = {
  aws: { checksum: 'crc64nvme', minPartSize: 5 * 1024 * 1024, maxParts: 10_000 },
  minio: { checksum: 'crc64nvme', minPartSize: 5 * 1024 * 1024, maxParts: 10_000 },
  oss: { checksum: 'crc64', minPartSize: 100 * 1024, maxParts: 10_000 },
  bos: { checksum: 'md5', minPartSize: 5 * 1024 * 1024, maxParts: 10_000 },
  other: { checksum: 'md5', minPartSize: 5 * 1024 * 1024, maxParts: 10_000 },
};

const quiet = (): void => undefined;
const SILENT = { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };

/** Raw reply headers, attached to each command's output by the middleware below. */
const RAW_HEADERS = Symbol('cdb2cos.rawHeaders');
type WithHeaders = { [RAW_HEADERS]?: Record<string, string | undefined> };

/** The endpoint the SDK is given: the configured one, or AWS's regional one. */
export function endpointOf(cfg: Pick<S3Config, 'provider' | 'endpoint' | 'region'>): string {
  if (cfg.endpoint !== undefined) return cfg.endpoint;
  return `https://s3.${cfg.region}.amazonaws.com`;
}

export function createS3Destination(cfg: S3Config, opts: S3DestinationOptions): Destination {
  const provider = PROVIDERS[cfg.provider];
  const creds = opts.credentials ?? cfg.credentials;
  const endpoint = new URL(endpointOf(cfg));
  const connectTo = cfg.connectTo !== undefined ? parseConnectTo(cfg.connectTo) : undefined;
  if (cfg.connectTo !== undefined && connectTo === undefined) throw new Cdb2cosError('ERR_CONFIG', 's3.connect_to: must be host:port');
  const scrub = scrubberFor(
    [creds.accessKeyId, creds.secretAccessKey, creds.sessionToken],
    [endpoint.host, endpoint.hostname, `${cfg.bucket}.${endpoint.hostname}`, cfg.connectTo, connectTo?.host],
  );
  const dial = { connectTo, proxy: opts.proxy ?? proxyPolicyFromEnv(), timeoutMs: opts.timeoutMs };
  const agentOpts = { keepAlive: true, maxSockets: 64 };
  const client = new S3Client({
    region: cfg.region,
    endpoint: endpoint.origin,
    forcePathStyle: cfg.pathStyle,
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, ...(creds.sessionToken !== undefined ? { sessionToken: creds.sessionToken } : {}) },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    followRegionRedirects: false,
    // Given rather than looked up: left unset, the SDK reads them from AWS_* variables and ~/.aws/config,
    // and defaults_mode = auto there would even ask the EC2 metadata address where it runs.
    defaultsMode: 'standard',
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
    useArnRegion: false,
    disableS3ExpressSessionAuth: true,
    // Not the SDK's NoOpLogger: with that it warns on the console about every failed streaming upload.
    logger: SILENT,
    requestHandler: opts.requestHandler ?? {
      httpAgent: httpAgentFor(dial, agentOpts),
      httpsAgent: httpsAgentFor(dial, agentOpts),
      connectionTimeout: opts.timeoutMs,
      // Idle time: a part of gigabytes may take longer than this in all, but never this long without a byte.
      socketTimeout: opts.timeoutMs,
    },
  });
  // The SDK's outputs carry only the headers its model names; x-oss-hash-crc64ecma is not one of them.
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const headers = (result.response as { headers?: Record<string, string | undefined> } | undefined)?.headers;
      if (headers && typeof result.output === 'object' && result.output !== null) {
        Object.defineProperty(result.output, RAW_HEADERS, { value: headers, enumerable: false });
      }
      return result;
    },
    { step: 'initialize', name: 'cdb2cosRawHeaders', priority: 'high' },
  );

  const Bucket = cfg.bucket;
  const speaksNvme = provider.checksum === 'crc64nvme';

  async function send<T>(op: string, what: string, command: { input: unknown }): Promise<T & WithHeaders> {
    try {
      return (await client.send(command as never)) as unknown as T & WithHeaders;
    } catch (err) {
      throw toS3Error(op, what, err, scrub);
    }
  }

  /** The OSS reply's CRC-64/ECMA, as the decimal string the port uses. */
  function crc64Of(out: WithHeaders, op: string, key: string): string | undefined {
    if (cfg.provider !== 'oss') return undefined;
    const raw = out[RAW_HEADERS]?.['x-oss-hash-crc64ecma'];
    if (raw === undefined || raw === '') return undefined;
    try {
      return crc64ToString(parseCrc64(raw));
    } catch {
      throw new Cdb2cosError('ERR_VERIFY', `S3 ${op} ${key}: unreadable x-oss-hash-crc64ecma in the reply`);
    }
  }

  const objectParams = (meta: Record<string, string>): Record<string, unknown> => ({
    Metadata: meta,
    ...(cfg.storageClass !== undefined ? { StorageClass: cfg.storageClass } : {}),
    ...(cfg.sse !== undefined ? { ServerSideEncryption: cfg.sse } : {}),
    ...(cfg.kmsKeyId !== undefined ? { SSEKMSKeyId: cfg.kmsKeyId } : {}),
    ...(cfg.tags !== undefined ? { Tagging: cfg.tags } : {}),
  });
  const checkParams = (checks: SendChecks | undefined): Record<string, unknown> => ({
    ...(checks?.md5Base64 !== undefined ? { ContentMD5: checks.md5Base64 } : {}),
    ...(speaksNvme && checks?.crc64nvme !== undefined ? { ChecksumCRC64NVME: checks.crc64nvme } : {}),
  });

  /** Reads the whole object back and hashes it: what `verify = readback` compares. */
  async function readBack(key: string): Promise<{ crc64: string; size: number }> {
    const out = await send<{ Body?: Readable }>('GetObject', key, new GetObjectCommand({ Bucket, Key: key }));
    const h = newCrc64();
    let size = 0;
    try {
      for await (const chunk of out.Body ?? []) {
        size += (chunk as Buffer).length;
        h.update(chunk as Buffer);
      }
    } catch (err) {
      throw toS3Error('GetObject', key, err, scrub);
    }
    return { crc64: crc64ToString(h.digest()), size };
  }

  async function afterStore(op: string, key: string, reply: StoredReply, expected: { crc64?: string | undefined; size?: number }): Promise<StoredReply> {
    if (cfg.verify !== 'readback') return reply;
    const back = await readBack(key);
    if (expected.size !== undefined && back.size !== expected.size) {
      throw new Cdb2cosError('ERR_VERIFY', `S3 ${op} ${key}: read back ${back.size} bytes, ${expected.size} were uploaded`);
    }
    if (expected.crc64 !== undefined && back.crc64 !== expected.crc64) {
      throw new Cdb2cosError('ERR_VERIFY', `S3 ${op} ${key}: the object read back has CRC-64 ${back.crc64}, ${expected.crc64} was uploaded`);
    }
    // The CRC-64 of the bytes read back: the caller compares it with what it staged.
    return { ...reply, crc64: back.crc64 };
  }

  return {
    kind: 's3',
    label: `s3://${cfg.bucket}`,
    prefix: cfg.prefix,
    keyTemplate: cfg.key,
    checksum: provider.checksum,
    minPartSize: provider.minPartSize,
    maxParts: provider.maxParts,

    async probe() {
      try {
        await send('HeadBucket', cfg.bucket, new HeadBucketCommand({ Bucket }));
      } catch (err) {
        throw s3BucketError(err, cfg);
      }
    },

    async listObjects(prefix) {
      const objects: ListedObject[] = [];
      let token: string | undefined;
      let pages = 0;
      for (;;) {
        const out = await send<{ Contents?: Array<{ Key?: string; Size?: number; ETag?: string; LastModified?: Date }>; IsTruncated?: boolean; NextContinuationToken?: string }>(
          'ListObjectsV2',
          prefix,
          new ListObjectsV2Command({ Bucket, Prefix: prefix, MaxKeys: 1000, ...(token !== undefined ? { ContinuationToken: token } : {}) }),
        );
        pages++;
        for (const c of out.Contents ?? []) {
          objects.push({ key: c.Key ?? '', size: Number(c.Size ?? 0), etag: c.ETag ?? '', lastModified: c.LastModified?.toISOString() ?? '' });
        }
        if (out.IsTruncated !== true) break;
        if (!out.NextContinuationToken || out.NextContinuationToken === token) {
          throw new Cdb2cosError('ERR_SERVER', `S3 ListObjectsV2 ${prefix}: truncated listing without a usable NextContinuationToken`, { retryable: true });
        }
        token = out.NextContinuationToken;
      }
      return { objects, pages };
    },

    async headObject(key) {
      try {
        const out = await send<{ ContentLength?: number; ETag?: string; Metadata?: Record<string, string>; ChecksumCRC64NVME?: string }>(
          'HeadObject',
          key,
          new HeadObjectCommand({ Bucket, Key: key, ...(speaksNvme ? { ChecksumMode: 'ENABLED' } : {}) }),
        );
        return {
          size: Number(out.ContentLength ?? 0),
          etag: out.ETag ?? '',
          crc64: crc64Of(out, 'HeadObject', key),
          ...(speaksNvme ? { crc64nvme: out.ChecksumCRC64NVME } : {}),
          meta: { ...(out.Metadata ?? {}) },
        };
      } catch (err) {
        if (err instanceof Cdb2cosError && err.serviceCode === 'NoSuchKey') return undefined;
        throw err;
      }
    },

    async getObjectText(key) {
      try {
        const out = await send<{ Body?: { transformToString(enc?: string): Promise<string> } }>('GetObject', key, new GetObjectCommand({ Bucket, Key: key }));
        return (await out.Body?.transformToString('utf8')) ?? '';
      } catch (err) {
        const e = err instanceof Cdb2cosError ? err : toS3Error('GetObject', key, err, scrub);
        if (e.serviceCode === 'NoSuchKey') return undefined;
        throw e;
      }
    },

    async readObjectRange(key, start, end, onData) {
      const out = await send<{ Body?: Readable }>('GetObject', key, new GetObjectCommand({ Bucket, Key: key, Range: `bytes=${start}-${end}` }));
      let bytes = 0;
      try {
        for await (const chunk of out.Body ?? []) {
          bytes += (chunk as Buffer).length;
          onData(chunk as Buffer);
        }
      } catch (err) {
        throw toS3Error('GetObject', key, err, scrub);
      }
      return bytes;
    },

    async putObject(key, body, size, meta, checks) {
      const out = await send<{ ETag?: string }>(
        'PutObject',
        key,
        new PutObjectCommand({ Bucket, Key: key, Body: body, ContentLength: size, ...objectParams(meta), ...checkParams(checks) } as never),
      );
      const reply = { etag: out.ETag ?? '', crc64: crc64Of(out, 'PutObject', key) };
      return afterStore('PutObject', key, reply, { crc64: meta['cdb2cos-crc64'], size });
    },

    async putText(key, text) {
      const body = Buffer.from(text, 'utf8');
      await send('PutObject', key, new PutObjectCommand({ Bucket, Key: key, Body: body, ContentLength: body.length, ContentType: 'application/json', ContentMD5: createHash('md5').update(body).digest('base64') }));
    },

    async initUpload(key, meta) {
      const out = await send<{ UploadId?: string }>(
        'CreateMultipartUpload',
        key,
        new CreateMultipartUploadCommand({ Bucket, Key: key, ...objectParams(meta), ...(speaksNvme ? { ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'FULL_OBJECT' } : {}) } as never),
      );
      if (!out.UploadId) throw new Cdb2cosError('ERR_SERVER', `S3 CreateMultipartUpload ${key}: no UploadId in reply`, { retryable: true });
      return out.UploadId;
    },

    async uploadPart(key, uploadId, partNumber, body, size, checks) {
      const out = await send<{ ETag?: string }>(
        'UploadPart',
        `${key} part ${partNumber}`,
        new UploadPartCommand({ Bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: size, ...checkParams(checks) } as never),
      );
      return { etag: out.ETag ?? '', crc64: crc64Of(out, 'UploadPart', key) };
    },

    async listParts(key, uploadId) {
      const parts: UploadedPart[] = [];
      let marker: string | undefined;
      for (;;) {
        const out = await send<{ Parts?: Array<{ PartNumber?: number; ETag?: string; Size?: number }>; IsTruncated?: boolean; NextPartNumberMarker?: string }>(
          'ListParts',
          key,
          new ListPartsCommand({ Bucket, Key: key, UploadId: uploadId, MaxParts: 1000, ...(marker !== undefined ? { PartNumberMarker: marker } : {}) }),
        );
        const list = out.Parts ?? [];
        for (const p of list) parts.push({ partNumber: Number(p.PartNumber), etag: p.ETag ?? '', size: Number(p.Size ?? 0) });
        if (out.IsTruncated !== true || list.length === 0) break;
        const next = String(out.NextPartNumberMarker ?? list[list.length - 1]?.PartNumber ?? '');
        if (!/^\d+$/.test(next) || next === marker) {
          throw new Cdb2cosError('ERR_SERVER', `S3 ListParts ${key}: truncated listing without a usable NextPartNumberMarker`, { retryable: true });
        }
        marker = next;
      }
      return parts;
    },

    async complete(key, uploadId, parts, checks) {
      const out = await send<{ ETag?: string }>(
        'CompleteMultipartUpload',
        key,
        new CompleteMultipartUploadCommand({
          Bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          ...(speaksNvme && checks?.crc64nvme !== undefined ? { ChecksumCRC64NVME: checks.crc64nvme, ChecksumType: 'FULL_OBJECT' } : {}),
        } as never),
      );
      return afterStore('CompleteMultipartUpload', key, { etag: out.ETag ?? '', crc64: crc64Of(out, 'CompleteMultipartUpload', key) }, {});
    },

    async abort(key, uploadId) {
      try {
        await send('AbortMultipartUpload', key, new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId }));
      } catch (err) {
        if (err instanceof Cdb2cosError && err.serviceCode === 'NoSuchUpload') return;
        throw err;
      }
    },

    async listUploads(prefix) {
      const uploads: OpenUpload[] = [];
      let markers: Record<string, string> = {};
      for (;;) {
        const out = await send<{ Uploads?: Array<{ Key?: string; UploadId?: string; Initiated?: Date }>; IsTruncated?: boolean; NextKeyMarker?: string; NextUploadIdMarker?: string }>(
          'ListMultipartUploads',
          prefix,
          new ListMultipartUploadsCommand({ Bucket, Prefix: prefix, MaxUploads: 1000, ...markers }),
        );
        const list = out.Uploads ?? [];
        for (const u of list) uploads.push({ key: u.Key ?? '', uploadId: u.UploadId ?? '', initiated: u.Initiated?.toISOString() ?? '' });
        if (out.IsTruncated !== true || list.length === 0) break;
        if (!out.NextKeyMarker) throw new Cdb2cosError('ERR_SERVER', `S3 ListMultipartUploads ${prefix}: truncated listing without a NextKeyMarker`, { retryable: true });
        markers = { KeyMarker: out.NextKeyMarker, ...(out.NextUploadIdMarker ? { UploadIdMarker: out.NextUploadIdMarker } : {}) };
      }
      return uploads;
    },

    async deleteObject(key) {
      await send('DeleteObject', key, new DeleteObjectCommand({ Bucket, Key: key }));
    },
  };
}

/** A HEAD Bucket refusal in the user's words: a missing bucket or wrong region is a config error, a denial names the keys. */
export function s3BucketError(err: unknown, cfg: Pick<S3Config, 'bucket' | 'provider' | 'region'>): unknown {
  if (!(err instanceof Cdb2cosError)) return err;
  const o = { cause: err, ...(err.serviceCode !== undefined ? { serviceCode: err.serviceCode } : {}) };
  if (err.code === 'ERR_NOT_FOUND') return new Cdb2cosError('ERR_CONFIG', `s3.bucket: bucket ${cfg.bucket} does not exist (provider ${cfg.provider}, region ${cfg.region})`, o);
  if (err.serviceCode === 'PermanentRedirect' || err.serviceCode === 'AuthorizationHeaderMalformed') {
    return new Cdb2cosError('ERR_CONFIG', `s3.region: bucket ${cfg.bucket} is not in region ${cfg.region} (or s3.endpoint is not its region's)`, o);
  }
  if (err.code === 'ERR_PERMISSION') {
    return new Cdb2cosError('ERR_PERMISSION', `S3 denied access to bucket ${cfg.bucket}: check s3.access_key_id / s3.secret_access_key (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and their permissions on the bucket`, o);
  }
  return err;
}
