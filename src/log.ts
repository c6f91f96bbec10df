// The dated log file holds JSON lines, one event per step; people at a terminal get a readable view
// from the reporter in run.ts. Secrets are redacted by pino before anything is written.
import { mkdirSync } from 'node:fs';
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

export interface FileLogger {
  log: Logger;
  path: string;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/** Opens (appending) the dated log file; throws the fs error when the dir cannot be made or written. */
export function openFileLogger(dir: string, file: string, level: string, now: Date): FileLogger {
  mkdirSync(dir, { recursive: true });
  const path = logFilePath(dir, file, now);
  // sync: a cron job's log must survive a SIGKILL right after an event; the volume is a few lines per item.
  const dest = pino.destination({ dest: path, sync: true, append: true });
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
    close: () =>
      new Promise<void>((resolve) => {
        try {
          dest.flushSync();
        } catch {
          // nothing buffered
        }
        dest.end();
        resolve();
      }),
  };
}
