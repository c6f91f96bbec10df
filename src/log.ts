// The dated log file holds JSON lines, one event per step; people at a terminal get a readable view
// from the reporter in run.ts. Secrets are redacted by pino before anything is written.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'secretKey',
  'secret_key',
  'token',
  'url',
  'credentials',
  '*.secretKey',
  '*.secret_key',
  '*.token',
  '*.url',
  '*.credentials',
];

/** <dir>/YYYY-MM-DD-<file>, by the local date of `now`. */
export function logFilePath(dir: string, file: string, now: Date): string {
  const y = now.getFullYear();
  const m = String(now.getMonth() + 1).padStart(2, '0');
  const d = String(now.getDate()).padStart(2, '0');
  return join(dir, `${y}-${m}-${d}-${file}`);
}

/** Why the log stopped being written: the file and the errno (ENOSPC, EIO, EDQUOT, …). */
export interface LogFailure {
  path: string;
  code: string;
}

export interface FileLogger {
  log: Logger;
  path: string;
  /** Set once a write to the file failed; from then on events are dropped, the run goes on. */
  readonly failure: LogFailure | undefined;
  /** Closes the file. Never throws, never waits on the disk. */
  close(): Promise<void>;
}

/**
 * A synchronous destination that cannot stop or hang the run: each event is written with one
 * writeSync loop; the first error (a full disk, a quota, EIO) is reported once through `onFailure`
 * and every later event is dropped. pino's sonic-boom, by contrast, throws from every log call once
 * the disk is full, and its final flushSync retries EAGAIN-like errors forever.
 */
class FailSafeFile {
  failure: LogFailure | undefined;
  constructor(
    private fd: number | undefined,
    private readonly path: string,
    private readonly onFailure: (f: LogFailure) => void,
  ) {}

  write(chunk: string): boolean {
    if (this.fd === undefined || this.failure) return true;
    const buf = Buffer.from(chunk, 'utf8');
    try {
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    } catch (err) {
      this.failure = { path: this.path, code: (err as NodeJS.ErrnoException).code ?? String(err) };
      try {
        this.onFailure(this.failure);
      } catch {
        // the warning is best effort: stderr may be gone too
      }
    }
    return true;
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch (err) {
      // A close error (NFS, some FUSE mounts) means earlier writes may be lost.
      if (!this.failure) {
        this.failure = { path: this.path, code: (err as NodeJS.ErrnoException).code ?? String(err) };
        try {
          this.onFailure(this.failure);
        } catch {
          // best effort
        }
      }
    }
  }
}

/**
 * Opens (appending) the dated log file; throws the fs error when the dir cannot be made or the file
 * cannot be opened. A write that fails later never throws: `onFailure` is called once and the run goes on.
 */
export function openFileLogger(dir: string, file: string, level: string, now: Date, onFailure: (f: LogFailure) => void = () => undefined): FileLogger {
  mkdirSync(dir, { recursive: true });
  const path = logFilePath(dir, file, now);
  // Synchronous: a cron job's log must survive a SIGKILL right after an event; the volume is a few lines per item.
  const dest = new FailSafeFile(openSync(path, 'a', 0o644), path, onFailure);
  const log = pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '<redacted>' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
  return {
    log,
    path,
    get failure() {
      return dest.failure;
    },
    close: () => {
      dest.close();
      return Promise.resolve();
    },
  };
}

/** The file system calls log retention makes (tests pass a fake folder). */
export interface LogDirFs {
  readdir(dir: string): Promise<string[]>;
  isFile(path: string): Promise<boolean>;
  unlink(path: string): Promise<void>;
}

const realLogDirFs: LogDirFs = {
  readdir: (dir) => readdir(dir),
  // lstat: a symlink named like a log is not ours to follow.
  isFile: async (path) => (await lstat(path)).isFile(),
  unlink: (path) => unlink(path),
};

/**
 * [log] keep_days: removes `<dir>/YYYY-MM-DD-<file>` files (this config's `file` only, exactly that
 * pattern, regular files only) whose local date is more than keepDays days before the local date of
 * `now`. Never throws: what cannot be listed or removed is returned in `failed`.
 */
export async function removeOldLogs(dir: string, file: string, keepDays: number, now: Date, fs: LogDirFs = realLogDirFs): Promise<{ removed: string[]; failed: Array<{ path: string; code: string }> }> {
  const removed: string[] = [];
  const failed: Array<{ path: string; code: string }> = [];
  // The oldest date kept, as YYYY-MM-DD: comparing names avoids time zones and DST entirely.
  const oldest = new Date(now.getFullYear(), now.getMonth(), now.getDate() - keepDays);
  const oldestName = `${oldest.getFullYear()}-${String(oldest.getMonth() + 1).padStart(2, '0')}-${String(oldest.getDate()).padStart(2, '0')}`;
  const pattern = new RegExp(`^(\\d{4}-\\d{2}-\\d{2})-${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    return { removed, failed: [{ path: dir, code: (err as NodeJS.ErrnoException).code ?? String(err) }] };
  }
  for (const name of names.sort()) {
    const date = pattern.exec(name)?.[1];
    // A real calendar date only: 2026-13-45-cdb2cos.log is not a dated log of ours.
    if (date === undefined || date >= oldestName || !isCalendarDate(date)) continue;
    const path = join(dir, name);
    try {
      if (!(await fs.isFile(path))) continue;
      await fs.unlink(path);
      removed.push(path);
    } catch (err) {
      failed.push({ path, code: (err as NodeJS.ErrnoException).code ?? String(err) });
    }
  }
  return { removed, failed };
}

function isCalendarDate(ymd: string): boolean {
  const [y, m, d] = ymd.split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}
