// The source port: where items come from and how their bytes are read. Each config section ([cdb],
// [urls], [local]) is one adapter; the run's survey asks each for its units and their listings, the item
// copy asks for an item's access. An adapter owns its vendor's words (CDB statuses, URL signatures).
import type { Cdb2cosError } from '../errors.js';
import type { CatalogItem, ItemType, SourceKind } from '../types.js';

/**
 * Whether an item can be copied now: `ready`; `waiting` (still being written at the source: a running
 * backup, a file modified within min_age), copied by a later run; `failed-at-source` (the source says it
 * failed, never copied); `archived` (held where it cannot be downloaded, e.g. CDB's archive storage).
 */
export type Availability = 'ready' | 'waiting' | 'failed-at-source' | 'archived';

/** One type of one unit, listed. */
export interface TypeListing {
  type: ItemType;
  items: CatalogItem[];
  /** Requests it took (pages). */
  pages: number;
  /** Listed for a time window only: an item missing from it may still exist (nothing is judged vanished). */
  narrowed: boolean;
}

/** One type of one unit whose listing failed: that type fails alone; the unit's other types go on. */
export interface TypeListingFailure {
  type: ItemType;
  error: Cdb2cosError;
}

/**
 * How an item's bytes are read:
 * - `http`: ranged GETs of a URL into the staging file (CDB download URLs, URL lists). `refresh` gets a
 *   fresh URL after a 403 for an expired one (a no-op where URLs do not expire).
 * - `file`: read in place with ranged reads, never copied into staging; `base` confines it.
 */
export type ItemAccess =
  | { kind: 'http'; url: () => Promise<string>; refresh: () => Promise<void> }
  | { kind: 'file'; path: string; base: string };

export interface Source {
  readonly kind: SourceKind;
  /** Key-template placeholders its items fill; a template using another one is a config error. */
  readonly placeholders: readonly string[];
  /** The units this run lists (CDB instances; one unit for a URL list or a set of local globs). */
  units(): Promise<string[]>;
  /** Every unit this process answers for (a shard's, before --instance narrowed them): stale uploads of these are its own. Default: units(). */
  owned?(): string[];
  /** Each type of the unit, listed or failed. Throws only for what stops the whole unit (auth, abort, a unit that does not exist). */
  list(unit: string): Promise<Array<TypeListing | TypeListingFailure>>;
  access(item: CatalogItem): ItemAccess;
  /**
   * The key template of an item when the source has its own (`[urls] key`, `[local] key`, or a URL line's
   * KEY); undefined: the destination's `key` (CDB items).
   */
  keyTemplate?(item: CatalogItem): string;
  /** Every template keyTemplate may give: what the run lists and treats as its own in a destination. */
  keyTemplates?(): string[];
}

/** Availability of an item from its status and storage type (CDB's words; the other sources set `SUCCESS` or `RUNNING`). */
export function availabilityOf(item: Pick<CatalogItem, 'status' | 'cosStorageType'>): Availability {
  if (item.status === 'RUNNING' || item.status === '' || item.status === 'UPLOADING') return 'waiting';
  if (item.status !== 'SUCCESS' && item.status !== 'FINISHED') return 'failed-at-source';
  if (item.cosStorageType === 1) return 'archived';
  return 'ready';
}
