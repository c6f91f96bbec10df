// Writes the run's metrics where the config says: a Prometheus textfile for node_exporter's textfile
// collector (atomically: temp file in the same folder, fsync, rename) and/or a Pushgateway. Resolves
// (never rejects) with what happened; a failure is logged and warned, never changes the exit code.
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errInfo } from '../errors.js';
import { defaultDeadlineMs, sendAll, type Delivery, type SendDeps } from '../notify/http.js';
import { redactWebhookUrl } from '../notify/redact.js';
import { succeeded, type RunReport } from '../run-report.js';
import { CONTENT_TYPE, lastSuccessMs, readLastSuccessMs, renderMetrics } from './render.js';

export { renderMetrics, readLastSuccessMs, escapeLabelValue, CONTENT_TYPE } from './render.js';

export interface MetricsOptions {
  /** Path of the .prom file to (re)write; its folder must exist. */
  textfile?: string | undefined;
  /** Pushgateway base URL, e.g. http://pushgateway:9091. */
  pushgateway?: string | undefined;
  /** The Pushgateway's job grouping label (default cdb2cos). */
  job: string;
  /** An extra `instance` grouping label; none by default, so runs from changing pod names share one group. */
  instance?: string | undefined;
  timeoutMs: number;
  retries: number;
}

export const METRICS_DEFAULTS = { job: 'cdb2cos', timeoutMs: 10_000, retries: 2 } as const;

export interface MetricsResult {
  textfile?: { path: string; ok: boolean; error?: { code: string; message: string } };
  pushgateway?: Delivery;
}

/** A grouping label value in a Pushgateway path: plain when URL-safe, else base64url with the @base64 suffix. */
function groupingPart(name: string, value: string): string {
  if (/^[A-Za-z0-9_.~-]+$/.test(value)) return `${name}/${value}`;
  return `${name}@base64/${Buffer.from(value, 'utf8').toString('base64url') || '='}`;
}

export function pushgatewayUrl(base: string, job: string, instance?: string): string {
  const u = new URL(base);
  const path = `${u.pathname.replace(/\/+$/, '')}/metrics/${groupingPart('job', job)}${instance !== undefined ? `/${groupingPart('instance', instance)}` : ''}`;
  u.pathname = path;
  return u.href;
}

/** Writes `text` to `path` so that a reader sees the old file or the new one, never a part. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  // The collector reads *.prom only: a hidden name without that suffix is never read half-written.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

async function previousLastSuccess(path: string): Promise<number | undefined> {
  try {
    return readLastSuccessMs(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Renders the report once and writes it to the textfile and the Pushgateway (in parallel). The last
 * success time is this run's end when it succeeded, else the previous textfile's value. Without it
 * (no textfile, no success yet) the Pushgateway gets a POST that leaves out that metric, so the value
 * the Pushgateway already holds survives; otherwise a PUT replaces the whole group.
 */
export async function writeMetrics(report: RunReport, opts: MetricsOptions, deps: SendDeps): Promise<MetricsResult> {
  const previous = opts.textfile !== undefined && !succeeded(report) ? await previousLastSuccess(opts.textfile) : undefined;
  const last = lastSuccessMs(report, previous);
  const text = renderMetrics(report, last);
  const result: MetricsResult = {};
  const jobs: Array<Promise<void>> = [];
  if (opts.textfile !== undefined) {
    const path = opts.textfile;
    jobs.push(
      writeFileAtomic(path, text).then(
        () => {
          result.textfile = { path, ok: true };
          deps.log.info({ path, bytes: Buffer.byteLength(text) }, 'metrics written');
        },
        (err: unknown) => {
          const e = errInfo(err) as { code: string; message: string };
          result.textfile = { path, ok: false, error: e };
          deps.log.warn({ path, err: e }, 'metrics write failed');
          deps.warn(`metrics.textfile ${path} not written: ${e.message}`);
        },
      ),
    );
  }
  if (opts.pushgateway !== undefined) {
    let url: string | undefined;
    try {
      url = pushgatewayUrl(opts.pushgateway, opts.job, opts.instance);
    } catch {
      deps.warn(`metrics.pushgateway ${redactWebhookUrl(opts.pushgateway)} is not a URL: nothing pushed`);
    }
    if (url !== undefined) {
      const keepsLast = last !== undefined;
      const push = url;
      jobs.push(
        sendAll(
          [{ kind: 'pushgateway', url: push, method: keepsLast ? 'PUT' : 'POST', body: text, contentType: CONTENT_TYPE }],
          { timeoutMs: opts.timeoutMs, retries: opts.retries, deadlineMs: defaultDeadlineMs(opts.timeoutMs, opts.retries) },
          deps,
        ).then(([d]) => {
          if (d) result.pushgateway = d;
        }),
      );
    }
  }
  await Promise.all(jobs);
  return result;
}
