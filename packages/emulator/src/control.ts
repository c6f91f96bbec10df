// The emulator's control API, on the CDB port under /_emulator/, for other processes (a benchmark, a
// person rehearsing): unsigned, so it answers loopback clients only (the server listens on 127.0.0.1).
//
//   GET  /_emulator/state       items, COS objects and open uploads, counters, faults, recent requests
//   POST /_emulator/faults      {"clear":true, "dropAfter":{…}, "stall":{…}, "notFound":{…}, "expireUrls":true, "expireAfter":{…},
//                                "throttle":N, "maxConnections":N, "apiError":{…}, "apiLatency":MS,
//                                "apiRateLimit":{"action","perSecond"} (0: none; "clear" restores the defaults),
//                                "cos":{"<CosFaults method>": argument, …},
//                                "s3":{"<S3Faults method>": argument, …}}  (a list value: one call each)
//   POST /_emulator/items       {"instance":"cdb-…", "region"?: "…", "items":[EmulatorItemSpec, …]}
//   POST /_emulator/status      {"instance", "type", "name", "status"}: e.g. a RUNNING backup finishes
//   POST /_emulator/remove      {"instance", "type", "name"}: the item leaves the listing, its URLs answer 404
//   POST /_emulator/change      {"instance", "type", "name", "seed"?, "size"?}: new bytes under the same name and id
//   POST /_emulator/reset-log   forgets the request logs and counters
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Catalog, EmulatorItem, EmulatorItemSpec } from './catalog.js';
import type { CdbApi } from './cdb-api.js';
import type { CosEmulator } from './cos/index.js';
import type { DownloadServer } from './downloads.js';
import type { S3Emulator } from './s3/index.js';

/**
 * What the control routes drive. The Emulator (index.ts) implements it; declaring it here keeps the
 * dependency one way (index → control), with no import of the class back from the routes.
 */
export interface ControlTarget {
  readonly catalog: Pick<Catalog, 'setStatus' | 'remove' | 'change'>;
  readonly cdb: Pick<CdbApi, 'faults'>;
  readonly downloads: Pick<DownloadServer, 'faults'>;
  readonly cos: Pick<CosEmulator, 'faults'>;
  readonly s3: Pick<S3Emulator, 'faults'>;
  addItems(instance: string, items: readonly EmulatorItemSpec[], region?: string, attrs?: { tags?: Record<string, string> }): EmulatorItem[];
  state(): object;
  faultState(): object;
  clearFaults(): void;
  resetLog(): void;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export function handleControl(emulator: ControlTarget, req: IncomingMessage, res: ServerResponse): void {
  control(emulator, req, res).catch((err: unknown) => {
    send(res, 400, { error: err instanceof Error ? err.message : String(err) });
  });
}

async function control(emulator: ControlTarget, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!LOOPBACK.has(req.socket.remoteAddress ?? '')) {
    send(res, 403, { error: 'the control API answers loopback clients only' });
    return;
  }
  const path = (req.url ?? '').split('?')[0];
  const route = `${req.method} ${path}`;
  const body = req.method === 'POST' ? await readJson(req) : undefined;
  switch (route) {
    case 'GET /_emulator/state':
      send(res, 200, emulator.state());
      return;
    case 'POST /_emulator/faults':
      applyFaults(emulator, body);
      send(res, 200, { faults: emulator.faultState() });
      return;
    case 'POST /_emulator/items': {
      const b = asObject(body, 'body');
      if (typeof b['instance'] !== 'string') throw new Error('"instance" must be a string');
      if (!Array.isArray(b['items'])) throw new Error('"items" must be a list of item specs');
      const region = typeof b['region'] === 'string' ? b['region'] : undefined;
      for (const k of Object.keys(b)) if (!['instance', 'region', 'items', 'tags'].includes(k)) throw new Error(`unknown field "${k}" (known: instance, region, items, tags)`);
      const added = emulator.addItems(b['instance'], b['items'] as EmulatorItemSpec[], region, b['tags'] !== undefined ? { tags: b['tags'] as Record<string, string> } : {});
      send(res, 200, { added: added.map((i) => ({ instance: i.instance, type: i.type, name: i.name, size: i.size, backupId: i.backupId })) });
      return;
    }
    case 'POST /_emulator/status': {
      const b = asObject(body, 'body');
      const [instance, type, name, status] = ['instance', 'type', 'name', 'status'].map((k) => b[k]);
      if (![instance, type, name, status].every((v) => typeof v === 'string')) throw new Error('"instance", "type", "name" and "status" must be strings');
      const item = emulator.catalog.setStatus(instance as string, type as string, name as string, status as string);
      send(res, 200, { instance: item.instance, type: item.type, name: item.name, status: item.status });
      return;
    }
    case 'POST /_emulator/remove': {
      const [instance, type, name] = itemRef(body);
      const item = emulator.catalog.remove(instance, type, name);
      send(res, 200, { removed: { instance: item.instance, type: item.type, name: item.name } });
      return;
    }
    case 'POST /_emulator/change': {
      const b = asObject(body, 'body');
      const [instance, type, name] = itemRef(b);
      for (const k of Object.keys(b)) if (!['instance', 'type', 'name', 'seed', 'size'].includes(k)) throw new Error(`unknown field "${k}" (known: instance, type, name, seed, size)`);
      if (b['seed'] !== undefined && typeof b['seed'] !== 'string') throw new Error('"seed" must be a string');
      if (b['size'] !== undefined && typeof b['size'] !== 'number') throw new Error('"size" must be a number of bytes');
      const item = emulator.catalog.change(instance, type, name, {
        ...(b['seed'] !== undefined ? { seed: b['seed'] as string } : {}),
        ...(b['size'] !== undefined ? { size: b['size'] as number } : {}),
      });
      send(res, 200, { changed: { instance: item.instance, type: item.type, name: item.name, size: item.size } });
      return;
    }
    case 'POST /_emulator/reset-log':
      emulator.resetLog();
      send(res, 200, { ok: true });
      return;
    default:
      send(res, 404, { error: `no such control route: ${route}` });
  }
}

const FAULT_KEYS = new Set(['clear', 'dropAfter', 'stall', 'notFound', 'expireUrls', 'expireAfter', 'throttle', 'maxConnections', 'apiError', 'apiLatency', 'apiRateLimit', 'cos', 's3']);

/** The fault methods of the COS and S3 emulators a control request may call (not clear/pending/take*). */
const FAULT_METHODS = new Set(['failPart', 'failOp', 'resetPart', 'corruptPart', 'omitPartCrc', 'dropReply', 'throttleUploads', 'latency']);

function applyFaults(emulator: ControlTarget, body: unknown): void {
  const b = asObject(body, 'body');
  const d = emulator.downloads.faults;
  const a = emulator.cdb.faults;
  const each = (v: unknown, f: (x: never) => unknown): void => {
    for (const x of Array.isArray(v) ? v : [v]) f(x as never);
  };
  const cosFaults = emulator.cos.faults as unknown as Record<string, unknown>;
  // Check every name before arming anything: a typo must not leave half the faults armed.
  for (const k of Object.keys(b)) {
    if (!FAULT_KEYS.has(k)) throw new Error(`unknown fault "${k}" (known: ${[...FAULT_KEYS].join(', ')})`);
  }
  const s3Faults = emulator.s3.faults as unknown as Record<string, unknown>;
  for (const [key, faults, name] of [['cos', cosFaults, 'COS'], ['s3', s3Faults, 'S3']] as const) {
    for (const method of Object.keys(b[key] === undefined ? {} : asObject(b[key], key))) {
      if (!FAULT_METHODS.has(method) || typeof faults[method] !== 'function') throw new Error(`the ${name} emulator has no fault "${method}"`);
    }
  }
  if (b['clear'] === true) emulator.clearFaults();
  for (const [k, v] of Object.entries(b)) {
    switch (k) {
      case 'clear':
        break;
      case 'dropAfter':
        each(v, (x: Parameters<typeof d.dropAfter>[0]) => d.dropAfter(x));
        break;
      case 'stall':
        each(v, (x: Parameters<typeof d.stall>[0]) => d.stall(x));
        break;
      case 'notFound':
        each(v, (x: Parameters<typeof d.notFound>[0]) => d.notFound(x ?? {}));
        break;
      case 'expireUrls':
        if (v === true) d.expireUrls();
        break;
      case 'expireAfter':
        each(v, (x: Parameters<typeof d.expireAfter>[0]) => d.expireAfter(x));
        break;
      case 'throttle':
        d.throttle(Number(v));
        break;
      case 'maxConnections':
        d.maxConnections(Number(v));
        break;
      case 'apiError':
        each(v, (x: Parameters<typeof a.apiError>[0]) => a.apiError(x));
        break;
      case 'apiLatency':
        a.apiLatency(Number(v));
        break;
      case 'apiRateLimit':
        each(v, (x: Parameters<typeof a.apiRateLimit>[0]) => a.apiRateLimit(x));
        break;
      case 'cos':
      case 's3': {
        const target = k === 'cos' ? cosFaults : s3Faults;
        for (const [method, arg] of Object.entries(asObject(v, k))) {
          const fn = target[method] as (x: unknown) => unknown;
          each(arg, (x: unknown) => fn.call(target, x));
        }
        break;
      }
    }
  }
}

function itemRef(body: unknown): [string, string, string] {
  const b = asObject(body, 'body');
  const ref = ['instance', 'type', 'name'].map((k) => b[k]);
  if (!ref.every((v) => typeof v === 'string' && v !== '')) throw new Error('"instance", "type" and "name" must be non-empty strings');
  return ref as [string, string, string];
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? {} : JSON.parse(text);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', String(Buffer.byteLength(json)));
  res.end(json);
}
