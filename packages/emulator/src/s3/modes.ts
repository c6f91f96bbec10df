// The S3-compatible services the emulator plays, one bucket each, and where they differ. Facts about the
// providers (checked against their documentation where it says; "unsure" where it does not):
// - Aliyun OSS's S3 endpoint answers virtual-host requests only (path style: 403 SecondLevelDomainForbidden),
//   refuses aws-chunked bodies (400 InvalidArgument "aws-chunked encoding is not supported with the
//   specified x-amz-content-sha256 value"), returns x-oss-hash-crc64ecma (CRC-64/XZ, as COS) and takes
//   parts of 100 KiB and more.
// - Amazon S3 and MinIO take both address styles, aws-chunked bodies with trailing checksums, the flexible
//   checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256; full-object CRC64NVME) and parts of 5 MiB and more.
// - Baidu BOS's S3 endpoint and "other" (a generic S3-compatible service: COS's S3 endpoint, Ceph, …):
//   MD5 ETags only, no flexible checksums, no aws-chunked (unsure for BOS: refused, the strict choice).

export const S3_MODES = ['aws', 'oss', 'bos', 'minio', 'other'] as const;
export type S3Mode = (typeof S3_MODES)[number];

const KiB = 1024;
const MiB = 1024 * KiB;

export interface S3ModeRules {
  /** Path-style requests (/<bucket>/<key>) accepted. */
  pathStyle: boolean;
  /** aws-chunked bodies (STREAMING-UNSIGNED-PAYLOAD-TRAILER) accepted. */
  awsChunked: boolean;
  /** x-amz-checksum-* headers, trailers and full-object checksums. */
  flexibleChecksums: boolean;
  /** x-oss-hash-crc64ecma on uploads, HEAD and GET. */
  ossCrc64: boolean;
  /** Smallest part but the last at CompleteMultipartUpload. */
  minPartBytes: number;
  /** x-amz-storage-class values accepted (unsure beyond STANDARD for OSS/BOS/other: their S3 mappings). */
  storageClasses: readonly string[];
  /** Server header, as the provider names itself. */
  server: string;
}

export const S3_MODE_RULES: Record<S3Mode, S3ModeRules> = {
  aws: {
    pathStyle: true,
    awsChunked: true,
    flexibleChecksums: true,
    ossCrc64: false,
    minPartBytes: 5 * MiB,
    storageClasses: ['STANDARD', 'REDUCED_REDUNDANCY', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER', 'DEEP_ARCHIVE', 'GLACIER_IR'],
    server: 'AmazonS3',
  },
  oss: {
    pathStyle: false,
    awsChunked: false,
    flexibleChecksums: false,
    ossCrc64: true,
    minPartBytes: 100 * KiB,
    storageClasses: ['STANDARD', 'STANDARD_IA', 'GLACIER', 'DEEP_ARCHIVE'],
    server: 'AliyunOSS',
  },
  bos: {
    pathStyle: true,
    awsChunked: false,
    flexibleChecksums: false,
    ossCrc64: false,
    minPartBytes: 5 * MiB,
    storageClasses: ['STANDARD', 'STANDARD_IA', 'GLACIER', 'DEEP_ARCHIVE'],
    server: 'BceBos',
  },
  minio: {
    pathStyle: true,
    awsChunked: true,
    flexibleChecksums: true,
    ossCrc64: false,
    minPartBytes: 5 * MiB,
    storageClasses: ['STANDARD', 'REDUCED_REDUNDANCY'],
    server: 'MinIO',
  },
  other: {
    pathStyle: true,
    awsChunked: false,
    flexibleChecksums: false,
    ossCrc64: false,
    minPartBytes: 5 * MiB,
    storageClasses: ['STANDARD', 'STANDARD_IA', 'GLACIER', 'DEEP_ARCHIVE'],
    server: 'S3Compatible',
  },
};

/** Storage classes whose objects must be restored before a GET (403 InvalidObjectState). */
export const COLD_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE']);

export const DEMO_S3_BUCKETS: Record<S3Mode, string> = {
  aws: 'cdb2cos-aws',
  oss: 'cdb2cos-oss',
  bos: 'cdb2cos-bos',
  minio: 'cdb2cos-minio',
  other: 'cdb2cos-other',
};

export const DEMO_S3_REGIONS: Record<S3Mode, string> = {
  aws: 'us-east-1',
  oss: 'cn-hangzhou',
  bos: 'bj',
  minio: 'us-east-1',
  other: 'us-east-1',
};

/** The host a client's config names for each provider; undefined: the emulator's own 127.0.0.1:port. */
export const DEMO_S3_ENDPOINT_HOSTS: Record<S3Mode, string | undefined> = {
  aws: 's3.us-east-1.amazonaws.com',
  oss: 's3.oss-cn-hangzhou.aliyuncs.com',
  bos: 's3.bj.bcebos.com',
  minio: undefined,
  other: undefined,
};

export const DEMO_S3_ACCESS_KEY_ID = 'AKIACDB2COSEMULATOR0';
export const DEMO_S3_SECRET_ACCESS_KEY = 'cdb2cosEmulatorS3Secret0Key9Lq7Vx2Mn4Rt6Wz';
