// The CDB API (version 2017-03-20) as tencentcloud-sdk-nodejs calls it: POST / with a JSON body, the
// action in X-TC-Action, signed with TC3-HMAC-SHA256. Every request's signature is verified the way
// the real gateway does; errors come back with HTTP 200 in the real envelope.
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatCdbDate, formatCdbTime, parseCdbTime, type Catalog, type EmulatorItem } from './catalog.js';
import { contentMd5 } from './content.js';
import type { IssuedUrls } from './downloads.js';
import { Fault } from './fault.js';
import { header, Tc3Error, verifyTc3 } from './tc3.js';

export const CDB_API_VERSION = '2017-03-20';
/** Most clock skew the gateway accepts, in seconds. */
export { MAX_CLOCK_SKEW_S } from './tc3.js';
/**
 * DescribeBackups/Binlogs/SlowLogs: the docs say 1000 or 100. Strict on purpose: the emulator refuses
 * anything above 100, so a client that passes here passes against either answer.
 */
export const MAX_LIMIT = 100;
/**
 * Instance ids as CDB issues them: "cdb-" (or "cdbro-", "cdbrg-", … for read-only and disaster-recovery
 * instances) and a short lowercase id. The real API refuses other shapes before looking the id up; the
 * emulator allows a longer tail so tests may use readable ids.
 */
const INSTANCE_ID = /^cdb[a-z]*-[a-z0-9]{1,32}$/;
/** The parameters each action takes; the real gateway answers UnknownParameter for any other. */
const ACTION_PARAMS: Record<string, readonly string[]> = {
  DescribeBackups: ['InstanceId', 'Offset', 'Limit'],
  DescribeBinlogs: ['InstanceId', 'Offset', 'Limit', 'MinStartTime', 'MaxStartTime', 'ContainsMinStartTime'],
  DescribeSlowLogs: ['InstanceId', 'Offset', 'Limit'],
  DescribeBackupDownloadRestriction: [],
  // Of DescribeDBInstances' many filters (SDK 4.1 cdb_models.d.ts) the emulator implements these; the
  // others (ProjectId, Vips, ZoneIds, OrderBy, …) are refused as unknown rather than silently ignored.
  DescribeDBInstances: ['Offset', 'Limit', 'InstanceTypes', 'Status', 'InstanceIds', 'Tags'],
};
/** DescribeDBInstances: "默认值为 20，最大值为 2000" (SDK 4.1 model docs). */
export const MAX_INSTANCE_LIMIT = 2000;
/**
 * Requests per second per account and action, as the real API documents them on each action's page
 * ("默认接口请求频率限制"): DescribeBackups 10/s (the figure issue 13 quotes). DescribeBinlogs 100/s,
 * DescribeSlowLogs 20/s, DescribeDBInstances 20/s and DescribeBackupDownloadRestriction 20/s are
 * assumptions (the pages we could check say 20/s for most CDB actions; binlog listing is higher). Every
 * credential of the emulator is one account. Counted over a sliding second of accepted requests:
 * stricter than a fixed calendar second, which lets two bursts meet at its boundary.
 */
export const DEFAULT_RATE_LIMITS: Readonly<Record<string, number>> = {
  DescribeBackups: 10,
  DescribeBinlogs: 100,
  DescribeSlowLogs: 20,
  DescribeDBInstances: 20,
  DescribeBackupDownloadRestriction: 20,
};
const RATE_WINDOW_MS = 1000;
const MAX_BODY = 1 << 20;
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export interface ApiCredential {
  secretId: string;
  secretKey: string;
  /** When set, requests must carry it in X-TC-Token (an STS session). */
  token?: string | undefined;
  /** ms since the epoch: temporary keys are refused from then on (AuthFailure.TokenFailure). */
  expiresAt?: number | undefined;
}

export interface CdbApiOptions {
  catalog: Catalog;
  credentials: readonly ApiCredential[];
  /** Signs fresh download URLs for an item (the download server). */
  issueUrls: (item: EmulatorItem) => IssuedUrls;
  now?: () => number;
  /** Requests per second per action (0: none); default DEFAULT_RATE_LIMITS; false: no limits at all. */
  rateLimits?: Readonly<Record<string, number>> | false;
}

export interface ApiRequestRecord {
  time: number;
  action: string;
  instance: string | undefined;
  region: string | undefined;
  secretId: string | undefined;
  /** The error code returned, undefined on success. */
  errorCode: string | undefined;
  requestId: string;
}

export interface DownloadRestriction {
  LimitType: 'NoLimit' | 'LimitOnlyIntranet' | 'Customize';
  VpcComparisonSymbol: 'In';
  IpComparisonSymbol: 'In' | 'NotIn';
  LimitVpc: Array<{ Region: string; VpcList: string[] }>;
  LimitIp: string[];
}

type ApiErrorParams = { code: string; message?: string; action?: string };

export class ApiFaults {
  /** @internal */ readonly errors: Array<Fault<ApiErrorParams>> = [];
  /** @internal */ latencyMs = 0;
  /** @internal Requests per second per action; 0 = no limit. */
  readonly rateLimits: Map<string, number>;
  readonly #defaultRates: Readonly<Record<string, number>>;

  constructor(defaultRates: Readonly<Record<string, number>> = DEFAULT_RATE_LIMITS) {
    this.#defaultRates = defaultRates;
    this.rateLimits = new Map(Object.entries(defaultRates));
  }

  /** Sets an action's limit in requests per second (0: none); `clear()` restores the defaults. */
  apiRateLimit(opts: { action: string; perSecond: number }): void {
    if (typeof opts?.action !== 'string' || ACTION_PARAMS[opts.action] === undefined) throw new RangeError(`apiRateLimit: "action" must be one of ${Object.keys(ACTION_PARAMS).join(', ')}`);
    if (!Number.isSafeInteger(opts.perSecond) || opts.perSecond < 0) throw new RangeError('apiRateLimit: "perSecond" must be a whole number ≥ 0');
    this.rateLimits.set(opts.action, opts.perSecond);
  }

  /** The next `times` (default 1) calls (of `action`, or any) fail with `code`, after the signature is checked. */
  apiError(opts: { code: string; message?: string; times?: number; action?: string }): Fault<ApiErrorParams> {
    const params: ApiErrorParams = { code: opts.code };
    if (opts.message !== undefined) params.message = opts.message;
    if (opts.action !== undefined) params.action = opts.action;
    const f = new Fault('apiError', params, opts.times ?? 1);
    this.errors.push(f);
    return f;
  }

  /** Every API call answers `ms` later (0 = none). */
  apiLatency(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('apiLatency: ms must be ≥ 0');
    this.latencyMs = ms;
  }

  clear(): void {
    this.errors.length = 0;
    this.latencyMs = 0;
    this.rateLimits.clear();
    for (const [a, n] of Object.entries(this.#defaultRates)) this.rateLimits.set(a, n);
  }

  toJSON(): object {
    return { apiError: this.errors, apiLatency: this.latencyMs, apiRateLimits: Object.fromEntries(this.rateLimits) };
  }
}

/** An error the API answers with (HTTP 200, Response.Error). */
class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_MESSAGES: Record<string, string> = {
  RequestLimitExceeded: 'Your current request times equals to `11` in a second, which exceeds the frequency limit `10` for a second. Please reduce the frequency of calls.',
  InternalError: 'An internal error has occurred. Retry your request, but if the problem persists, contact us.',
  ServiceUnavailable: 'Service is unavailable now.',
  CdbError: 'Backend error or process error.',
  UnauthorizedOperation: 'You are not authorized to perform this operation.',
};

type Params = Record<string, unknown>;

export class CdbApi {
  readonly faults: ApiFaults;
  readonly requests: ApiRequestRecord[] = [];
  /** What DescribeBackupDownloadRestriction answers. */
  downloadRestriction: DownloadRestriction = { LimitType: 'NoLimit', VpcComparisonSymbol: 'In', IpComparisonSymbol: 'In', LimitVpc: [], LimitIp: [] };
  /** Instances whose DescribeSlowLogs answers UnsupportedOperation, as for single-node and cluster editions. */
  readonly noSlowLogs = new Set<string>();
  readonly #catalog: Catalog;
  readonly #credentials: ApiCredential[];
  readonly #issueUrls: (item: EmulatorItem) => IssuedUrls;
  readonly #now: () => number;
  /** Arrival times (monotonic ms) of the last second, per action: accepted ones, for the limit. */
  readonly #accepted = new Map<string, number[]>();
  /** Arrival times of the last second per action and per "secretId action", every request counted. */
  readonly #arrivals = new Map<string, number[]>();
  /** Highest number of requests seen within one second, per action and per caller (secret id) and action. */
  readonly peakRates: { byAction: Record<string, number>; byCaller: Record<string, Record<string, number>> } = { byAction: {}, byCaller: {} };

  constructor(opts: CdbApiOptions) {
    this.#catalog = opts.catalog;
    this.#credentials = [...opts.credentials];
    this.#issueUrls = opts.issueUrls;
    this.#now = opts.now ?? Date.now;
    const rates = opts.rateLimits === false ? {} : { ...DEFAULT_RATE_LIMITS, ...opts.rateLimits };
    for (const [action, n] of Object.entries(rates)) {
      if (ACTION_PARAMS[action] === undefined || !Number.isSafeInteger(n) || n < 0) throw new RangeError(`rateLimits: ${action}: ${n} is not a limit of a known action`);
    }
    this.faults = new ApiFaults(rates);
  }

  clearRequests(): void {
    this.requests.length = 0;
    this.#arrivals.clear();
    this.peakRates.byAction = {};
    this.peakRates.byCaller = {};
  }

  /** Counts a request in the peak rates; a monotonic clock, so a test's fake now() cannot distort it. */
  #countArrival(action: string, secretId: string, t: number): void {
    const bump = (key: string): number => {
      const times = this.#arrivals.get(key) ?? [];
      while (times.length > 0 && t - times[0]! >= RATE_WINDOW_MS) times.shift();
      times.push(t);
      this.#arrivals.set(key, times);
      return times.length;
    };
    this.peakRates.byAction[action] = Math.max(this.peakRates.byAction[action] ?? 0, bump(action));
    const mine = (this.peakRates.byCaller[secretId] ??= {});
    mine[action] = Math.max(mine[action] ?? 0, bump(`${secretId} ${action}`));
  }

  /** RequestLimitExceeded when the action had its limit of accepted requests in the last second. */
  #checkRate(action: string, t: number): void {
    const limit = this.faults.rateLimits.get(action) ?? 0;
    if (limit === 0) return;
    const times = this.#accepted.get(action) ?? [];
    while (times.length > 0 && t - times[0]! >= RATE_WINDOW_MS) times.shift();
    this.#accepted.set(action, times);
    if (times.length >= limit) {
      throw new ApiError('RequestLimitExceeded', `Your current request times equals to \`${times.length + 1}\` in a second, which exceeds the frequency limit \`${limit}\` for a second. Please reduce the frequency of calls.`);
    }
    times.push(t);
  }

  /**
   * The CDB side of the control API (README "Control API"), on the same port as the rest of it:
   *   POST /_emulator/instance  {"instance", "slowLogs"?: "unsupported" | "supported", "tags"?: {k: v}, "name"?,
   *                              "instanceType"?: 1|2|3, "status"?: 0|1|4|5, "remove"?: true}
   * (items are removed or changed through control.ts: POST /_emulator/remove, /_emulator/change)
   */
  static readonly CONTROL_PATHS: ReadonlySet<string> = new Set(['/_emulator/instance']);

  handleControl(req: IncomingMessage, res: ServerResponse): void {
    const send = (status: number, body: object): void => {
      const json = JSON.stringify(body);
      res.statusCode = status;
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Content-Length', String(Buffer.byteLength(json)));
      res.end(json);
    };
    (async () => {
      if (!LOOPBACK.has(req.socket.remoteAddress ?? '')) return send(403, { error: 'the control API answers loopback clients only' });
      if (req.method !== 'POST') return send(404, { error: `no such control route: ${req.method} ${req.url}` });
      const raw = await readBody(req, MAX_BODY);
      const b = JSON.parse(raw === undefined || raw.length === 0 ? '{}' : raw.toString('utf8')) as unknown;
      if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new Error('body must be a JSON object');
      const body = b as Record<string, unknown>;
      const instance = body['instance'];
      if (typeof instance !== 'string' || this.#catalog.instance(instance) === undefined) throw new Error(`"instance" must name an instance of the emulator, got ${JSON.stringify(instance)}`);
      const known = ['instance', 'slowLogs', 'tags', 'name', 'instanceType', 'status', 'remove'];
      for (const k of Object.keys(body)) if (!known.includes(k)) throw new Error(`unknown field "${k}" (known: ${known.join(', ')})`);
      if (Object.keys(body).length === 1) throw new Error(`nothing to change: give one of ${known.slice(1).join(', ')}`);
      if (body['remove'] !== undefined) {
        if (body['remove'] !== true || Object.keys(body).length !== 2) throw new Error('"remove" must be true, and alone');
        this.#catalog.removeInstance(instance);
        this.noSlowLogs.delete(instance);
        return send(200, { removed: instance });
      }
      const slow = body['slowLogs'];
      if (slow !== undefined && slow !== 'unsupported' && slow !== 'supported') throw new Error('"slowLogs" must be "unsupported" or "supported"');
      const attrs = { ...body } as Record<string, unknown>;
      delete attrs['instance'];
      delete attrs['slowLogs'];
      const inst = this.#catalog.setAttributes(instance, attrs);
      if (slow !== undefined) this.setSlowLogs(instance, slow);
      return send(200, { instance, ...(slow !== undefined ? { slowLogs: slow } : {}), name: inst.name, tags: Object.fromEntries(inst.tags), instanceType: inst.instanceType, status: inst.status });
    })().catch((err: unknown) => send(400, { error: err instanceof Error ? err.message : String(err) }));
  }

  /** "unsupported": DescribeSlowLogs answers UnsupportedOperation for the instance from now on. */
  setSlowLogs(instance: string, mode: 'supported' | 'unsupported'): void {
    if (mode === 'unsupported') this.noSlowLogs.add(instance);
    else this.noSlowLogs.delete(instance);
  }

  /** Accepts more keys from now on (the metadata and STS servers' temporary ones). */
  addCredential(c: ApiCredential): void {
    this.#credentials.push({ ...c });
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    this.#handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end(String(err));
      } else res.destroy();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, MAX_BODY);
    const requestId = randomUUID();
    const action = header(req, 'x-tc-action');
    const record: ApiRequestRecord = {
      time: this.#now(),
      action,
      instance: undefined,
      region: header(req, 'x-tc-region') || undefined,
      secretId: undefined,
      errorCode: undefined,
      requestId,
    };
    const traceId = header(req, 'x-tc-traceid');
    if (traceId !== '') res.setHeader('X-TC-TraceId', traceId);
    if (this.faults.latencyMs > 0) await sleep(this.faults.latencyMs);

    let payload: object;
    try {
      if (body === undefined) throw new ApiError('InvalidParameter', `The request body exceeds ${MAX_BODY} bytes.`);
      record.secretId = this.#authenticate(req, body);
      const params = parseParams(req, body);
      if (typeof params['InstanceId'] === 'string') record.instance = params['InstanceId'];
      if (action === '') throw new ApiError('MissingParameter', 'The request is missing a required parameter `Action`.');
      const version = header(req, 'x-tc-version');
      if (version === '') throw new ApiError('MissingParameter', 'The request is missing a required parameter `Version`.');
      if (version !== CDB_API_VERSION) throw new ApiError('NoSuchVersion', `The requested version \`${version}\` of API \`${action}\` does not exist.`);
      // Common parameters: X-TC-Language takes "zh-CN" or "en-US" (the SDK refuses anything else before
      // sending). Another value, or an empty one, is refused rather than ignored (strict on purpose).
      const language = req.headers['x-tc-language'];
      if (language !== undefined && language !== 'zh-CN' && language !== 'en-US') {
        throw new ApiError('InvalidParameterValue', `The value of parameter \`Language\` must be zh-CN or en-US, got ${JSON.stringify(language)}.`);
      }
      // Signed requests of a known action count towards the account's limit, refused ones included.
      if (ACTION_PARAMS[action] !== undefined) {
        const t = performance.now();
        this.#countArrival(action, record.secretId, t);
        this.#checkRate(action, t);
      }
      for (const f of this.faults.errors) {
        if ((f.params.action === undefined || f.params.action === action) && f.take()) {
          throw new ApiError(f.params.code, f.params.message ?? DEFAULT_MESSAGES[f.params.code] ?? `Injected ${f.params.code}.`);
        }
      }
      payload = await this.#dispatch(action, params, record.region);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      record.errorCode = err.code;
      payload = { Error: { Code: err.code, Message: err.message } };
    }
    this.requests.push(record);
    const json = JSON.stringify({ Response: { ...payload, RequestId: requestId } });
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', String(Buffer.byteLength(json)));
    res.end(json);
  }

  /** Verifies TC3-HMAC-SHA256 (tc3.ts); returns the SecretId. */
  #authenticate(req: IncomingMessage, body: Buffer): string {
    try {
      return verifyTc3(req, body, { service: 'cdb', now: this.#now, findCredential: (id) => this.#credentials.find((c) => c.secretId === id) });
    } catch (err) {
      throw err instanceof Tc3Error ? new ApiError(err.code, err.message) : err;
    }
  }

  async #dispatch(action: string, params: Params, region: string | undefined): Promise<object> {
    const known = ACTION_PARAMS[action];
    if (known === undefined) throw new ApiError('InvalidAction', `The action \`${action}\` is not supported by the emulator's CDB API.`);
    for (const name of Object.keys(params)) {
      if (!known.includes(name)) throw new ApiError('UnknownParameter', `The parameter \`${name}\` is not recognized.`);
    }
    switch (action) {
      case 'DescribeBackups':
        return this.#describeBackups(params, region);
      case 'DescribeBinlogs':
        return this.#describeBinlogs(params, region);
      case 'DescribeSlowLogs':
        return this.#describeSlowLogs(params, region);
      case 'DescribeDBInstances':
        return this.#describeDBInstances(params, region);
      case 'DescribeBackupDownloadRestriction':
        if (region === undefined) throw new ApiError('MissingParameter', 'The request is missing a required parameter `Region`.');
        return structuredClone(this.downloadRestriction);
      default:
        throw new ApiError('InvalidAction', `The action \`${action}\` is not supported by the emulator's CDB API.`);
    }
  }

  async #describeBackups(params: Params, region: string | undefined): Promise<object> {
    const { instance, offset, limit } = this.#pageOf(params, region);
    const all = this.#catalog.list(instance, 'data');
    const page = all.slice(offset, offset + limit);
    const items = await Promise.all(page.map((item) => this.#backupInfo(item)));
    return { TotalCount: all.length, Items: items };
  }

  async #backupInfo(item: EmulatorItem): Promise<object> {
    const done = item.status === 'SUCCESS';
    const urls = done ? this.#issueUrls(item) : { internet: '', intranet: '' };
    const info: Record<string, unknown> = {
      Name: item.name,
      Size: item.size,
      Date: formatCdbTime(item.time),
      IntranetUrl: urls.intranet,
      // CosStorageType 2 (standard storage) is downloadable from the intranet only.
      InternetUrl: item.cosStorageType === 2 ? '' : urls.internet,
      Type: item.backupType,
      BackupId: item.backupId,
      Status: item.status,
      FinishTime: item.finishTime === 0 ? '0000-00-00 00:00:00' : formatCdbTime(item.finishTime),
      Creator: 'SYSTEM',
      StartTime: formatCdbTime(item.startTime),
      Method: item.method,
      Way: item.way,
      ManualBackupName: item.manualBackupName,
      SaveMode: 'save_mode_regular',
      Region: item.region,
      RemoteInfo: [],
      CosStorageType: item.cosStorageType,
      InstanceId: item.instance,
      Progress: item.progress,
      EncryptionFlag: item.encrypted ? 'on' : 'off',
      ExecutedGTIDSet: `${gtidUuid(item.instance)}:1-${1000 + ((item.backupId ?? 0) % 100_000)}`,
    };
    if (item.md5 && done) info['MD5'] = typeof item.md5 === 'string' ? item.md5 : await contentMd5(item.seed, item.size);
    return info;
  }

  #describeBinlogs(params: Params, region: string | undefined): object {
    const { instance, offset, limit } = this.#pageOf(params, region);
    const min = optionalTime(params, 'MinStartTime');
    const max = optionalTime(params, 'MaxStartTime');
    // A window that ends before it starts lists nothing on any reading of the docs; the emulator refuses
    // it rather than answering an empty page a client could take for "no binlogs" (strict on purpose).
    if (min !== undefined && max !== undefined && min > max) {
      throw new ApiError('InvalidParameterValue', `The value of parameter \`MinStartTime\` (${String(params['MinStartTime'])}) must not be later than \`MaxStartTime\` (${String(params['MaxStartTime'])}).`);
    }
    const contains = params['ContainsMinStartTime'];
    if (contains !== undefined && typeof contains !== 'boolean') throw new ApiError('InvalidParameter', 'The type of parameter `ContainsMinStartTime` is incorrect: it must be a boolean.');
    // MinStartTime/MaxStartTime bound BinlogStartTime; ContainsMinStartTime also returns the binlog
    // that was being written at MinStartTime (it started before and ended at or after it).
    const all = this.#catalog.list(instance, 'binlog').filter((b) => {
      const start = b.binlogStartTime!;
      const finish = b.binlogFinishTime!;
      if (max !== undefined && start > max) return false;
      if (min === undefined || start >= min) return true;
      return contains === true && finish >= min;
    });
    const items = all.slice(offset, offset + limit).map((b) => {
      const urls = this.#issueUrls(b);
      return {
        Name: b.name,
        Size: b.size,
        Date: formatCdbTime(b.time),
        IntranetUrl: urls.intranet,
        InternetUrl: urls.internet,
        Type: 'binlog',
        BinlogStartTime: formatCdbTime(b.binlogStartTime!),
        BinlogFinishTime: formatCdbTime(b.binlogFinishTime!),
        Region: b.region,
        Status: b.status,
        RemoteInfo: [],
        CosStorageType: b.cosStorageType,
        InstanceId: b.instance,
        Progress: b.progress,
      };
    });
    return { TotalCount: all.length, Items: items };
  }

  #describeSlowLogs(params: Params, region: string | undefined): object {
    const { instance, offset, limit } = this.#pageOf(params, region);
    if (this.noSlowLogs.has(instance)) {
      throw new ApiError('UnsupportedOperation', `Slow log download is not supported for instance ${instance}: single-node and cluster editions do not support it.`);
    }
    const all = this.#catalog.list(instance, 'slowlog');
    const items = all.slice(offset, offset + limit).map((s) => {
      const urls = this.#issueUrls(s);
      return { Name: s.name, Size: s.size, Date: formatCdbDate(s.time), IntranetUrl: urls.intranet, InternetUrl: urls.internet, Type: 'slowlog' };
    });
    return { TotalCount: all.length, Items: items };
  }

  #describeDBInstances(params: Params, region: string | undefined): object {
    const offset = intParam(params, 'Offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(params, 'Limit', 20, 1, MAX_INSTANCE_LIMIT);
    const types = intList(params, 'InstanceTypes', [1, 2, 3]);
    const status = intList(params, 'Status', [0, 1, 4, 5]);
    const ids = stringList(params, 'InstanceIds');
    const tags = tagList(params);
    if (region === undefined) throw new ApiError('MissingParameter', 'The request is missing a required parameter `Region`.');
    // Newest first, as the real default (OrderBy createTime, DESC) lists them.
    const all = this.#catalog
      .instances()
      .filter((i) => i.region === region)
      .reverse()
      .filter((i) => (types === undefined || types.includes(i.instanceType)) && (status === undefined || status.includes(i.status)) && (ids === undefined || ids.includes(i.id)))
      // Several Tags: the emulator requires all to match (the real API does not say; the client matches itself anyway).
      .filter((i) => tags === undefined || tags.every((t) => i.tags.get(t.Key) === t.Value));
    const items = all.slice(offset, offset + limit).map((i) => ({
      InstanceId: i.id,
      InstanceName: i.name,
      Region: i.region,
      Zone: `${i.region}-2`,
      InstanceType: i.instanceType,
      Status: i.status,
      EngineVersion: '8.0',
      EngineType: 'InnoDB',
      DeviceType: 'UNIVERSAL',
      PayType: 1,
      TaskStatus: 0,
      // A running instance's tags; the real API shows none for one being created.
      TagList: i.status === 0 ? [] : [...i.tags].map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
    }));
    return { TotalCount: all.length, Items: items };
  }

  #pageOf(params: Params, region: string | undefined): { instance: string; offset: number; limit: number } {
    const id = params['InstanceId'];
    if (id === undefined) throw new ApiError('MissingParameter', 'The request is missing a required parameter `InstanceId`.');
    if (typeof id !== 'string') throw new ApiError('InvalidParameter', 'The type of parameter `InstanceId` is incorrect: it must be a string.');
    if (!INSTANCE_ID.test(id)) throw new ApiError('InvalidParameterValue', `The value of parameter \`InstanceId\` is invalid: ${JSON.stringify(id)} is not an instance id.`);
    const offset = intParam(params, 'Offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(params, 'Limit', 20, 1, MAX_LIMIT);
    if (region === undefined) throw new ApiError('MissingParameter', 'The request is missing a required parameter `Region`.');
    const inst = this.#catalog.instance(id);
    if (inst === undefined || inst.region !== region) {
      throw new ApiError('InvalidParameter.InstanceNotFound', `The instance ${id} does not exist in region ${region}.`);
    }
    return { instance: id, offset, limit };
  }
}

/**
 * An Integer parameter. A string ("10"), a fraction or null is a type error (InvalidParameter, as the
 * gateway answers a value of the wrong type); an integer out of range is InvalidParameterValue.
 */
function intParam(params: Params, name: string, dflt: number, min: number, max: number): number {
  const v = params[name];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new ApiError('InvalidParameter', `The type of parameter \`${name}\` is incorrect: it must be an integer, got ${JSON.stringify(v)}.`);
  }
  if (v < min || v > max) throw new ApiError('InvalidParameterValue', `The value of parameter \`${name}\` must be from ${min} to ${max}, got ${v}.`);
  return v;
}

/** An Array of Integer: a non-empty list of allowed values; [] or another type is refused, not ignored. */
function intList(params: Params, name: string, allowed: readonly number[]): number[] | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x))) {
    throw new ApiError('InvalidParameter', `The type of parameter \`${name}\` is incorrect: it must be an array of integers.`);
  }
  if (v.length === 0 || !v.every((x) => allowed.includes(x as number))) {
    throw new ApiError('InvalidParameterValue', `The value of parameter \`${name}\` must be a non-empty list of ${allowed.join(', ')}, got ${JSON.stringify(v)}.`);
  }
  return v as number[];
}

/** An Array of String, non-empty, of non-empty strings. */
function stringList(params: Params, name: string): string[] | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ApiError('InvalidParameter', `The type of parameter \`${name}\` is incorrect: it must be an array of strings.`);
  if (v.length === 0 || v.some((x) => x === '')) throw new ApiError('InvalidParameterValue', `The value of parameter \`${name}\` must be a non-empty list of non-empty strings.`);
  return v as string[];
}

/** Tags: [{Key, Value}, …], both non-empty strings, no other field. */
function tagList(params: Params): Array<{ Key: string; Value: string }> | undefined {
  const v = params['Tags'];
  if (v === undefined) return undefined;
  const ok = (t: unknown): boolean =>
    t !== null && typeof t === 'object' && !Array.isArray(t) && Object.keys(t).every((k) => k === 'Key' || k === 'Value') && typeof (t as Record<string, unknown>)['Key'] === 'string' && typeof (t as Record<string, unknown>)['Value'] === 'string';
  if (!Array.isArray(v) || !v.every(ok)) throw new ApiError('InvalidParameter', 'The type of parameter `Tags` is incorrect: it must be an array of {"Key": string, "Value": string}.');
  if (v.length === 0 || v.some((t: { Key: string }) => t.Key === '')) throw new ApiError('InvalidParameterValue', 'The value of parameter `Tags` must be a non-empty list of tags with non-empty keys.');
  return v as Array<{ Key: string; Value: string }>;
}

/** A time parameter: exactly "YYYY-MM-DD HH:mm:ss" naming a real instant; empty is refused, not ignored. */
function optionalTime(params: Params, name: string): number | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ApiError('InvalidParameter', `The type of parameter \`${name}\` is incorrect: it must be a string.`);
  const ms = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(v) ? parseCdbTime(v) : undefined;
  // Date.UTC rolls 2024-02-30 over to March: a time that does not print back the same is not a time.
  if (ms === undefined || formatCdbTime(ms) !== v) {
    throw new ApiError('InvalidParameterValue', `The value of parameter \`${name}\` must look like 2016-03-17 02:10:37, got ${JSON.stringify(v)}.`);
  }
  return ms;
}

function parseParams(req: IncomingMessage, body: Buffer): Params {
  if (req.method !== 'POST') throw new ApiError('UnsupportedProtocol', 'The emulator accepts only POST requests with a JSON body.');
  // Signature v3: a POST signed with TC3-HMAC-SHA256 carries "application/json" (recommended) or
  // "multipart/form-data" (only some APIs; not CDB's Describe* actions); form-urlencoded bodies go with
  // the older HmacSHA1/HmacSHA256 methods only. Anything but JSON is refused here (strict on purpose:
  // the code the gateway answers with is not documented).
  const ct = header(req, 'content-type').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/json') throw new ApiError('InvalidParameter', `The Content-Type \`${header(req, 'content-type')}\` is not supported: a TC3-signed POST must send application/json.`);
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ApiError('InvalidParameter', 'The request body is not valid JSON.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ApiError('InvalidParameter', 'The request body must be a JSON object.');
  return parsed as Params;
}

/** The whole body, or undefined past `limit` bytes. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n <= limit) chunks.push(chunk);
  }
  return n > limit ? undefined : Buffer.concat(chunks);
}


function gtidUuid(instance: string): string {
  const h = createHash('md5').update(instance).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
