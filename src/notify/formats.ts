// The bodies sent to webhooks, built from a RunReport with no I/O. The JSON body is a versioned
// contract (README: "Notifications, health pings and metrics"); the robot texts are for people.
import { OUTCOMES, succeeded, summaryLine, type FailedItem, type RunReport } from '../run-report.js';
import type { NotifyFormat } from './options.js';

export const BODY_VERSION = 1;
/** The JSON body lists at most this many failures; `failedOmitted` counts the rest. */
export const MAX_FAILED_ITEMS = 50;
/** A failure's message is cut to this many characters. */
export const MAX_MESSAGE_CHARS = 300;
/** The JSON body lists at most this many units (instance × type). */
export const MAX_UNITS = 200;
/** WeCom robot: a text message's content is at most 2048 bytes of UTF-8 (its documented limit). */
export const WECOM_TEXT_BYTES = 2048;
/** DingTalk robot text: kept under 4000 bytes of UTF-8, well inside what the robot accepts. */
export const DINGTALK_TEXT_BYTES = 4000;
/** Slack: messages are truncated by Slack past 40,000 characters; it advises staying under 4,000. */
export const SLACK_TEXT_CHARS = 3000;

export interface JsonBodyV1 {
  version: 1;
  tool: 'cdb2cos';
  host: string;
  status: 'success' | 'failure';
  exitCode: number;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  summary: RunReport['totals'] & { peakRssBytes: number };
  units: RunReport['units'];
  failed: FailedItem[];
  failedTotal: number;
  failedOmitted: number;
  error: { code: string; message: string } | null;
  text: string;
}

function cut(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

export function jsonBody(report: RunReport): JsonBodyV1 {
  const failed = report.failed.slice(0, MAX_FAILED_ITEMS).map((f) => ({
    instance: f.instance,
    type: f.type,
    ...(f.name !== undefined ? { name: f.name } : {}),
    ...(f.key !== undefined ? { key: f.key } : {}),
    code: f.code,
    message: cut(f.message, MAX_MESSAGE_CHARS),
  }));
  return {
    version: BODY_VERSION,
    tool: 'cdb2cos',
    host: report.host,
    status: succeeded(report) ? 'success' : 'failure',
    exitCode: report.exitCode,
    dryRun: report.dryRun,
    startedAt: new Date(report.startedAt).toISOString(),
    finishedAt: new Date(report.finishedAt).toISOString(),
    durationSeconds: Math.max(0, report.finishedAt - report.startedAt) / 1000,
    summary: { ...report.totals, peakRssBytes: report.peakRssBytes },
    units: report.units.slice(0, MAX_UNITS),
    failed,
    failedTotal: report.failed.length,
    failedOmitted: report.failed.length - failed.length,
    error: report.error ? { code: report.error.code, message: cut(report.error.message, MAX_MESSAGE_CHARS) } : null,
    text: summaryLine(report),
  };
}

/** The readable text: the summary line, a line per unit with anything to say, a line per failure. */
export function textLines(report: RunReport): string[] {
  const lines = [summaryLine(report)];
  for (const u of report.units) {
    const parts = OUTCOMES.filter((o) => u.items[o] > 0).map((o) => `${o} ${u.items[o]}`);
    lines.push(`${u.instance} ${u.type ?? '(listing)'}: ${parts.join(', ')}`);
  }
  for (const f of report.failed) {
    lines.push(`FAILED ${f.instance}${f.type ? ` ${f.type}` : ''}${f.name ? ` ${f.name}` : ''}: ${f.code} ${cut(f.message, MAX_MESSAGE_CHARS)}`);
  }
  return lines;
}

/**
 * Joins lines while the result stays within `fits`; when some do not fit, ends with "… N more lines".
 * The first line is always kept (cut itself if it alone is too long).
 */
export function fitLines(lines: string[], fits: (s: string) => boolean): string {
  const n = lines.length;
  let k = 0;
  let acc = '';
  for (; k < n; k++) {
    const next = k === 0 ? lines[0]! : `${acc}\n${lines[k]!}`;
    if (!fits(next)) break;
    acc = next;
  }
  if (k === n) return acc;
  // Some lines do not fit: keep as many as leave room for the count of the rest.
  for (; k >= 1; k--) {
    const s = `${lines.slice(0, k).join('\n')}\n${moreLines(n - k)}`;
    if (fits(s)) return s;
  }
  // Not even the first line fits beside the count: cut it.
  const more = n > 1 ? `\n${moreLines(n - 1)}` : '';
  let first = lines[0] ?? '';
  while (first.length > 0 && !fits(`${first}…${more}`)) first = first.slice(0, -1);
  return `${first}…${more}`;
}

/** Slack reads &, < and > as control characters in message text (links, mentions). */
export function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function moreLines(n: number): string {
  return `… ${n} more line${n === 1 ? '' : 's'}`;
}

const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** The request body for a webhook of the given format, as a string, with its content type. */
export function webhookBody(format: NotifyFormat, report: RunReport): { body: string; contentType: string } {
  const lines = textLines(report);
  switch (format) {
    case 'json':
      return { body: JSON.stringify(jsonBody(report)), contentType: 'application/json' };
    case 'wecom':
      return { body: JSON.stringify({ msgtype: 'text', text: { content: fitLines(lines, (s) => utf8Bytes(s) <= WECOM_TEXT_BYTES) } }), contentType: 'application/json' };
    case 'dingtalk':
      return { body: JSON.stringify({ msgtype: 'text', text: { content: fitLines(lines, (s) => utf8Bytes(s) <= DINGTALK_TEXT_BYTES) } }), contentType: 'application/json' };
    case 'slack':
      return { body: JSON.stringify({ text: fitLines(lines.map(slackEscape), (s) => s.length <= SLACK_TEXT_CHARS) }), contentType: 'application/json' };
  }
}

/** The body of a health ping at the end of a run: the readable text, capped at 10 kB (healthchecks.io keeps up to 100 kB). */
export function pingBody(report: RunReport): string {
  return fitLines(textLines(report), (s) => utf8Bytes(s) <= 10_000);
}
