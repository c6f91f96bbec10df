// What each S3 operation accepts in its query string, as strictly as the COS emulator's query.ts: every
// parameter an operation does not take, a repeated one, an empty or malformed value is 400
// InvalidArgument. Where S3 itself may be laxer (it ignores some unknown parameters) the emulator is
// stricter on purpose: each such case is marked "unsure" below.

export type S3Op =
  | 'HeadBucket'
  | 'ListObjectsV2'
  | 'HeadObject'
  | 'GetObject'
  | 'PutObject'
  | 'DeleteObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'ListParts'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListMultipartUploads'
  | 'Unknown';

export type KnownS3Op = Exclude<S3Op, 'Unknown'>;

export const S3_OPS: readonly KnownS3Op[] = [
  'HeadBucket',
  'ListObjectsV2',
  'HeadObject',
  'GetObject',
  'PutObject',
  'DeleteObject',
  'CreateMultipartUpload',
  'UploadPart',
  'ListParts',
  'CompleteMultipartUpload',
  'AbortMultipartUpload',
  'ListMultipartUploads',
];

/** S3 subresources the emulator does not serve: 501 NotImplemented rather than mistaken for a GET. */
export const UNSUPPORTED_SUBRESOURCES = new Set([
  'acl', 'tagging', 'versions', 'versioning', 'versionId', 'policy', 'policyStatus', 'cors', 'lifecycle', 'website', 'logging',
  'restore', 'select', 'select-type', 'torrent', 'attributes', 'legal-hold', 'retention', 'object-lock', 'encryption',
  'replication', 'notification', 'accelerate', 'analytics', 'inventory', 'metrics', 'intelligent-tiering',
  'ownershipControls', 'publicAccessBlock', 'requestPayment', 'location', 'delete', 'renameObject', 'session',
]);

const OP_PARAMS: Record<KnownS3Op, ReadonlySet<string>> = {
  HeadBucket: new Set(),
  ListObjectsV2: new Set(['list-type', 'prefix', 'delimiter', 'continuation-token', 'max-keys', 'start-after', 'fetch-owner', 'encoding-type']),
  HeadObject: new Set(),
  GetObject: new Set([
    'response-content-type',
    'response-content-language',
    'response-expires',
    'response-cache-control',
    'response-content-disposition',
    'response-content-encoding',
  ]),
  PutObject: new Set(),
  DeleteObject: new Set(),
  CreateMultipartUpload: new Set(['uploads']),
  UploadPart: new Set(['partNumber', 'uploadId']),
  ListParts: new Set(['uploadId', 'max-parts', 'part-number-marker']),
  CompleteMultipartUpload: new Set(['uploadId']),
  AbortMultipartUpload: new Set(['uploadId']),
  ListMultipartUploads: new Set(['uploads', 'prefix', 'delimiter', 'key-marker', 'upload-id-marker', 'max-uploads', 'encoding-type']),
};

const REQUIRED: Partial<Record<KnownS3Op, readonly string[]>> = {
  ListObjectsV2: ['list-type'],
  UploadPart: ['partNumber', 'uploadId'],
  ListParts: ['uploadId'],
  CompleteMultipartUpload: ['uploadId'],
  AbortMultipartUpload: ['uploadId'],
};

/** Named by presence alone; a value is refused (unsure: S3 ignores it). */
const FLAGS = new Set(['uploads']);

const INTEGERS: Record<string, readonly [number, number]> = {
  partNumber: [1, 10_000],
  'part-number-marker': [0, 10_000],
  'max-keys': [0, 2_147_483_647],
  'max-parts': [0, 2_147_483_647],
  'max-uploads': [0, 2_147_483_647],
};

/** Unsure for the string markers (S3 treats an empty one as absent): refused, as a client should leave it out. */
const NON_EMPTY = new Set([
  'continuation-token', 'start-after', 'key-marker', 'upload-id-marker', 'part-number-marker', 'uploadId', 'partNumber',
  'max-keys', 'max-parts', 'max-uploads', 'encoding-type', 'list-type', 'fetch-owner', 'x-id',
]);

const UPLOAD_ID_RE = /^[0-9A-Za-z]{1,128}$/;
const INTEGER_RE = /^(?:0|[1-9][0-9]{0,9})$/;

export interface S3QueryProblem {
  code: 'InvalidArgument';
  message: string;
}

function problem(message: string): S3QueryProblem {
  return { code: 'InvalidArgument', message };
}

/** The first reason to refuse this query string for `op`, or undefined when it is acceptable. */
export function checkS3Query(op: KnownS3Op, query: ReadonlyArray<readonly [string, string]>): S3QueryProblem | undefined {
  const allowed = OP_PARAMS[op];
  const seen = new Set<string>();
  for (const [name, value] of query) {
    if (seen.has(name)) return problem(`Query parameter ${name} given more than once.`);
    seen.add(name);
    if (NON_EMPTY.has(name) && value === '') return problem(`Query parameter ${name} must not be empty.`);
    // The AWS SDK names the operation in x-id (?x-id=PutObject); any other value is a mistake.
    if (name === 'x-id') {
      if (value !== op) return problem(`x-id ${value} does not name this operation (${op}).`);
      continue;
    }
    if (!allowed.has(name)) return problem(`Unexpected query string parameter ${name} for ${op}.`);
    if (FLAGS.has(name) && value !== '') return problem(`The ${name} subresource takes no value.`);
    const range = INTEGERS[name];
    if (range !== undefined) {
      const n = INTEGER_RE.test(value) ? Number(value) : NaN;
      if (!(n >= range[0] && n <= range[1])) {
        return problem(name === 'partNumber' ? 'Part number must be an integer between 1 and 10000, inclusive' : `Provided ${name} not an integer or within integer range: ${value}`);
      }
    }
    if ((name === 'uploadId' || name === 'upload-id-marker') && !UPLOAD_ID_RE.test(value)) return problem(`Malformed ${name}: ${value}`);
    if (name === 'encoding-type' && value !== 'url') return problem('Invalid Encoding Method specified in Request');
    if (name === 'list-type' && value !== '2') return problem(`Invalid list-type: ${value}`);
    if (name === 'fetch-owner' && value !== 'true' && value !== 'false') return problem(`Invalid fetch-owner: ${value}`);
  }
  for (const name of REQUIRED[op] ?? []) if (!seen.has(name)) return problem(`Missing required query parameter ${name}.`);
  return undefined;
}

/** A list's page size: absent → 1000; above 1000 → 1000, as S3 caps it. */
export function s3PageSize(v: string | undefined): number {
  return v === undefined ? 1000 : Math.min(Number(v), 1000);
}
