// One run per config at a time: a lock file in the staging dir holding pid, host and start time, whose
// modification time the holder refreshes every staleAfter/5 while it runs. A lock is stale when it has
// not been refreshed for `transfer.lock_stale_after` (whatever host wrote it: containers get a new
// hostname at every start), or when its holder is on this host and its pid is gone. A stale lock is
// taken over under a second O_EXCL file, so of two runs racing for the same stale lock exactly one wins.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { mkdir, open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { Cdb2cosError, LockedError } from './errors.js';

export const LOCK_FILE = 'cdb2cos.lock';
/** Held only for the few milliseconds of a takeover. */
export const TAKEOVER_FILE = 'cdb2cos.lock.takeover';

export interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  /** When the holder last proved it was alive (the lock file's mtime), ISO 8601; 'unknown' if unreadable. */
  refreshedAt: string;
}

export interface Lock {
  path: string;
  /** Set when a stale lock was taken over: whose it was. */
  tookOver?: LockInfo | undefined;
  /** One line for people: whose stale lock was taken over, when it was last refreshed. */
  takeoverMessage?: string | undefined;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Not refreshed for this long = stale (config transfer.lock_stale_after). */
  staleAfterMs: number;
  now?: () => number;
  /** Called when a refresh fails or finds the lock no longer ours; the run goes on. */
  onRefreshProblem?: (message: string) => void;
  /** Who we are; tests stand in for other hosts and processes. */
  pid?: number;
  host?: string;
}

interface Stored {
  pid: number;
  host: string;
  startedAt: string;
  token?: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

export function describeHolder(h: LockInfo): string {
  return `pid ${h.pid} on ${h.host}, started ${h.startedAt}, last refreshed ${h.refreshedAt}`;
}

export async function acquireLock(stagingDir: string, opts: LockOptions): Promise<Lock> {
  const path = join(stagingDir, LOCK_FILE);
  const takeoverPath = join(stagingDir, TAKEOVER_FILE);
  const now = opts.now ?? Date.now;
  const me: Stored = { pid: opts.pid ?? process.pid, host: opts.host ?? hostname(), startedAt: new Date(now()).toISOString(), token: randomBytes(12).toString('hex') };
  const staleAfter = opts.staleAfterMs;

  const created = await tryCreate(path, me);
  if (created) return held(path, me, opts, undefined);

  // Someone's lock is there: live, or stale and ours to take over.
  const first = await inspect(path, me.host, now(), staleAfter);
  if (first === 'gone') {
    if (await tryCreate(path, me)) return held(path, me, opts, undefined);
    throw new LockedError(`another run took the lock ${path} just now`);
  }
  if (!first.stale) throw lockedBy(path, first.info, now(), staleAfter);

  // Stale: take it over under the takeover file, re-checking under it (another starter may have won).
  if (!(await tryCreate(takeoverPath, me))) {
    const t = await fileAge(takeoverPath, now());
    // A takeover lasts milliseconds; one older than staleAfter was left by a crash in the middle of one.
    if (t !== undefined && t > staleAfter) {
      await rm(takeoverPath, { force: true });
      if (await tryCreate(takeoverPath, me)) return takeOver();
    }
    throw new LockedError(`another run is taking over the stale lock ${path} right now`);
  }
  return takeOver();

  async function takeOver(): Promise<Lock> {
    try {
      const again = await inspect(path, me.host, now(), staleAfter);
      if (again !== 'gone' && !again.stale) throw lockedBy(path, again.info, now(), staleAfter);
      if (again !== 'gone') await rm(path, { force: true });
      if (!(await tryCreate(path, me))) throw new LockedError(`another run took the lock ${path} just now`);
      const was = again === 'gone' ? undefined : again.info;
      return held(path, me, opts, was);
    } finally {
      await rm(takeoverPath, { force: true }).catch(() => undefined);
    }
  }
}

function lockedBy(path: string, h: LockInfo, now: number, staleAfter: number): LockedError {
  const refreshed = Date.parse(h.refreshedAt);
  const when = Number.isFinite(refreshed) ? ` (${ago(now - refreshed)})` : '';
  return new LockedError(`another run holds the lock ${path}: ${describeHolder(h)}${when}; it counts as stale once not refreshed for ${Math.round(staleAfter / 1000)} s`);
}

async function tryCreate(path: string, me: Stored): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    throw new Cdb2cosError('ERR_IO', `cannot create lock file ${path}: ${code ?? String(err)}`, { cause: err });
  }
  try {
    await fh.writeFile(JSON.stringify(me));
  } finally {
    await fh.close();
  }
  return true;
}

async function fileAge(path: string, now: number): Promise<number | undefined> {
  try {
    return now - (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The holder, and whether its lock is stale; 'gone' when the file vanished meanwhile. */
async function inspect(path: string, myHost: string, now: number, staleAfter: number): Promise<'gone' | { info: LockInfo; stale: boolean }> {
  let mtimeMs: number;
  let text: string;
  try {
    mtimeMs = (await stat(path)).mtimeMs;
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw new Cdb2cosError('ERR_IO', `cannot read lock file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const stored = parse(text);
  const info: LockInfo = {
    pid: stored?.pid ?? 0,
    host: stored?.host ?? 'unknown',
    startedAt: stored?.startedAt ?? 'unknown',
    refreshedAt: new Date(mtimeMs).toISOString(),
  };
  // An unreadable lock (its writer died between creating and writing it) goes stale like any other.
  const notRefreshed = now - mtimeMs > staleAfter;
  const deadHere = stored !== undefined && stored.host === myHost && !alive(stored.pid);
  return { info, stale: notRefreshed || deadHere };
}

function parse(text: string): Stored | undefined {
  try {
    const v = JSON.parse(text) as Stored;
    return typeof v.pid === 'number' && typeof v.host === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

function held(path: string, me: Stored, opts: LockOptions, was: LockInfo | undefined): Lock {
  const now = opts.now ?? Date.now;
  let lost = false;
  let refreshing: Promise<void> = Promise.resolve();
  // Refresh five times per stale period: a lock is stale only after four refreshes in a row were missed.
  const timer = setInterval(() => {
    refreshing = refresh();
  }, Math.max(1, Math.floor(opts.staleAfterMs / 5)));
  timer.unref();

  async function refresh(): Promise<void> {
    if (lost) return;
    try {
      const cur = parse(await readFile(path, 'utf8'));
      if (cur?.token !== me.token) {
        lost = true;
        opts.onRefreshProblem?.(`the lock ${path} is no longer ours (now ${cur ? `pid ${cur.pid} on ${cur.host}` : 'unreadable'}): this run was not refreshing it for longer than lock_stale_after`);
        return;
      }
      const t = new Date(now());
      await utimes(path, t, t);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') lost = true;
      opts.onRefreshProblem?.(`cannot refresh the lock ${path}: ${code ?? String(err)}`);
    }
  }

  // A process that leaves without release() (the forced exit at the end of a signal's grace period)
  // removes its lock on the way out, so that the next run does not meet it as a stale lock.
  const onExit = (): void => {
    try {
      if (parse(readFileSync(path, 'utf8'))?.token === me.token) rmSync(path, { force: true });
    } catch {
      // Gone or unreadable: nothing of ours to remove.
    }
  };
  process.once('exit', onExit);

  return {
    path,
    tookOver: was,
    takeoverMessage: was ? `took over a stale lock of ${describeHolder(was)}` : undefined,
    release: async () => {
      process.removeListener('exit', onExit);
      clearInterval(timer);
      await refreshing;
      // Only remove a lock that is still ours.
      const cur = parse(await readFile(path, 'utf8').catch(() => ''));
      if (cur?.token === me.token) await rm(path, { force: true });
    },
  };
}

/**
 * The lock `run` and `prune` take on a staging folder (created if needed), logging a takeover: one place,
 * so the two commands can never disagree on what keeps them apart.
 */
export async function takeStagingLock(
  stagingDir: string,
  staleAfterMs: number,
  log: { warn(obj: object, msg: string): void },
  warn: (line: string) => void,
): Promise<Lock> {
  try {
    await mkdir(stagingDir, { recursive: true });
  } catch (err) {
    throw new Cdb2cosError('ERR_IO', `transfer.staging_dir: cannot create ${stagingDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const lock = await acquireLock(stagingDir, {
    staleAfterMs,
    onRefreshProblem: (message) => log.warn({ message }, 'lock refresh failed'),
  });
  if (lock.tookOver) {
    log.warn({ holder: lock.tookOver }, 'stale lock taken over');
    warn(lock.takeoverMessage ?? 'took over a stale lock');
  }
  return lock;
}
