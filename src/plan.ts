// Pure: which items to copy, where each lands, and why the others are left alone.
import { Cdb2cosError } from './errors.js';
import { availabilityOf } from './sources/source.js';
import type { CatalogItem } from './types.js';

export interface KnownObject {
  size: number;
  etag: string;
  /** CRC64 recorded by a verified copy (manifest or the object's own metadata), when known. */
  crc64?: string | undefined;
  /** CDB's MD5 recorded with it, when CDB gave one. */
  md5?: string | undefined;
  /** True when the record comes from a verified copy of ours (manifest or metadata). */
  verified: boolean;
  /** The source's validator recorded with it (URL items: ETag or Last-Modified; files: size and mtime). */
  validator?: string | undefined;
}

export type SkipReason = 'already-copied' | 'running' | 'archived' | 'failed-at-source' | 'outside-window' | 'outside-retention';

export interface PlannedCopy {
  item: CatalogItem;
  key: string;
}

export interface Plan {
  copy: PlannedCopy[];
  skip: Array<{ item: CatalogItem; key: string; reason: SkipReason }>;
  /** Items whose object is listed but needs a HEAD to tell whether it is a verified copy. */
  check: PlannedCopy[];
}

export interface PlanOptions {
  since?: number | undefined;
  until?: number | undefined;
  prefix: string;
  /** The destination's key template, or the source's per item. */
  keyTemplate: string | ((item: CatalogItem) => string);
  /** Keys that [retention] lets go (src/core/retention.ts): copying them would only feed the next prune. */
  outsideRetention?: ReadonlySet<string> | undefined;
}

/** COS refuses keys longer than this many bytes (UTF-8). */
export const MAX_KEY_BYTES = 850;

/**
 * Why an item's CDB-given values cannot go into an object key, or undefined when they can. A value that
 * is empty, `.` or `..`, or holds `/`, `\\` or a control character (NUL included) could leave the key's
 * folder (the configured prefix) or land on another item's key; it is refused, never rewritten, since a
 * rewrite could collide with a real name.
 */
export function keyRefusal(item: Pick<CatalogItem, 'instance' | 'type' | 'date' | 'name' | 'id' | 'fields' | 'source'>, key?: string): string | undefined {
  const values: Array<[string, string]> = [
    ['name', item.name],
    // A URL's or a file's id is its URL or relative path (with "/"): only a CDB id can be a key segment.
    ...((item.source ?? 'cdb') === 'cdb' ? [['id', item.id] as [string, string]] : []),
    ['instance', item.instance],
    ['date', keyDate(item)],
  ];
  for (const [what, v] of values) {
    let why: string | undefined;
    if (v === '' || v === '.' || v === '..') why = `is ${v === '' ? 'empty' : `"${v}"`}`;
    else if (v.includes('/')) why = 'holds "/"';
    else if (v.includes('\\')) why = 'holds "\\"';
    // eslint-disable-next-line no-control-regex
    else if (/[\u0000-\u001f\u007f]/.test(v)) why = 'holds a control character';
    if (why) return `its ${what} ${JSON.stringify(v)} ${why}, so it cannot be part of an object key under the prefix`;
  }
  // A source's own placeholders: `path` is segments joined by "/", each held to the rules above; the
  // others are one segment.
  for (const [what, v] of Object.entries(item.fields ?? {})) {
    const segments = what === 'path' ? v.split('/') : [v];
    for (const seg of segments) {
      let why: string | undefined;
      if (seg === '' || seg === '.' || seg === '..') why = seg === '' ? (what === 'path' ? 'has an empty segment (a leading, doubled or trailing "/")' : 'is empty') : `holds the segment "${seg}"`;
      else if (what !== 'path' && seg.includes('/')) why = 'holds "/"';
      else if (seg.includes('\\')) why = 'holds "\\"';
      // eslint-disable-next-line no-control-regex
      else if (/[\u0000-\u001f\u007f]/.test(seg)) why = 'holds a control character';
      if (why) return `its ${what} ${JSON.stringify(v)} ${why}, so it cannot be part of an object key under the prefix`;
    }
  }
  if (key !== undefined && Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `its object key would be ${Buffer.byteLength(key, 'utf8')} bytes, over COS's ${MAX_KEY_BYTES}`;
  return undefined;
}

function keyDate(item: Pick<CatalogItem, 'date'>): string {
  return item.date.slice(0, 10) || 'undated';
}

function substitute(template: string, prefix: string, item: Pick<CatalogItem, 'instance' | 'type' | 'date' | 'name' | 'id' | 'fields' | 'source'>): string {
  const date = keyDate(item);
  return template.replace(/\{([a-z]+)\}/g, (whole, v: string) => {
    switch (v) {
      case 'prefix':
        return prefix;
      case 'instance':
        return item.instance;
      case 'type':
        return item.type;
      case 'date':
        return date;
      case 'name':
        return item.name;
      case 'id':
        return item.id;
      default:
        // A source's own placeholders (host, path, hostname); the config reader refuses a template
        // using one its source lacks, so an unknown one stays as written.
        return item.fields?.[v] ?? whole;
    }
  });
}

/**
 * The item's object key; the date part is the item's date as CDB shows it (UTC+8), YYYY-MM-DD. Throws
 * ERR_REQUEST (see keyRefusal) for a name that could leave the prefix or collide.
 */
export function renderKey(template: string, prefix: string, item: Pick<CatalogItem, 'instance' | 'type' | 'date' | 'name' | 'id' | 'fields' | 'source'>): string {
  const key = substitute(template, prefix, item);
  const refusal = keyRefusal(item, key);
  if (refusal !== undefined) throw new Cdb2cosError('ERR_REQUEST', `not copied: ${refusal}`);
  return key;
}

/** The longest key prefix shared by every object of an instance: what to list in the bucket. */
export function listPrefix(template: string, prefix: string, instance: string): string {
  const rendered = template.replace(/\{prefix\}/g, prefix).replace(/\{instance\}/g, instance);
  const cut = rendered.indexOf('{');
  const head = cut === -1 ? rendered : rendered.slice(0, cut);
  const slash = head.lastIndexOf('/');
  return slash === -1 ? '' : head.slice(0, slash + 1);
}

/** Matches the keys this tool writes for an instance: what it may treat as its own (e.g. stale uploads). */
export function keyPattern(template: string, prefix: string, instance: string): RegExp {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const parts = template.split(/(\{[a-z]+\})/);
  const body = parts
    .map((p) => {
      switch (p) {
        case '{prefix}':
          return esc(prefix);
        case '{instance}':
          return esc(instance);
        case '{type}':
          return '(?:data|binlog|slowlog|url|file)';
        case '{date}':
          return '(?:\\d{4}-\\d{2}-\\d{2}|undated)';
        case '{path}':
          return '[^/]+(?:/[^/]+)*';
        default:
          // {name}, {id} and a source's one-segment placeholders ({host}, {hostname}).
          return /^\{[a-z]+\}$/.test(p) ? '[^/]+' : esc(p);
      }
    })
    .join('');
  return new RegExp(`^${body}$`);
}

/** True when the listed object is the verified copy of this item: same size, same recorded checksum. */
export function isSameCopy(item: CatalogItem, obj: KnownObject): boolean {
  if (!obj.verified || obj.size !== item.size || obj.crc64 === undefined) return false;
  if (item.md5 !== undefined && obj.md5 !== undefined && obj.md5 !== item.md5) return false;
  // A URL or file rewritten under the same name and size: its validator says it is a new version.
  if (item.validator !== undefined && obj.validator !== undefined && obj.validator !== item.validator) return false;
  return true;
}

export function planCopies(items: CatalogItem[], existing: Map<string, KnownObject>, listed: Map<string, { size: number; etag: string }>, opts: PlanOptions): Plan {
  const plan: Plan = { copy: [], skip: [], check: [] };
  for (const item of items) {
    // A refused key is still planned (as a copy) when the item would be copied: the copy then fails it
    // with one line saying why, rather than the item vanishing from the report.
    const template = typeof opts.keyTemplate === 'string' ? opts.keyTemplate : opts.keyTemplate(item);
    const key = substitute(template, opts.prefix, item);
    const refused = keyRefusal(item, key);
    if (!inWindow(item, opts)) {
      plan.skip.push({ item, key, reason: 'outside-window' });
      continue;
    }
    if (opts.outsideRetention?.has(key) === true) {
      plan.skip.push({ item, key, reason: 'outside-retention' });
      continue;
    }
    const availability = availabilityOf(item);
    if (availability !== 'ready') {
      plan.skip.push({ item, key, reason: availability === 'waiting' ? 'running' : availability });
      continue;
    }
    if (refused !== undefined) {
      plan.copy.push({ item, key });
      continue;
    }
    const inBucket = listed.get(key);
    if (inBucket !== undefined && inBucket.size === item.size) {
      const known = existing.get(key);
      // The manifest entry only counts while the listing shows the very object it describes.
      if (known !== undefined && known.etag === inBucket.etag && isSameCopy(item, known)) {
        plan.skip.push({ item, key, reason: 'already-copied' });
      } else {
        plan.check.push({ item, key });
      }
      continue;
    }
    plan.copy.push({ item, key });
  }
  // Oldest first: if a run is cut short, the gap left is at the recent end, which the next run fills.
  plan.copy.sort((a, b) => a.item.time - b.item.time || a.key.localeCompare(b.key));
  return plan;
}

function inWindow(item: CatalogItem, opts: PlanOptions): boolean {
  if (!Number.isFinite(item.time)) return true;
  if (opts.until !== undefined && item.time > opts.until) return false;
  if (opts.since === undefined || item.time >= opts.since) return true;
  // Items that began before `since` but hold events after it: a binlog the API returned for the window
  // (it was asked with ContainsMinStartTime), and a slow log, which covers its whole day.
  if (item.type === 'binlog') return true;
  return item.type === 'slowlog' && item.time + 86_400_000 > opts.since;
}

/** User metadata (the destination adds its prefix, x-cos-meta-, x-amz-meta-) recording where an object came from; values are URI-encoded (headers are ASCII). */
export function originMetadata(item: CatalogItem, crc64: string | undefined): Record<string, string> {
  const meta: Record<string, string> = {
    'cdb2cos-instance': item.instance,
    'cdb2cos-type': item.type,
    'cdb2cos-backup-id': encodeURIComponent(item.id),
    'cdb2cos-backup-date': encodeURIComponent(item.date),
    'cdb2cos-size': String(item.size),

  };
  // A multipart upload starts before the whole file is staged, so its CRC64 is not known yet: the
  // manifest records it, and the object's own x-cos-hash-crc64ecma is checked against it.
  if (crc64 !== undefined) meta['cdb2cos-crc64'] = crc64;
  if (item.md5 !== undefined) meta['cdb2cos-md5'] = item.md5;
  return meta;
}
