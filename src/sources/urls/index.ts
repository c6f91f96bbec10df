// The [urls] source: the files of a URL list. One unit (`urls`) of one type (`url`); each line is probed
// (src/sources/urls/probe.ts) with a bounded number of requests at once for its size, validator and
// checksums. A URL the server refuses (403, 404, …) is listed FAILED with its reason: it fails alone.
import { readFile as fsReadFile } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { URL_KEY_TOKENS } from '../../config/keys.js';
import { Cdb2cosError, errInfo } from '../../errors.js';
import type { CatalogItem, UrlsConfig } from '../../types.js';
import type { ItemAccess, Source, TypeListing, TypeListingFailure } from '../source.js';
import { parseUrlList, type UrlLine } from './list-file.js';
import { probeUrl, UrlRefusedError } from './probe.js';

export const URLS_UNIT = 'urls';
/** Probes in flight at once: enough to hide latency, few enough not to look like a flood to one server. */
export const PROBE_CONCURRENCY = 8;
/** The template of an item whose line gives its own KEY: the KEY (in fields.path) below the prefix. */
export const EXPLICIT_KEY_TEMPLATE = '{prefix}{path}';

export interface UrlsDeps {
  dispatcher: Dispatcher;
  timeoutMs: number;
  retry: <T>(fn: () => Promise<T>) => Promise<T>;
  readFile?: ((path: string) => Promise<string>) | undefined;
  signal?: AbortSignal | undefined;
  log: Logger;
}

export interface UrlsSource extends Source {
  /** The key template of an item: `[urls] key`, or EXPLICIT_KEY_TEMPLATE for a line that gives a KEY. */
  keyTemplate(item: CatalogItem): string;
}

export function createUrlsSource(cfg: UrlsConfig, deps: UrlsDeps): UrlsSource {
  const read = deps.readFile ?? ((p: string) => fsReadFile(p, 'utf8'));
  // Ids (the URL without its query) of the lines that give their own KEY.
  const explicit = new Set<string>();
  return {
    kind: 'urls',
    placeholders: URL_KEY_TOKENS,
    units: async () => [URLS_UNIT],
    keyTemplate: (item) => (explicit.has(item.id) ? EXPLICIT_KEY_TEMPLATE : cfg.key),
    keyTemplates: () => (explicit.size > 0 ? [cfg.key, EXPLICIT_KEY_TEMPLATE] : [cfg.key]),
    async list(unit): Promise<Array<TypeListing | TypeListingFailure>> {
      if (unit !== URLS_UNIT) throw new Cdb2cosError('ERR_NOT_FOUND', `the URL list has no unit ${JSON.stringify(unit)} (only ${URLS_UNIT})`);
      let lines: UrlLine[];
      try {
        lines = parseUrlList(await readList(read, cfg.file), cfg.file);
      } catch (err) {
        if (deps.signal?.aborted) throw err;
        return [{ type: 'url', error: err instanceof Cdb2cosError ? err : new Cdb2cosError('ERR_IO', String(err)) }];
      }
      explicit.clear();
      for (const l of lines) if (l.key !== undefined) explicit.add(l.id);
      const items = await mapLimit(lines, PROBE_CONCURRENCY, (l) => probeLine(l, deps));
      deps.signal?.throwIfAborted();
      const clash = duplicateKey(items, lines, cfg.key, explicit);
      if (clash !== undefined) return [{ type: 'url', error: new Cdb2cosError('ERR_CONFIG', `${cfg.file} ${clash}`) }];
      return [{ type: 'url', items, pages: 1, narrowed: false }];
    },
    access(item): ItemAccess {
      return { kind: 'http', url: async () => item.url, refresh: async () => {} };
    },
  };
}

async function readList(read: (p: string) => Promise<string>, file: string): Promise<string> {
  try {
    return await read(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new Cdb2cosError(code === 'ENOENT' ? 'ERR_CONFIG' : 'ERR_IO', code === 'ENOENT' ? `URL list ${file} not found` : `cannot read URL list ${file}: ${code}`, { cause: err });
  }
}

async function probeLine(l: UrlLine, deps: UrlsDeps): Promise<CatalogItem> {
  const base: CatalogItem = {
    source: 'urls',
    instance: URLS_UNIT,
    type: 'url',
    name: l.name,
    id: l.id,
    size: 0,
    date: '',
    time: Number.NaN,
    status: 'SUCCESS',
    cosStorageType: 0,
    md5: undefined,
    url: l.url,
    // A line's KEY takes the place of the path: the item's template is then EXPLICIT_KEY_TEMPLATE.
    fields: { host: l.host, path: l.key ?? l.path },
  };
  try {
    const f = await probeUrl(l.url, deps);
    deps.log.debug({ id: l.id, line: l.line, bytes: f.size, ranges: f.ranges, validator: f.validator !== undefined }, 'url probed');
    return {
      ...base,
      size: f.size,
      ...(f.lastModified !== undefined ? { date: formatUtc8(f.lastModified), time: f.lastModified } : {}),
      md5: f.md5,
      ...(f.validator !== undefined ? { validator: f.validator } : {}),
      ...(f.ranges ? {} : { rangeless: true }),
    };
  } catch (err) {
    if (deps.signal?.aborted) throw err;
    const failure = err instanceof UrlRefusedError ? err.message : `not reachable: ${errInfo(err).message as string}`;
    deps.log.warn({ id: l.id, line: l.line, failure }, 'url failed');
    return { ...base, status: 'FAILED', failure };
  }
}

/** The first two lines whose items would get the same key (below the prefix), as "line N: …", or undefined. */
function duplicateKey(items: CatalogItem[], lines: UrlLine[], template: string, explicit: ReadonlySet<string>): string | undefined {
  const seen = new Map<string, number>();
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const key = (explicit.has(item.id) ? EXPLICIT_KEY_TEMPLATE : template).replace(/\{([a-z]+)\}/g, (whole, p: string) => {
      switch (p) {
        case 'prefix':
          return '';
        case 'instance':
          return item.instance;
        case 'type':
          return item.type;
        case 'date':
          return item.date.slice(0, 10) || 'undated';
        case 'name':
          return item.name;
        default:
          return item.fields?.[p] ?? whole;
      }
    });
    const line = lines[i]!.line;
    const other = seen.get(key);
    if (other !== undefined) return `line ${line}: its key ${JSON.stringify(key)} (below the prefix) is also line ${other}'s; give one of them a KEY`;
    seen.set(key, line);
  }
  return undefined;
}

/** fn over every element, at most `limit` at once, results in order. */
async function mapLimit<T, R>(xs: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await fn(xs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, xs.length) }, worker));
  return out;
}

/** "YYYY-MM-DD HH:mm:ss" in UTC+8, the clock CatalogItem dates are read in (CDB's). */
function formatUtc8(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}
