// The dated log file holds JSON lines, one event per step; people at a terminal get a readable view
// from the reporter in run.ts. Secrets are redacted by pino before anything is written.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
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
