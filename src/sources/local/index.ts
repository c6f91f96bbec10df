// The [local] source: files of local folders matched by globs, read in place (never staged). One unit
// (`local`) of one type (`file`). Each glob is walked from its fixed base (src/sources/local/glob.ts);
// a symlink is followed only when its real path stays inside that base, and nothing outside is read.
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { LOCAL_KEY_TOKENS } from '../../config/keys.js';
import { Cdb2cosError } from '../../errors.js';
import type { CatalogItem, LocalConfig } from '../../types.js';
import type { ItemAccess, Source, TypeListing, TypeListingFailure } from '../source.js';
import { fileValidator } from '../../transfer/file-span.js';
import { parseGlob, type Glob } from './glob.js';

export const LOCAL_UNIT = 'local';

/** The file system calls the walk makes; tests may pass another. */
export type LocalFs = Pick<typeof fsp, 'readdir' | 'lstat' | 'stat' | 'realpath'>;

export interface LocalDeps {
  fs?: LocalFs | undefined;
  now: () => number;
  hostname: string;
  /** Warnings: a symlink leading out of its base, an unreadable folder, a glob whose base is missing. */
  log?: Logger | undefined;
}

/** A file found by a glob. */
export interface FoundFile {
  /** Path below the glob's base as found (through symlinks inside it), "/"-separated. */
  rel: string;
  /** Absolute real path. */
  real: string;
  /** The glob's base, real. */
  base: string;
  size: number;
  mtimeMs: number;
}

export interface LocalSource extends Source {
  /** The key template of an item: `[local] key` (as UrlsSource.keyTemplate, so the run treats both alike). */
  keyTemplate(item: CatalogItem): string;
}

export function createLocalSource(cfg: LocalConfig, deps: LocalDeps): LocalSource {
  const fs = deps.fs ?? fsp;
  return {
    kind: 'local',
    placeholders: LOCAL_KEY_TOKENS,
    units: async () => [LOCAL_UNIT],
    keyTemplate: () => cfg.key,
    keyTemplates: () => [cfg.key],
    async list(unit): Promise<Array<TypeListing | TypeListingFailure>> {
      if (unit !== LOCAL_UNIT) throw new Cdb2cosError('ERR_NOT_FOUND', `[local] has no unit ${JSON.stringify(unit)} (only ${LOCAL_UNIT})`);
      const found: FoundFile[] = [];
      const byReal = new Set<string>();
      for (const pattern of cfg.paths) {
        const glob = parseGlob(pattern, '/');
        if ('problem' in glob) return [{ type: 'file', error: new Cdb2cosError('ERR_CONFIG', `local.paths: ${glob.problem}`) }];
        const files = await walkGlob(glob, fs, deps.log);
        // Two globs matching one file give it once (the first glob's).
        for (const f of files) {
          if (byReal.has(f.real)) continue;
          byReal.add(f.real);
          found.push(f);
        }
      }
      const now = deps.now();
      const ids = new Map<string, FoundFile>();
      const items = found.map((f): CatalogItem => {
        const item: CatalogItem = {
          source: 'local',
          instance: LOCAL_UNIT,
          type: 'file',
          name: f.rel.slice(f.rel.lastIndexOf('/') + 1),
          id: f.rel,
          size: f.size,
          date: formatUtc8(Math.floor(f.mtimeMs)),
          time: Math.floor(f.mtimeMs),
          // Modified within min_age: still being written, copied by a later run.
          status: now - f.mtimeMs < cfg.minAgeMs ? 'RUNNING' : 'SUCCESS',
          cosStorageType: 0,
          md5: undefined,
          url: '',
          fields: { hostname: deps.hostname, path: f.rel },
          validator: fileValidator(f.size, f.mtimeMs),
          path: f.real,
          base: f.base,
        };
        const first = ids.get(f.rel);
        if (first !== undefined) {
          // Globs with different bases can find different files at the same path below them: one key.
          return { ...item, status: 'FAILED', failure: `${f.real} and ${first.real} are both "${f.rel}" below their globs' bases, so they would get the same key; narrow one glob` };
        }
        ids.set(f.rel, f);
        return item;
      });
      return [{ type: 'file', items, pages: 1, narrowed: false }];
    },
    access(item): ItemAccess {
      if (item.path === undefined || item.base === undefined) throw new Cdb2cosError('ERR_REQUEST', `local item ${item.id} has no path or base`);
      return { kind: 'file', path: item.path, base: item.base };
    },
  };
}

/** True when `real` is `base` or below it (both real, absolute). */
export function isInside(real: string, base: string): boolean {
  return real === base || real.startsWith(base === '/' ? '/' : `${base}/`);
}

/** Every regular file the glob matches, sorted by path below the base. */
export async function walkGlob(glob: Glob, fs: LocalFs, log?: Logger): Promise<FoundFile[]> {
  let base: string;
  try {
    base = await fs.realpath(glob.base);
  } catch (err) {
    log?.warn({ glob: glob.pattern, base: glob.base, code: (err as NodeJS.ErrnoException).code }, 'glob base missing');
    return [];
  }
  const out: FoundFile[] = [];
  const visited = new Set<string>();
  const { segments } = glob;

  type Entry = { real: string; kind: 'file' | 'dir'; size: number; mtimeMs: number } | undefined;
  // `**` looks at each folder's entries for folders and again for names: each is listed and resolved once.
  const entries = new Map<string, Promise<Entry>>();
  const listings = new Map<string, Promise<string[]>>();
  const resolveEntry = (dir: string, name: string): Promise<Entry> => {
    const path = join(dir, name);
    let e = entries.get(path);
    if (e === undefined) entries.set(path, (e = resolveOnce(path)));
    return e;
  };
  /** What a directory entry is once symlinks (inside the base) are followed; undefined: skip it. */
  const resolveOnce = async (path: string): Promise<Entry> => {
    let st = await fs.lstat(path).catch(() => undefined);
    if (st === undefined) return undefined;
    let real = path;
    if (st.isSymbolicLink()) {
      try {
        real = await fs.realpath(path);
      } catch {
        return undefined; // a dangling link
      }
      if (!isInside(real, base)) {
        log?.warn({ glob: glob.pattern, path, base }, 'symlink skipped');
        return undefined;
      }
      st = await fs.stat(real).catch(() => undefined);
      if (st === undefined) return undefined;
    }
    if (st.isFile()) return { real, kind: 'file', size: st.size, mtimeMs: st.mtimeMs };
    if (st.isDirectory()) return { real, kind: 'dir', size: 0, mtimeMs: 0 };
    return undefined; // sockets, fifos, devices
  };

  const listDir = (dir: string): Promise<string[]> => {
    let l = listings.get(dir);
    if (l === undefined) listings.set(dir, (l = listOnce(dir)));
    return l;
  };
  const listOnce = async (dir: string): Promise<string[]> => {
    try {
      return (await fs.readdir(dir)).sort();
    } catch (err) {
      log?.warn({ glob: glob.pattern, path: dir, code: (err as NodeJS.ErrnoException).code }, 'folder unreadable');
      return [];
    }
  };

  const visit = async (dir: string, rel: string[], i: number): Promise<void> => {
    const seen = `${i}\0${dir}`;
    if (visited.has(seen)) return; // a symlink loop, or two routes to one folder
    visited.add(seen);
    const seg = segments[i]!;
    if (seg.kind === 'globstar') {
      await visit(dir, rel, i + 1);
      for (const name of await listDir(dir)) {
        if (name.startsWith('.')) continue;
        const e = await resolveEntry(dir, name);
        if (e?.kind === 'dir') await visit(e.real, [...rel, name], i);
      }
      return;
    }
    const last = i === segments.length - 1;
    const names = seg.literal !== undefined ? [seg.literal] : (await listDir(dir)).filter((n) => seg.re.test(n));
    for (const name of names) {
      const e = await resolveEntry(dir, name);
      if (e === undefined) continue;
      if (last && e.kind === 'file') out.push({ rel: [...rel, name].join('/'), real: e.real, base, size: e.size, mtimeMs: e.mtimeMs });
      else if (!last && e.kind === 'dir') await visit(e.real, [...rel, name], i + 1);
    }
  };
  await visit(base, [], 0);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** "YYYY-MM-DD HH:mm:ss" in UTC+8, the clock CatalogItem dates are read in (CDB's). */
function formatUtc8(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}
