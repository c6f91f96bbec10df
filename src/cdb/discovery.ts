// Instance discovery: `[cdb] instances = *` copies every MySQL instance of the region that
// DescribeDBInstances lists (every page), narrowed by `instance_tags` (all must match) and `exclude`.
import { Cdb2cosError } from '../errors.js';
import type { CdbApi } from './client.js';

export interface InstanceTag {
  key: string;
  value: string;
}

export interface DiscoverOptions {
  tags: readonly InstanceTag[];
  exclude: readonly string[];
  signal?: AbortSignal | undefined;
  /** Wraps each API call (retries). */
  call?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Instances per page; the API allows up to 2000 (SDK 4.1 model docs), 100 keeps replies small. */
  pageLimit?: number;
}

export interface DiscoveredInstance {
  id: string;
  name: string;
  tags: InstanceTag[];
}

export interface Discovery {
  /** The instances to copy, sorted by id. */
  instances: DiscoveredInstance[];
  /** How many the API listed before tags and exclude narrowed them. */
  listed: number;
  pages: number;
}

/**
 * Which instances: InstanceTypes 1 (primary) and 2 (disaster recovery), each with its own backups;
 * read-only instances (3) have no backups of their own and are left out. Status 1 (running), 4 (being
 * isolated) and 5 (isolated, in the recycle bin: its backups still exist until it is destroyed); an
 * instance being created (0) has nothing to copy yet.
 */
export const DISCOVER_FILTER = { InstanceTypes: [1, 2], Status: [1, 4, 5] } as const;

/**
 * Tags are matched here, on each instance's TagList, rather than by the API's `Tags` filter: the API
 * does not document whether several tags must all match or any one, and `instance_tags` promises all.
 */
export async function discoverInstances(api: CdbApi, opts: DiscoverOptions): Promise<Discovery> {
  const call = opts.call ?? (<T>(fn: () => Promise<T>) => fn());
  const limit = opts.pageLimit ?? 100;
  const found = new Map<string, DiscoveredInstance>();
  let offset = 0;
  let pages = 0;
  let listed = 0;
  for (;;) {
    const params = { ...DISCOVER_FILTER, InstanceTypes: [...DISCOVER_FILTER.InstanceTypes], Status: [...DISCOVER_FILTER.Status], Offset: offset, Limit: limit };
    const res = await call(() => api.call('DescribeDBInstances', params, opts.signal));
    pages++;
    const raw = Array.isArray(res['Items']) ? (res['Items'] as Array<Record<string, unknown>>) : [];
    for (const r of raw) {
      const id = r['InstanceId'];
      if (typeof id !== 'string' || id === '') throw new Cdb2cosError('ERR_REQUEST', 'CDB DescribeDBInstances listed an instance without an InstanceId');
      const tags = (Array.isArray(r['TagList']) ? (r['TagList'] as Array<Record<string, unknown>>) : []).map((t) => ({ key: String(t['TagKey'] ?? ''), value: String(t['TagValue'] ?? '') }));
      // Pages shift when an instance is created mid-listing: the same one may come twice.
      if (!found.has(id)) listed++;
      found.set(id, { id, name: typeof r['InstanceName'] === 'string' ? r['InstanceName'] : '', tags });
    }
    const total = typeof res['TotalCount'] === 'number' ? res['TotalCount'] : offset + raw.length;
    offset += raw.length;
    if (raw.length === 0 || offset >= total) break;
  }
  const excluded = new Set(opts.exclude);
  const instances = [...found.values()]
    .filter((i) => !excluded.has(i.id) && opts.tags.every((want) => i.tags.some((t) => t.key === want.key && t.value === want.value)))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { instances, listed, pages };
}

/** The instance ids that have a manifest under `prefix` (keys `<prefix>.cdb2cos/manifest-<id>.json`). */
export function manifestInstances(keys: readonly string[], prefix: string): string[] {
  const head = `${prefix}.cdb2cos/manifest-`;
  return keys
    .filter((k) => k.startsWith(head) && k.endsWith('.json') && !k.slice(head.length).includes('/'))
    .map((k) => k.slice(head.length, -'.json'.length))
    .filter((id) => id !== '');
}
