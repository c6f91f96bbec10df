// What `cdb2cos run` tells the outside world about itself: the start ping once it holds its lock, and
// at its end the webhooks, the end ping and the metrics, all through one dispatcher built from the
// proxy policy. Every method resolves (never rejects) within the notify module's deadlines, so no
// receiver can change the exit code or keep the run from ending.
import { hostname } from 'node:os';
import type { Dispatcher } from 'undici';
import { writeMetrics, type MetricsOptions } from './metrics/index.js';
import { RoutedDispatcher, type ProxyPolicy } from './net/proxy.js';
import { defaultDeadlineMs } from './notify/http.js';
import { notifyRunEnd, notifyRunStart, type EventLog, type NotifyOptions, type SendDeps } from './notify/index.js';
import { buildRunReport, type SummaryLike } from './run-report.js';
import type { Config } from './types.js';

export interface RunEndDeps {
  proxy: ProxyPolicy;
  /** One line for a person (the CLI: stderr). */
  warn: (line: string) => void;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  /** When the run began (epoch ms). */
  startedAt: number;
}

export interface RunEndInput {
  exitCode: number;
  /** Absent when the run threw before it could sum up. */
  summary?: SummaryLike | undefined;
  /** What stopped the run as a whole: code and an already redacted message. */
  error?: { code: string; message: string } | undefined;
  /**
   * Another run holds the lock: this one did not run. Its on_failure webhooks go out (runs overlap, or
   * one is stuck: a person should know), but no end ping and no metrics: the health check and the
   * textfile belong to the run that holds the lock, which reports its own outcome.
   */
  lockHeld?: boolean | undefined;
  /** Epoch ms by which everything must be over (a signal's grace period); the usual deadlines otherwise. */
  mustEndBy?: number | undefined;
}

const SILENT: EventLog = { info: () => undefined, warn: () => undefined };

/** Notifications leave through this many connections at most (a run end sends a handful of requests). */
const CONNECTIONS = 8;

export class RunEnd {
  private log: EventLog = SILENT;
  private dispatcher: Dispatcher | undefined;
  private startPing: Promise<unknown> | undefined;
  private ended = false;

  constructor(
    private readonly config: Pick<Config, 'notify' | 'metrics'>,
    private readonly deps: RunEndDeps,
  ) {}

  /** Where the events go once the run's log file is open; until then only the stderr warnings say it. */
  attachLog(log: EventLog): void {
    this.log = log;
  }

  /** Pings URL/start (once), without waiting: a health check that hangs does not delay the copy. */
  started(): void {
    if (this.startPing !== undefined || this.config.notify.healthcheck === undefined) return;
    this.startPing = notifyRunStart(this.config.notify, this.sendDeps());
  }

  /**
   * Sends the end notifications and writes the metrics, in parallel, after the start ping settled (so a
   * monitor never sees the end before the start). Resolves once all are done or given up.
   */
  async finished(input: RunEndInput): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const { now } = this.deps;
    const finishedAt = now();
    if (this.startPing !== undefined) await this.within(this.startPing, input.mustEndBy);
    const report = buildRunReport({
      host: hostname(),
      startedAt: this.deps.startedAt,
      finishedAt,
      exitCode: input.exitCode,
      summary: input.summary,
      error: input.error,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    });
    let notify: NotifyOptions = input.lockHeld ? { ...this.config.notify, healthcheck: undefined } : this.config.notify;
    let metrics: MetricsOptions | undefined = input.lockHeld ? undefined : this.config.metrics;
    if (input.mustEndBy !== undefined) {
      // What is left of the grace period: one attempt each, given up in time for the process to leave.
      const left = Math.max(100, input.mustEndBy - now());
      const deadlineMs = Math.min(left, notify.deadlineMs ?? defaultDeadlineMs(notify.timeoutMs, notify.retries));
      notify = { ...notify, retries: 0, timeoutMs: Math.min(notify.timeoutMs, deadlineMs), deadlineMs };
      if (metrics) metrics = { ...metrics, retries: 0, timeoutMs: Math.min(metrics.timeoutMs, deadlineMs) };
    }
    const wantsNotify = notify.onFailure.length + notify.onSuccess.length > 0 || notify.healthcheck !== undefined;
    const wantsMetrics = metrics !== undefined && (metrics.textfile !== undefined || metrics.pushgateway !== undefined);
    if (!wantsNotify && !wantsMetrics) return;
    const deps = this.sendDeps();
    await Promise.all([wantsNotify ? notifyRunEnd(report, notify, deps) : undefined, wantsMetrics && metrics ? writeMetrics(report, metrics, deps) : undefined]);
  }

  /** Drops the connections; requests still open (given up by their deadline) are cut. */
  async close(): Promise<void> {
    await this.dispatcher?.destroy().catch(() => undefined);
  }

  private sendDeps(): SendDeps {
    this.dispatcher ??= new RoutedDispatcher(this.deps.proxy, { connections: CONNECTIONS, keepAliveTimeout: 1000 });
    // The log may be attached after a request started: read it at each event.
    const log: EventLog = { info: (o, m) => this.log.info(o, m), warn: (o, m) => this.log.warn(o, m) };
    return { dispatcher: this.dispatcher, log, warn: this.deps.warn, now: this.deps.now, sleep: this.deps.sleep, random: this.deps.random };
  }

  private async within(p: Promise<unknown>, by: number | undefined): Promise<void> {
    if (by === undefined) {
      await p;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, by - this.deps.now()))))]);
    clearTimeout(timer);
  }
}
