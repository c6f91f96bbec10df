// Lists what CDB keeps: data backups, binlogs and slow logs, every page, as CatalogItems.
import { Cdb2cosError } from '../errors.js';
import type { BackupType, CatalogItem } from '../types.js';
import type { CdbApi } from './client.js';

/** CDB's documented maximum is disputed (100 or 1000); 100 is safe everywhere. */
export const PAGE_LIMIT = 100;

const CDB_UTC_OFFSET_MS = 8 * 3600_000;

/** Reads CDB's "YYYY-MM-DD HH:mm:ss" (or date only) as UTC+8, CDB's clock. NaN when it does not parse. */
export function parseCdbTime(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(s.trim());
  if (!m) return Number.NaN;
  const [, y, mo, d, h, mi, se] = m;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(se ?? 0)) - CDB_UTC_OFFSET_MS;
}

/** Formats epoch ms as CDB's "YYYY-MM-DD HH:mm:ss" in UTC+8. */
export function formatCdbTime(ms: number): string {
  return new Date(ms + CDB_UTC_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');
}

export interface ListOptions {
  /** Epoch ms; binlogs pass it to the API, everything is also filtered by the plan. */
  since?: number | undefined;
  until?: number | undefined;
  url: 'internet' | 'intranet';
  signal?: AbortSignal | undefined;
  /** Wraps each API call (retries, rate limiting). */
  call?: <T>(fn: () => Promise<T>) => Promise<T>;
}

const ACTIONS: Record<BackupType, string> = {
  data: 'DescribeBackups',
  binlog: 'DescribeBinlogs',
  slowlog: 'DescribeSlowLogs',
};

/** Every item of one type of one instance, all pages. Result also reports how many pages it took. */
export async function listItems(api: CdbApi, instance: string, type: BackupType, opts: ListOptions): Promise<{ items: CatalogItem[]; pages: number }> {
  const action = ACTIONS[type];
  const call = opts.call ?? (<T>(fn: () => Promise<T>) => fn());
  const items: CatalogItem[] = [];
  let offset = 0;
  let pages = 0;
  for (;;) {
    const params: Record<string, unknown> = { InstanceId: instance, Offset: offset, Limit: PAGE_LIMIT };
    if (type === 'binlog') {
      if (opts.since !== undefined) {
        params['MinStartTime'] = formatCdbTime(opts.since);
        // A binlog that started before `since` but runs past it still holds events of the window.
        params['ContainsMinStartTime'] = true;
      }
      if (opts.until !== undefined) params['MaxStartTime'] = formatCdbTime(opts.until);
    }
    const res = await call(() => api.call(action, params, opts.signal));
    pages++;
    const raw = Array.isArray(res['Items']) ? (res['Items'] as Array<Record<string, unknown>>) : [];
    for (const r of raw) items.push(toItem(instance, type, r, opts.url));
    const total = typeof res['TotalCount'] === 'number' ? res['TotalCount'] : items.length;
    offset += raw.length;
    if (raw.length === 0 || offset >= total) break;
  }
  return { items: dedupe(items), pages };
}

function dedupe(items: CatalogItem[]): CatalogItem[] {
  // Pages shift when CDB adds a backup mid-listing; the same item may then appear twice.
  const seen = new Set<string>();
  return items.filter((i) => {
    const k = `${i.type}\0${i.id}\0${i.name}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

export function toItem(instance: string, type: BackupType, r: Record<string, unknown>, url: 'internet' | 'intranet'): CatalogItem {
  const name = str(r['Name']);
  const date = type === 'binlog' ? str(r['BinlogStartTime']) || str(r['Date']) : str(r['Date']);
  const size = Number(r['Size'] ?? 0);
  if (!name || !Number.isFinite(size) || size < 0) {
    throw new Cdb2cosError('ERR_REQUEST', `CDB listed a ${type} of ${instance} without a usable Name/Size`);
  }
  const md5 = str(r['MD5']).toLowerCase();
  const internet = str(r['InternetUrl']);
  const intranet = str(r['IntranetUrl']);
  return {
    instance,
    type,
    name,
    id: type === 'data' && r['BackupId'] !== undefined ? String(r['BackupId']) : name,
    size,
    date,
    time: parseCdbTime(date),
    ...(type === 'binlog' && Number.isFinite(parseCdbTime(str(r['BinlogFinishTime']))) ? { finishTime: parseCdbTime(str(r['BinlogFinishTime'])) } : {}),
    status: str(r['Status']) || (type === 'slowlog' ? 'SUCCESS' : ''),
    cosStorageType: Number(r['CosStorageType'] ?? 0),
    md5: /^[0-9a-f]{32}$/.test(md5) ? md5 : undefined,
    url: url === 'intranet' ? intranet || internet : internet || intranet,
  };
}
