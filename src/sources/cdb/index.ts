// The CDB source: instances (configured, or discovered with `instances = *`), each type listed on its
// own through the signed API, and download URLs refreshed by listing again when one expires. CDB's words
// (statuses, UnsupportedOperation, InternetUrl) stay here.
import { listItems } from '../../cdb/catalog.js';
import type { CdbApi } from '../../cdb/client.js';
import { discoverInstances, manifestInstances } from '../../cdb/discovery.js';
import { inShard, shardOf, type Shard } from '../../core/shard.js';
import { Cdb2cosError } from '../../errors.js';
import type { BackupType, CatalogItem, CdbConfig, Runtime } from '../../types.js';
import type { ItemAccess, Source, TypeListing, TypeListingFailure } from '../source.js';

export interface CdbSourceOptions {
  since?: number | undefined;
  until?: number | undefined;
  /** --instance: only these of the shard's instances. */
  instances?: string[] | undefined;
  types: BackupType[];
  shard?: Shard | undefined;
}

export interface CdbSourceDeps extends Pick<Runtime, 'log' | 'signal'> {
  /** Wraps each API call: the run's retry policy. */
  call: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  /** Counts the API requests (pages) made. */
  onPages: (n: number) => void;
  warn: (line: string) => void;
  /** Keys of the manifests in the first destination (`{prefix}.cdb2cos/…`): tells new and gone instances apart. */
  manifestKeys: () => Promise<{ keys: string[]; prefix: string }>;
}

export interface CdbSource extends Source {
  readonly kind: 'cdb';
  owned(): string[];
}

/** A listing failure of a type the edition cannot give (slow logs of single-node and cluster editions). */
export interface UnsupportedType extends TypeListingFailure {
  unsupported: true;
}

export function createCdbSource(api: CdbApi, cfg: CdbConfig, opts: CdbSourceOptions, deps: CdbSourceDeps): CdbSource {
  let owned: string[] = inShard(cfg.instances, opts.shard);
  let listed: Promise<string[]> | undefined;
  /** Per instance and type: the items last listed, by id and name, whose URLs a refresh replaces. */
  const known = new Map<string, Map<string, CatalogItem>>();
  const refreshing = new Map<string, Promise<void>>();
  const list = (instance: string, type: BackupType): Promise<{ items: CatalogItem[]; pages: number }> =>
    listItems(api, instance, type, { since: opts.since, until: opts.until, url: cfg.url, signal: deps.signal, call: (fn) => deps.call(`list ${type}`, fn) });
  const idOf = (i: CatalogItem): string => `${i.id}\0${i.name}`;

  /** Fresh URLs for a type, shared by every item of it that asks at the same time. */
  const refresh = (instance: string, type: BackupType): Promise<void> => {
    const k = `${instance}\0${type}`;
    let p = refreshing.get(k);
    if (!p) {
      p = (async () => {
        const { items: again, pages } = await list(instance, type);
        deps.onPages(pages);
        const relisted = new Map(again.map((i) => [idOf(i), i]));
        // An item gone from the listing gets no URL: its copy then fails at once instead of retrying
        // the expired one for the whole retry budget.
        for (const [id, cur] of known.get(k) ?? []) cur.url = relisted.get(id)?.url ?? '';
        deps.log.info({ instance, type, count: again.length }, 'urls refreshed');
      })().finally(() => setTimeout(() => refreshing.delete(k), 1000).unref());
      refreshing.set(k, p);
    }
    return p;
  };

  async function discover(): Promise<string[]> {
    const found = await discoverInstances(api, { tags: cfg.instanceTags, exclude: cfg.exclude, signal: deps.signal, call: (fn) => deps.call('discover instances', fn) });
    deps.onPages(found.pages);
    const ids = found.instances.map((i) => i.id);
    deps.log.info({ instances: ids, count: ids.length, listed: found.listed, pages: found.pages, tags: cfg.instanceTags.map((t) => `${t.key}:${t.value}`), exclude: cfg.exclude }, 'instances discovered');
    if (opts.instances) {
      const unknown = opts.instances.filter((i) => !ids.includes(i));
      if (unknown.length > 0) throw new Cdb2cosError('ERR_USAGE', `--instance ${unknown.join(', ')}: not among the ${ids.length} instances discovered in region ${cfg.region} (cdb.instances = *, after instance_tags and exclude)`);
    }
    owned = inShard(ids, opts.shard);
    // What the manifests say the earlier runs copied: an instance without one is new, a manifest without
    // its instance is one that is gone (deleted, or no longer tagged). Each shard speaks of its own only.
    const { keys, prefix } = await deps.manifestKeys();
    const had = manifestInstances(keys, prefix).filter((id) => id !== 'urls' && id !== 'local');
    const mine = (id: string): boolean => opts.shard === undefined || shardOf(id, opts.shard.count) === opts.shard.index;
    // The first run of all has no manifests: nothing has appeared yet, everything is new.
    if (had.length > 0) {
      for (const id of owned.filter((i) => !had.includes(i))) {
        deps.log.warn({ instance: id }, 'instance appeared');
        deps.warn(`${id}: instance appeared since the last run (no manifest yet); it is copied from now on`);
      }
    }
    for (const id of had.filter((i) => !ids.includes(i) && mine(i))) {
      deps.log.warn({ instance: id }, 'instance disappeared');
      deps.warn(`${id}: instance disappeared: it has a manifest in the bucket but is no longer discovered in region ${cfg.region}; its copies stay`);
    }
    return owned;
  }

  return {
    kind: 'cdb',
    placeholders: ['prefix', 'instance', 'type', 'date', 'name', 'id'],
    owned: () => owned,
    // Discovery (and its appeared/disappeared warnings) happens once per run, however often asked.
    units() {
      listed ??= (async () => {
        if (cfg.instances.includes('*')) await discover();
        return opts.instances ? owned.filter((i) => opts.instances!.includes(i)) : owned;
      })();
      return listed;
    },
    async list(instance) {
      const out: Array<TypeListing | TypeListingFailure | UnsupportedType> = [];
      // Each type is listed on its own: a type whose listing fails (or that the edition cannot give)
      // fails that type only; the instance's other types are planned and copied.
      for (const type of opts.types) {
        if (deps.signal.aborted) break;
        try {
          const { items, pages } = await list(instance, type);
          deps.onPages(pages);
          known.set(`${instance}\0${type}`, new Map(items.map((i) => [idOf(i), i])));
          // Binlogs under --since/--until are listed by the API for the window only.
          out.push({ type, items, pages, narrowed: type === 'binlog' && (opts.since !== undefined || opts.until !== undefined) });
        } catch (err) {
          // The whole run stops (auth, signal) or the instance does not exist: the caller decides.
          if (!(err instanceof Cdb2cosError) || ['ERR_AUTH', 'ERR_PERMISSION', 'ERR_ABORTED', 'ERR_NOT_FOUND'].includes(err.code)) throw err;
          if (type === 'slowlog' && err.serviceCode?.startsWith('UnsupportedOperation')) out.push({ type, error: err, unsupported: true });
          else out.push({ type, error: err });
        }
      }
      return out;
    },
    access(item): ItemAccess {
      return { kind: 'http', url: async () => item.url, refresh: () => refresh(item.instance, item.type as BackupType) };
    },
  };
}
