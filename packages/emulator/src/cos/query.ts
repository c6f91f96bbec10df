// What each COS operation accepts in its query string, checked as strictly as the real service does or
// more: a client that sends something COS could refuse must find out here, not in production.
//
// Where COS's own documentation leaves a case open (an empty marker, max-keys=0, an upload id with odd
// characters, an unknown parameter on a known operation) the emulator refuses it with 400
// InvalidArgument: stricter than COS may be, never laxer. Each such case is marked "unsure" below.
import type { CosOp } from './faults.js';
import type { QueryParam } from './auth.js';

/** The signature's own fields, allowed on every operation (a presigned URL carries them). */
const SIGNATURE_PARAMS = new Set([
  'q-sign-algorithm',
  'q-ak',
  'q-sign-time',
  'q-key-time',
  'q-header-list',
  'q-url-param-list',
  'q-signature',
  'x-cos-security-token',
]);

type KnownOp = Exclude<CosOp, 'Unknown'>;

/** Parameters (besides the signature's) each operation accepts; every other one is refused. */
const OP_PARAMS: Record<KnownOp, ReadonlySet<string>> = {
  PutObject: new Set(),
  GetObject: new Set([
    'response-content-type',
    'response-content-language',
    'response-expires',
    'response-cache-control',
    'response-content-disposition',
    'response-content-encoding',
  ]),
  HeadObject: new Set(),
  DeleteObject: new Set(),
  GetObjectTagging: new Set(['tagging']),
  GetBucket: new Set(['prefix', 'delimiter', 'marker', 'max-keys', 'encoding-type']),
  HeadBucket: new Set(),
  InitiateMultipartUpload: new Set(['uploads']),
  UploadPart: new Set(['partNumber', 'uploadId']),
  ListParts: new Set(['uploadId', 'max-parts', 'part-number-marker', 'encoding-type']),
  ListMultipartUploads: new Set(['uploads', 'prefix', 'delimiter', 'key-marker', 'upload-id-marker', 'max-uploads', 'encoding-type']),
  CompleteMultipartUpload: new Set(['uploadId']),
  AbortMultipartUpload: new Set(['uploadId']),
};

/** Parameters that must come with each operation. */
const REQUIRED: Partial<Record<KnownOp, readonly string[]>> = {
  UploadPart: ['partNumber', 'uploadId'],
  ListParts: ['uploadId'],
  CompleteMultipartUpload: ['uploadId'],
  AbortMultipartUpload: ['uploadId'],
};

/** Subresources named by their presence alone (`?uploads`): a value is refused (unsure: COS may ignore it). */
const FLAGS = new Set(['uploads', 'tagging']);

/** Integer parameters: [min, max]. A list's max-* above 1000 is accepted and capped at 1000, as COS does. */
const INTEGERS: Record<string, readonly [number, number]> = {
  partNumber: [1, 10_000],
  'part-number-marker': [0, 10_000],
  // Unsure: S3 lists nothing for max-keys=0; COS's documentation names no lower bound. Refused here.
  'max-keys': [1, 2_147_483_647],
  'max-parts': [1, 2_147_483_647],
  'max-uploads': [1, 2_147_483_647],
};

/**
 * Parameters that must not be empty when present. An empty marker means "no marker" to some servers and
 * is refused by others (unsure which COS does for the string markers; it refuses an empty integer one):
 * a client must leave a marker out on the first page, as the SDK's own paging does.
 */
const NON_EMPTY = new Set(['marker', 'key-marker', 'upload-id-marker', 'part-number-marker', 'uploadId', 'partNumber', 'max-keys', 'max-parts', 'max-uploads', 'encoding-type']);

/** COS upload ids are a Unix time followed by hex (about 80 characters). Unsure: COS may answer 404
 * NoSuchUpload rather than 400 for an id of the wrong shape; either way the request fails. */
const UPLOAD_ID_RE = /^[0-9A-Za-z]{1,128}$/;

const INTEGER_RE = /^(?:0|[1-9][0-9]{0,9})$/;

export interface QueryProblem {
  code: 'InvalidArgument';
  message: string;
}

function problem(message: string): QueryProblem {
  return { code: 'InvalidArgument', message };
}

/** The first reason to refuse this query string for `op`, or undefined when it is acceptable. */
export function checkQuery(op: KnownOp, query: readonly QueryParam[]): QueryProblem | undefined {
  if (query.length === 0) return REQUIRED[op] === undefined ? undefined : problem(`Missing required query parameter ${REQUIRED[op]![0]}.`);
  const allowed = OP_PARAMS[op];
  const seen = new Set<string>();
  for (const [name, value] of query) {
    if (seen.has(name)) return problem(`Query parameter ${name} given more than once.`);
    seen.add(name);
    if (SIGNATURE_PARAMS.has(name.toLowerCase())) continue;
    // Names are case-sensitive: `uploadid` is not `uploadId`.
    if (!allowed.has(name)) return problem(`Unexpected query string parameter ${name} for ${op}.`);
    if (FLAGS.has(name) && value !== '') return problem(`The ${name} subresource takes no value.`);
    if (NON_EMPTY.has(name) && value === '') return problem(`Query parameter ${name} must not be empty.`);
    const range = INTEGERS[name];
    if (range !== undefined) {
      const n = INTEGER_RE.test(value) ? Number(value) : NaN;
      if (!(n >= range[0] && n <= range[1])) {
        return problem(
          name === 'partNumber' ? 'Part number must be an integer between 1 and 10000, inclusive.' : `Query parameter ${name} must be an integer between ${range[0]} and ${range[1]}: ${value}`,
        );
      }
    }
    if ((name === 'uploadId' || name === 'upload-id-marker') && !UPLOAD_ID_RE.test(value)) return problem(`Malformed ${name}: ${value}`);
    if (name === 'encoding-type' && value !== 'url') return problem('Invalid Encoding Method specified in Request');
  }
  for (const name of REQUIRED[op] ?? []) if (!seen.has(name)) return problem(`Missing required query parameter ${name}.`);
  return undefined;
}

/** A list's page size: absent → 1000; above 1000 → 1000 (checkQuery has refused anything malformed). */
export function pageSize(v: string | undefined): number {
  return v === undefined ? 1000 : Math.min(Number(v), 1000);
}
