// One run per config at a time: a lock file in the staging dir holding pid, host and start time.
// A lock whose process is gone (same host, pid not alive) is taken over with a warning.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { Cdb2cosError, LockedError } from './errors.js';

export const LOCK_FILE = 'cdb2cos.lock';

interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
}

export interface Lock {
  path: string;
  /** Set when a stale lock was taken over. */
  tookOver?: LockInfo | undefined;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireLock(stagingDir: string, now: Date = new Date()): Promise<Lock> {
  const path = join(stagingDir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: hostname(), startedAt: now.toISOString() };
  let tookOver: LockInfo | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(JSON.stringify(me));
      await fh.close();
      return {
        path,
        tookOver,
        release: async () => {
          // Only remove a lock that is still ours.
          const cur = await readLock(path);
          if (cur?.pid === me.pid && cur.host === me.host) await rm(path, { force: true });
        },
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new Cdb2cosError('ERR_IO', `cannot create lock file ${path}: ${code ?? String(err)}`, { cause: err });
    }
    const holder = await readLock(path);
    if (holder && (holder.host !== me.host || alive(holder.pid))) {
      throw new LockedError(`another run holds the lock ${path}: pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}`);
    }
    if (!holder && (await youngerThan(path, 30_000))) {
      // Another run created it a moment ago and has not written its pid yet.
      throw new LockedError(`another run is taking the lock ${path} right now`);
    }
    // Gone (or an old unreadable lock): take it over.
    tookOver = holder ?? { pid: 0, host: 'unknown', startedAt: 'unknown' };
    await rm(path, { force: true });
  }
  throw new LockedError(`could not take the lock ${path}: another run keeps taking it`);
}

async function readLock(path: string): Promise<LockInfo | undefined> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as LockInfo;
    return typeof v.pid === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}

async function youngerThan(path: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs < ms;
  } catch {
    return false;
  }
}
