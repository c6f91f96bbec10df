// The local emulator of everything cdb2cos talks to: the CDB API, the backup download URLs and a COS
// bucket, each a real HTTP server on 127.0.0.1. Tests, benchmarks and the README demo start it with
// startEmulator(); `cdb2cos emulator` runs it for a person or another process.
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { Catalog, formatCdbTime, type EmulatorInstanceAttributes, type EmulatorItem, type EmulatorItemSpec, type EmulatorItemType } from './catalog.js';
import { CdbApi, type ApiCredential } from './cdb-api.js';
import { contentAt, contentCrc64, contentMd5, contentStream, knownContentCrc64, knownContentMd5 } from './content.js';
import { handleControl, type ControlTarget } from './control.js';
import { CosEmulator } from './cos/index.js';
import { DownloadServer } from './downloads.js';
import { CredentialIssuer } from './issuer.js';
import { MetadataServer } from './metadata.js';
import { DEMO_S3_ACCESS_KEY_ID, DEMO_S3_BUCKETS, DEMO_S3_ENDPOINT_HOSTS, DEMO_S3_REGIONS, DEMO_S3_SECRET_ACCESS_KEY, S3Emulator, S3_MODES, type S3Credential, type S3Mode } from './s3/index.js';
import { StsServer } from './sts.js';

export { contentAt, contentStream, contentMd5, contentCrc64 } from './content.js';
export { formatCdbTime, parseCdbTime } from './catalog.js';
export type { EmulatorInstanceAttributes, EmulatorItem, EmulatorItemSpec, EmulatorItemType } from './catalog.js';
export type { ApiCredential, ApiRequestRecord } from './cdb-api.js';
export type { DownloadRequestRecord } from './downloads.js';
export { CdbApi, DEFAULT_RATE_LIMITS } from './cdb-api.js';
export { DownloadServer } from './downloads.js';
export { CredentialIssuer, type IssuedCredential } from './issuer.js';
export { MetadataServer } from './metadata.js';
export { StsServer } from './sts.js';
export { DEMO_S3_ACCESS_KEY_ID, DEMO_S3_BUCKETS, DEMO_S3_ENDPOINT_HOSTS, DEMO_S3_REGIONS, DEMO_S3_SECRET_ACCESS_KEY, S3Emulator, S3_MODES } from './s3/index.js';
export type { S3Credential, S3Mode } from './s3/index.js';

export const DEMO_SECRET_ID = 'AKIDcdb2cosEMULATOR0000000000000000';
export const DEMO_SECRET_KEY = 'emuK3y0cdb2cosQx7Lr9Vb2Nw4Hs6Jd8Fm1Z';
export const DEMO_BUCKET = 'backup-1250000000';
export const DEMO_CDB_REGION = 'ap-shanghai';
export const DEMO_COS_REGION = 'ap-guangzhou';
export const DEMO_ROLE_NAME = 'cdb2cos-emulator-role';
export const DEMO_ROLE_ARN = 'qcs::cam::uin/100000000001:roleName/cdb2cos-emulator';
export const DEMO_OIDC_PROVIDER_ID = 'cdb2cos-emulator-oidc';
export const DEMO_WEB_IDENTITY_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.cdb2cos-emulator-web-identity.c2lnbmF0dXJl';
/** Lifetime of the temporary keys the metadata and STS servers issue (the real default: 2 h). */
export const DEFAULT_TEMP_CREDENTIAL_TTL_MS = 2 * 3600_000;

export interface EmulatorInstanceSpec extends EmulatorInstanceAttributes {
  id: string;
  /** Default: the emulator's cdbRegion. */
  region?: string;
  items?: EmulatorItemSpec[];
  /** "unsupported": DescribeSlowLogs answers UnsupportedOperation, as for single-node and cluster editions. */
  slowLogs?: 'supported' | 'unsupported';
}

export interface EmulatorOptions {
  /** 0 (default): ephemeral ports; N: CDB API on N, COS on N+1, downloads on N+2, metadata N+3, STS N+4,
   * S3 N+5, files N+6. */
  port?: number;
  /** COS objects live here; default a temp dir removed on close. */
  dataDir?: string;
  /** Default: sampleInstances(). */
  instances?: EmulatorInstanceSpec[];
  bucket?: string;
  secretId?: string;
  secretKey?: string;
  /** More credentials both APIs accept (e.g. an STS one with a token). */
  credentials?: ApiCredential[];
  cdbRegion?: string;
  cosRegion?: string;
  /** Download bytes per second per connection, 0 = none (default). */
  rate?: number;
  /** Download requests in flight per client IP (default 10). */
  maxConnectionsPerClient?: number;
  /** How long download URLs stay valid (default 12 h). */
  urlTtlMs?: number;
  /** The emulator's clock (signature skew, URL expiry, "minutes ago"). */
  now?: () => number;
  /** Lifetime of the temporary keys from the metadata and STS servers (default 2 h). */
  tempCredentialTtlMs?: number;
  /** The CVM role the metadata server names; null: no role bound (404). Default DEMO_ROLE_NAME. */
  roleName?: string | null;
  /**
   * CDB API requests per second per action and account, answered RequestLimitExceeded above it (default:
   * the real API's, see DEFAULT_RATE_LIMITS in cdb-api.ts); false: none, for tests of something else.
   */
  apiRateLimits?: Readonly<Record<string, number>> | false;
  /** The S3 endpoint's key pair (default DEMO_S3_ACCESS_KEY_ID / DEMO_S3_SECRET_ACCESS_KEY). */
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
  /** More key pairs the S3 endpoint accepts (with sessionToken: x-amz-security-token required). */
  s3Credentials?: S3Credential[];
}

/** How a client reaches one S3 provider mode's bucket. */
export interface EmulatorS3Mode {
  bucket: string;
  region: string;
  /** The endpoint URL a config names (real-looking host for aws/oss/bos; the emulator itself for minio/other). */
  endpoint: string;
  /** Where the connections go: 127.0.0.1:port ([s3] connect_to). */
  connectTo: string;
}

/** What a client needs to reach the emulator; `cdb2cos emulator` prints it as its first line. */
export interface EmulatorInfo {
  cdbEndpoint: string;
  cosEndpoint: string;
  downloadEndpoint: string;
  secretId: string;
  secretKey: string;
  cdbRegion: string;
  cosRegion: string;
  bucket: string;
  instances: string[];
  dataDir: string;
  /** Instance metadata base URL (CDB2COS_METADATA_ENDPOINT); port N+3 with --port N. */
  metadataEndpoint: string;
  /** STS endpoint (CDB2COS_STS_ENDPOINT, [credentials] sts_endpoint); port N+4 with --port N. */
  stsEndpoint: string;
  /** The CVM role the metadata server names (null: none bound). */
  roleName: string | null;
  /** The role STS AssumeRole / AssumeRoleWithWebIdentity accept. */
  roleArn: string;
  /** TKE_PROVIDER_ID and the web identity token AssumeRoleWithWebIdentity accepts. */
  oidcProviderId: string;
  webIdentityToken: string;
  /** S3 endpoint (port N+5 with --port N): every provider mode's bucket is here. */
  s3Endpoint: string;
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
  s3: Record<S3Mode, EmulatorS3Mode>;
}

/** What should have landed for an item. */
export interface ExpectedContent {
  seed: string;
  size: number;
  stream(start?: number, end?: number): Readable;
  at(offset: number, length: number): Buffer;
  md5(): Promise<string>;
  crc64(): Promise<bigint>;
}

export type ConfigOverrides = Record<string, Record<string, string | number | boolean | readonly string[] | undefined>>;

const KiB = 1024;
const MiB = 1024 * KiB;

/** Two instances with a few of everything: small, so the demo copies them in seconds. */
export function sampleInstances(region = DEMO_CDB_REGION): EmulatorInstanceSpec[] {
  const day = 24 * 60;
  return [0, 1].map((n) => ({
    id: `cdb-demo000${n + 1}`,
    region,
    items: [
      { type: 'data', size: 1 * KiB + n, minutesAgo: 3 * day },
      { type: 'data', size: 5 * MiB + 12_345 + n, minutesAgo: 2 * day },
      { type: 'data', size: 20 * MiB + 678 + n, minutesAgo: 1 * day, md5: n === 1 },
      { type: 'data', size: 3 * MiB, minutesAgo: 10, status: 'RUNNING' },
      { type: 'data', size: 2 * MiB + n, minutesAgo: 30 * day, cosStorageType: 1 },
      { type: 'binlog', size: 256 * KiB + n, minutesAgo: 240 },
      { type: 'binlog', size: 1 * MiB + 7, minutesAgo: 180, status: 'SUCCESS' },
      { type: 'binlog', size: 0, minutesAgo: 120 },
      { type: 'binlog', size: 3 * MiB + 333 * n, minutesAgo: 60 },
      { type: 'slowlog', size: 64 * KiB + n, minutesAgo: 2 * day },
      { type: 'slowlog', size: 300 * KiB, minutesAgo: 1 * day },
    ] satisfies EmulatorItemSpec[],
  }));
}

export class Emulator implements ControlTarget {
  readonly info: EmulatorInfo;
  readonly catalog: Catalog;
  readonly cdb: CdbApi;
  readonly downloads: DownloadServer;
  readonly cos: CosEmulator;
  readonly issuer: CredentialIssuer;
  readonly metadata: MetadataServer;
  readonly sts: StsServer;
  readonly s3: S3Emulator;
  readonly #servers: Server[];
  readonly #removeDataDir: boolean;
  #closed: Promise<void> | undefined;

  /** @internal use startEmulator() */
  constructor(parts: {
    info: EmulatorInfo;
    catalog: Catalog;
    cdb: CdbApi;
    downloads: DownloadServer;
    cos: CosEmulator;
    issuer: CredentialIssuer;
    metadata: MetadataServer;
    sts: StsServer;
    s3: S3Emulator;
    servers: Server[];
    removeDataDir: boolean;
  }) {
    this.s3 = parts.s3;
    this.issuer = parts.issuer;
    this.metadata = parts.metadata;
    this.sts = parts.sts;
    this.info = parts.info;
    this.catalog = parts.catalog;
    this.cdb = parts.cdb;
    this.downloads = parts.downloads;
    this.cos = parts.cos;
    this.#servers = parts.servers;
    this.#removeDataDir = parts.removeDataDir;
  }

  /** Adds items to an instance, creating the instance (in `region`, default cdbRegion) if needed. */
  addItems(instance: string, items: readonly EmulatorItemSpec[], region?: string, attrs: EmulatorInstanceAttributes = {}): EmulatorItem[] {
    if (this.catalog.instance(instance) === undefined) {
      this.catalog.addInstance(instance, region ?? this.info.cdbRegion, attrs);
      this.info.instances.push(instance);
    } else if (Object.keys(attrs).length > 0) this.catalog.setAttributes(instance, attrs);
    return warmDigests(this.catalog.add(instance, items));
  }

  /** Deletes an instance and its items (the real one destroyed): DescribeDBInstances no longer lists it. */
  removeInstance(instance: string): void {
    this.catalog.removeInstance(instance);
    this.cdb.noSlowLogs.delete(instance);
    const at = this.info.instances.indexOf(instance);
    if (at !== -1) this.info.instances.splice(at, 1);
  }

  item(instance: string, type: EmulatorItemType, name: string): EmulatorItem {
    const item = this.catalog.find(instance, type, name);
    if (item === undefined) throw new Error(`the emulator has no ${type} item ${name} in ${instance}`);
    return item;
  }

  /** The bytes an item's download serves, to compare with what landed. */
  expectedContent(instance: string, type: EmulatorItemType, name: string): ExpectedContent {
    const { seed, size } = this.item(instance, type, name);
    return {
      seed,
      size,
      stream: (start = 0, end = size) => contentStream(seed, size, start, end),
      at: (offset, length) => contentAt(seed, offset, length),
      md5: () => contentMd5(seed, size),
      crc64: () => contentCrc64(seed, size),
    };
  }

  /** Writes a ready config file for the CLI (mode 0600: it holds the secret key); returns its absolute path. */
  async writeConfig(path: string, overrides: ConfigOverrides = {}): Promise<string> {
    const i = this.info;
    const sections: ConfigOverrides = {
      credentials: { secret_id: i.secretId, secret_key: i.secretKey },
      cdb: { region: i.cdbRegion, instances: i.instances, types: ['data', 'binlog', 'slowlog'], endpoint: i.cdbEndpoint },
      cos: { region: i.cosRegion, bucket: i.bucket, endpoint: i.cosEndpoint },
      transfer: { staging_dir: join(i.dataDir, 'staging') },
      log: { dir: join(i.dataDir, 'logs') },
    };
    for (const [section, keys] of Object.entries(overrides)) sections[section] = { ...sections[section], ...keys };
    let text = `; cdb2cos config for the local emulator (written ${new Date().toISOString()})\n`;
    for (const [section, keys] of Object.entries(sections)) {
      text += `\n[${section}]\n`;
      for (const [k, v] of Object.entries(keys)) {
        if (v === undefined) continue;
        text += `${k} = ${Array.isArray(v) ? v.join(', ') : String(v)}\n`;
      }
    }
    const abs = resolve(path);
    await mkdir(dirname(abs), { recursive: true });
    await writeFile(abs, text, { mode: 0o600 });
    await chmod(abs, 0o600);
    return abs;
  }

  /** The [s3] config section for one provider mode (path_style left to the product's default). */
  s3Config(mode: S3Mode): Record<string, string> {
    const m = this.info.s3[mode];
    return {
      provider: mode,
      endpoint: m.endpoint,
      region: m.region,
      bucket: m.bucket,
      access_key_id: this.info.s3AccessKeyId,
      secret_access_key: this.info.s3SecretAccessKey,
      connect_to: m.connectTo,
    };
  }

  /** Items, COS objects and uploads, counters, faults and recent requests (GET /_emulator/state). */
  state(): object {
    const items = this.catalog.instances().map((inst) => ({
      id: inst.id,
      region: inst.region,
      name: inst.name,
      tags: Object.fromEntries(inst.tags),
      instanceType: inst.instanceType,
      status: inst.status,
      ...(this.cdb.noSlowLogs.has(inst.id) ? { slowLogs: 'unsupported' } : {}),
      items: (['data', 'binlog', 'slowlog'] as const).flatMap((t) => this.catalog.list(inst.id, t)).map(describeItem),
    }));
    return {
      info: this.info,
      instances: items,
      cos: { bucket: this.info.bucket, objects: plain(this.cos.objects(this.info.bucket)), openUploads: plain(this.cos.openUploads(this.info.bucket)) },
      s3: Object.fromEntries(
        this.s3.buckets().map((b) => [b.name, { mode: b.mode, region: b.region, objects: plain(this.s3.objects(b.name)), openUploads: plain(this.s3.openUploads(b.name)) }]),
      ),
      counters: {
        apiRequests: this.cdb.requests.length,
        downloadRequests: this.downloads.requests.length,
        cosRequests: this.cos.requests.length,
        bytesServed: this.downloads.bytesServed(),
        cosBytesIn: this.cos.requests.reduce((n, r) => n + r.bytesIn, 0),
        metadataRequests: this.metadata.requests.length,
        stsRequests: this.sts.requests.length,
        s3Requests: this.s3.requests.length,
        s3BytesIn: this.s3.requests.reduce((n, r) => n + r.bytesIn, 0),
        // Most CDB API requests seen within one second, per action and per caller (secret id) and action.
        apiPeakRate: this.cdb.peakRates,
      },
      temporaryCredentials: this.issuer.describe(),
      faults: this.faultState(),
      log: { api: this.cdb.requests.slice(-200), downloads: this.downloads.requests.slice(-200), cos: this.cos.requests.slice(-200), metadata: this.metadata.requests.slice(-200), sts: this.sts.requests.slice(-200), s3: this.s3.requests.slice(-200) },
    };
  }

  faultState(): object {
    return {
      api: this.cdb.faults,
      downloads: this.downloads.faults,
      cos: { pending: this.cos.faults.pending(), latencyMs: this.cos.faults.latencyMs },
      s3: { pending: this.s3.faults.pending(), latencyMs: this.s3.faults.latencyMs },
    };
  }

  /** Clears every fault: API, downloads, COS and S3. */
  clearFaults(): void {
    this.cdb.faults.clear();
    this.downloads.faults.clear();
    this.cos.faults.clear();
    this.s3.faults.clear();
  }

  /** Forgets the request logs and counters of all three servers. */
  resetLog(): void {
    this.cdb.clearRequests();
    this.downloads.clearRequests();
    this.cos.clearRequests();
    this.s3.clearRequests();
    this.metadata.requests.length = 0;
    this.sts.requests.length = 0;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all([...this.#servers.map(closeServer), this.downloads.close()]);
      await this.cos.close();
      await this.s3.close();
      if (this.#removeDataDir) await rm(this.info.dataDir, { recursive: true, force: true });
    })();
    return this.#closed;
  }
}

/** Starts computing the MD5 DescribeBackups will report, so a listing seldom waits for it. */
function warmDigests(items: EmulatorItem[]): EmulatorItem[] {
  for (const it of items) if (it.md5 && it.status === 'SUCCESS') contentMd5(it.seed, it.size).catch(() => undefined);
  return items;
}

function describeItem(i: EmulatorItem): object {
  const md5 = knownContentMd5(i.seed, i.size);
  const crc = knownContentCrc64(i.seed, i.size);
  return {
    type: i.type,
    name: i.name,
    size: i.size,
    date: formatCdbTime(i.time),
    status: i.status,
    cosStorageType: i.cosStorageType,
    ...(i.backupId !== undefined ? { backupId: i.backupId } : {}),
    ...(i.binlogStartTime !== undefined ? { binlogStartTime: formatCdbTime(i.binlogStartTime) } : {}),
    ...(md5 !== undefined ? { md5 } : {}),
    ...(crc !== undefined ? { crc64: crc.toString() } : {}),
    seed: i.seed,
  };
}

/** Maps and Sets as JSON can show them. */
function plain(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x)]));
  if (v instanceof Set) return [...v].map(plain);
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'bigint') return v.toString();
  return v;
}

async function listen(server: Server, port: number): Promise<string> {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await closed;
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const now = opts.now ?? Date.now;
  const port = opts.port ?? 0;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65529) throw new RangeError(`port must be 0 or 1..65529: ${port}`);
  const cdbRegion = opts.cdbRegion ?? DEMO_CDB_REGION;
  const cosRegion = opts.cosRegion ?? DEMO_COS_REGION;
  const bucket = opts.bucket ?? DEMO_BUCKET;
  const secretId = opts.secretId ?? DEMO_SECRET_ID;
  const secretKey = opts.secretKey ?? DEMO_SECRET_KEY;
  const credentials: ApiCredential[] = [{ secretId, secretKey }, ...(opts.credentials ?? [])];

  const removeDataDir = opts.dataDir === undefined;
  const dataDir = resolve(opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'cdb2cos-emulator-'))));
  await mkdir(dataDir, { recursive: true });

  const catalog = new Catalog(now);
  const instances = opts.instances ?? sampleInstances(cdbRegion);
  for (const spec of instances) {
    const { id, region, items: _items, slowLogs: _slow, ...attrs } = spec;
    catalog.addInstance(id, region ?? cdbRegion, attrs);
    warmDigests(catalog.add(spec.id, spec.items ?? []));
  }

  const downloads = new DownloadServer({
    catalog,
    now,
    ...(opts.rate !== undefined ? { rate: opts.rate } : {}),
    ...(opts.maxConnectionsPerClient !== undefined ? { maxConnectionsPerClient: opts.maxConnectionsPerClient } : {}),
    ...(opts.urlTtlMs !== undefined ? { urlTtlMs: opts.urlTtlMs } : {}),
  });
  const cdb = new CdbApi({ catalog, credentials, now, issueUrls: (item) => downloads.issueUrls(item), ...(opts.apiRateLimits !== undefined ? { rateLimits: opts.apiRateLimits } : {}) });
  for (const spec of instances) if (spec.slowLogs !== undefined) cdb.setSlowLogs(spec.id, spec.slowLogs);
  const cos = new CosEmulator({ dataDir: join(dataDir, 'cos'), credentials, buckets: [], now });
  const s3AccessKeyId = opts.s3AccessKeyId ?? DEMO_S3_ACCESS_KEY_ID;
  const s3SecretAccessKey = opts.s3SecretAccessKey ?? DEMO_S3_SECRET_ACCESS_KEY;
  const s3 = new S3Emulator({
    dataDir: join(dataDir, 's3'),
    credentials: [{ accessKeyId: s3AccessKeyId, secretAccessKey: s3SecretAccessKey }, ...(opts.s3Credentials ?? [])],
    buckets: S3_MODES.map((mode) => ({ name: DEMO_S3_BUCKETS[mode], mode, region: DEMO_S3_REGIONS[mode] })),
    now,
  });
  cos.createBucket(bucket, cosRegion);
  const issued = new Map<string, { secretId: string; secretKey: string; token?: string; expiresAt?: number }>();
  const issuer = new CredentialIssuer(
    (c) => {
      const k = { secretId: c.secretId, secretKey: c.secretKey, token: c.token, expiresAt: c.expiresAt };
      issued.set(c.secretId, k);
      cdb.addCredential(k);
      cos.addCredential(k);
    },
    now,
    opts.tempCredentialTtlMs ?? DEFAULT_TEMP_CREDENTIAL_TTL_MS,
  );
  const roleName = opts.roleName === undefined ? DEMO_ROLE_NAME : opts.roleName;
  const metadata = new MetadataServer(issuer, now, roleName);
  const sts = new StsServer({
    issuer,
    now,
    findCredential: (id) => issued.get(id) ?? credentials.find((c) => c.secretId === id),
    roleArn: DEMO_ROLE_ARN,
    oidcProviderId: DEMO_OIDC_PROVIDER_ID,
    webIdentityToken: DEMO_WEB_IDENTITY_TOKEN,
  });

  const servers: Server[] = [];
  let emulator: Emulator | undefined;
  try {
    const cdbServer = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (CdbApi.CONTROL_PATHS.has((req.url ?? '').split('?')[0]!)) cdb.handleControl(req, res);
      else if ((req.url ?? '').startsWith('/_emulator/')) handleControl(emulator!, req, res);
      else cdb.handle(req, res);
    });
    servers.push(cdbServer);
    const cosServer = createServer({ noDelay: true }, (req, res) => cos.handle(req, res));
    // Parts of several GiB may take minutes; the COS SDK keeps sockets alive between requests.
    cosServer.requestTimeout = 0;
    cosServer.keepAliveTimeout = 65_000;
    servers.push(cosServer);
    const cdbEndpoint = await listen(cdbServer, port);
    const cosEndpoint = await listen(cosServer, port === 0 ? 0 : port + 1);
    const downloadEndpoint = await downloads.listen(port === 0 ? 0 : port + 2);
    const metadataServer = createServer((req, res) => metadata.handle(req, res));
    servers.push(metadataServer);
    const stsServer = createServer((req, res) => sts.handle(req, res));
    servers.push(stsServer);
    const metadataEndpoint = await listen(metadataServer, port === 0 ? 0 : port + 3);
    const stsEndpoint = await listen(stsServer, port === 0 ? 0 : port + 4);
    const s3Server = createServer({ noDelay: true }, (req, res) => s3.handle(req, res));
    s3Server.requestTimeout = 0;
    s3Server.keepAliveTimeout = 65_000;
    servers.push(s3Server);
    const s3Endpoint = await listen(s3Server, port === 0 ? 0 : port + 5);
    const s3ConnectTo = s3Endpoint.replace(/^http:\/\//, '');
    const s3Modes = Object.fromEntries(
      S3_MODES.map((mode) => {
        const host = DEMO_S3_ENDPOINT_HOSTS[mode];
        return [mode, { bucket: DEMO_S3_BUCKETS[mode], region: DEMO_S3_REGIONS[mode], endpoint: host === undefined ? s3Endpoint : `http://${host}`, connectTo: s3ConnectTo }];
      }),
    ) as Record<S3Mode, EmulatorS3Mode>;
    emulator = new Emulator({
      info: {
        cdbEndpoint,
        cosEndpoint,
        downloadEndpoint,
        secretId,
        secretKey,
        cdbRegion,
        cosRegion,
        bucket,
        instances: catalog.instances().map((i) => i.id),
        dataDir,
        metadataEndpoint,
        stsEndpoint,
        roleName,
        roleArn: DEMO_ROLE_ARN,
        oidcProviderId: DEMO_OIDC_PROVIDER_ID,
        webIdentityToken: DEMO_WEB_IDENTITY_TOKEN,
        s3Endpoint,
        s3AccessKeyId,
        s3SecretAccessKey,
        s3: s3Modes,
      },
      catalog,
      cdb,
      downloads,
      cos,
      issuer,
      metadata,
      sts,
      s3,
      servers,
      removeDataDir,
    });
    return emulator;
  } catch (err) {
    await Promise.allSettled([...servers.map(closeServer), downloads.close(), cos.close(), s3.close()]);
    if (removeDataDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
