// Shared by the end-to-end and fault tests of the new ends (issue 10): [urls] and [local] sources,
// [s3] destinations in the emulator's provider modes. A config with any set of sources and
// destinations, what landed in COS or an S3 bucket compared byte for byte with the emulator's content
// helpers, and the tool's manifests.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { contentAt, contentCrc64, contentMd5, contentStream, encodePath, type Emulator, type ExpectedContent, type S3Mode } from '@cdb2cos/emulator';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** A destination of the emulator: its COS bucket, or the bucket of one S3 provider mode. */
export type Dest = 'cos' | S3Mode;

type Keys = Record<string, string | number | undefined>;

export interface EndsSections {
  /** [cos] keys over the emulator's (false: no [cos] section, and no [credentials]). */
  cos?: Keys | false;
  /** An [s3] section for one provider mode, with extra keys (prefix, verify, …). */
  s3?: { mode: S3Mode } & Keys;
  urls?: Keys;
  local?: Keys;
  transfer?: Keys;
}

/** Writes a config with no [cdb]: the given sources and destinations, staging and logs in the emulator's dataDir. */
export async function writeEndsConfig(emu: Emulator, s: EndsSections, name = 'ends.ini'): Promise<string> {
  const i = emu.info;
  const sections: Array<[string, Keys]> = [];
  if (s.cos !== false) {
    sections.push(['credentials', { secret_id: i.secretId, secret_key: i.secretKey }]);
    sections.push(['cos', { region: i.cosRegion, bucket: i.bucket, endpoint: i.cosEndpoint, ...(s.cos ?? {}) }]);
  }
  if (s.s3 !== undefined) {
    const { mode, ...extra } = s.s3;
    sections.push(['s3', { ...emu.s3Config(mode), ...extra }]);
  }
  if (s.urls !== undefined) sections.push(['urls', s.urls]);
  if (s.local !== undefined) sections.push(['local', s.local]);
  sections.push(['transfer', { staging_dir: join(i.dataDir, 'staging'), ...(s.transfer ?? {}) }]);
  sections.push(['log', { dir: join(i.dataDir, 'logs') }]);
  let text = '';
  for (const [section, keys] of sections) {
    text += `[${section}]\n`;
    for (const [k, v] of Object.entries(keys)) if (v !== undefined) text += `${k} = ${String(v)}\n`;
    text += '\n';
  }
  const path = join(i.dataDir, name);
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

export const logDir = (emu: Emulator): string => join(emu.info.dataDir, 'logs');
export const stagingDir = (emu: Emulator): string => join(emu.info.dataDir, 'staging');

function bucketOf(emu: Emulator, dest: Dest): string {
  return dest === 'cos' ? emu.info.bucket : emu.info.s3[dest].bucket;
}

interface StoredObject {
  key: string;
  size: number;
  crc64: string;
}

/** Every object of a destination's bucket, the tool's manifests included. */
export function objectsIn(emu: Emulator, dest: Dest): StoredObject[] {
  return dest === 'cos' ? emu.cos.objects(emu.info.bucket) : emu.s3.objects(emu.info.s3[dest].bucket);
}

/** Keys of the copies in a destination's bucket (the tool's .cdb2cos/ manifests left out), sorted. */
export function copiesIn(emu: Emulator, dest: Dest): string[] {
  return objectsIn(emu, dest)
    .map((o) => o.key)
    .filter((k) => !k.includes('.cdb2cos/'))
    .sort();
}

/** Multipart uploads left open in a destination's bucket. */
export function openUploadsIn(emu: Emulator, dest: Dest): Array<{ key: string }> {
  return dest === 'cos' ? emu.cos.openUploads(emu.info.bucket) : emu.s3.openUploads(emu.info.s3[dest].bucket);
}

function readStored(emu: Emulator, dest: Dest, key: string): Readable {
  return dest === 'cos' ? emu.cos.readObject(emu.info.bucket, key) : emu.s3.readObject(emu.info.s3[dest].bucket, key);
}

async function md5Of(stream: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of stream) h.update(chunk);
  return h.digest('hex');
}

/** Asserts that the object at key in dest holds exactly the expected bytes: size, CRC-64 and the MD5 of the stored bytes read back. */
export async function assertStored(emu: Emulator, dest: Dest, key: string, expected: ExpectedContent | { size: number; md5: string }): Promise<void> {
  const obj = objectsIn(emu, dest).find((o) => o.key === key);
  assert.ok(obj, `${dest}: object ${key} landed (have: ${copiesIn(emu, dest).join(', ')})`);
  assert.equal(obj.size, expected.size, `${dest}: size of ${key}`);
  if ('crc64' in expected) assert.equal(obj.crc64, (await expected.crc64()).toString(), `${dest}: CRC-64 of ${key}`);
  const want = typeof expected.md5 === 'string' ? expected.md5 : await expected.md5();
  assert.equal(await md5Of(readStored(emu, dest, key) as AsyncIterable<Buffer>), want, `${dest}: bytes of ${key} read back`);
}

/** The keys a source's manifest in dest records (undefined: no manifest there). */
export async function manifestKeys(emu: Emulator, dest: Dest, unit: 'urls' | 'local', prefix = ''): Promise<string[] | undefined> {
  const key = `${prefix}.cdb2cos/manifest-${unit}.json`;
  if (!objectsIn(emu, dest).some((o) => o.key === key)) return undefined;
  let text = '';
  for await (const chunk of readStored(emu, dest, key) as AsyncIterable<Buffer>) text += chunk.toString();
  return Object.keys((JSON.parse(text) as { objects: Record<string, unknown> }).objects).sort();
}

/** Deletes an object from an S3 mode's bucket through the S3 API (as an operator would), signed as the SDK signs. */
export async function deleteFromS3(emu: Emulator, mode: S3Mode, key: string): Promise<void> {
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true'; // Node 20: the SDK's one-time notice
  const m = emu.info.s3[mode];
  const [host, port] = m.connectTo.split(':') as [string, string];
  const agent = new Agent({ keepAlive: false });
  (agent as unknown as { createConnection: () => unknown }).createConnection = () => connect({ host, port: Number(port) });
  const s3 = new S3Client({
    region: m.region,
    endpoint: m.endpoint,
    forcePathStyle: mode === 'minio',
    credentials: { accessKeyId: emu.info.s3AccessKeyId, secretAccessKey: emu.info.s3SecretAccessKey },
    requestHandler: { httpAgent: agent },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: m.bucket, Key: key }));
  } finally {
    s3.destroy();
    agent.destroy();
  }
}

/** The key a file of the emulator's file server gets with the default `[urls] key` ({prefix}urls/{host}/{path}). */
export function urlKey(path: string, prefix = ''): string {
  return `${prefix}urls/127.0.0.1/files/${path}`;
}

/** The key a local file gets with the default `[local] key` ({prefix}local/{hostname}/{path below the glob's base}). */
export function localKey(pathBelowBase: string, prefix = ''): string {
  return `${prefix}local/${hostname()}/${pathBelowBase}`;
}

/** What the emulator's content for seed and size is, as its expected*Content helpers give it. */
export function expectedOf(seed: string, size: number): ExpectedContent {
  return {
    seed,
    size,
    stream: (start = 0, end = size) => contentStream(seed, size, start, end),
    at: (offset, length) => contentAt(seed, offset, length),
    md5: () => contentMd5(seed, size),
    crc64: () => contentCrc64(seed, size),
  };
}

/** Writes a local file with the emulator's deterministic content for seed (what expectedOf(seed) would give). */
export async function writeContentFile(path: string, seed: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await pipeline(contentStream(seed, size), createWriteStream(path));
}

/** The request path of a file of the file server (as its request log records it). */
export function filePath(path: string): string {
  return `/files/${encodePath(path)}`;
}

/** Requests to the file server that fetched more than a probe's first byte (Range: bytes=0-0). */
export function fileDownloads(emu: Emulator): Array<{ path: string; range: string | undefined; status: number }> {
  return emu.files.requests.filter((r) => r.method === 'GET' && r.range !== 'bytes=0-0');
}

export const S3_WRITES = new Set(['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload', 'DeleteObject']);
export const COS_WRITE_OPS = new Set(['PutObject', 'InitiateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'AbortMultipartUpload', 'DeleteObject']);

/** Write requests a destination received (manifests included), as "op key". */
export function writesTo(emu: Emulator, dest: Dest): string[] {
  const reqs = dest === 'cos' ? emu.cos.requests.filter((r) => COS_WRITE_OPS.has(r.op)) : emu.s3.requests.filter((r) => r.bucket === bucketOf(emu, dest) && S3_WRITES.has(r.op));
  return reqs.map((r) => `${r.op} ${r.key}`);
}
