// The run's figures in Prometheus text exposition format 0.0.4: pure functions, no I/O.
// Every metric is a gauge describing the last run (node_exporter's textfile collector and the
// Pushgateway both keep only the last value), so none is a counter and none ends in _total.
import { OUTCOMES, succeeded, type RunReport } from '../run-report.js';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const LAST_SUCCESS = 'cdb2cos_last_success_timestamp_seconds';

/** Label values: backslash, double quote and line feed are escaped (text format 0.0.4). */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and line feed are escaped. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value: integers as integers, others as JS prints them (Go's ParseFloat reads both). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

interface Family {
  name: string;
  help: string;
  samples: Array<{ labels?: Record<string, string>; value: number }>;
}

function renderFamily(f: Family): string {
  const lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} gauge`];
  for (const s of f.samples) {
    const labels = s.labels ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}` : '';
    lines.push(`${f.name}${labels} ${formatValue(s.value)}`);
  }
  return lines.join('\n');
}

const seconds = (ms: number): number => ms / 1000;

/**
 * The textfile's content. `lastSuccessMs` is the end of the last successful run, this one or one carried
 * over from the previous file; when unknown (no run ever succeeded) that metric is left out.
 */
export function renderMetrics(report: RunReport, lastSuccessMs: number | undefined): string {
  const fams: Family[] = [
    { name: 'cdb2cos_last_run_start_timestamp_seconds', help: 'When the last run started, in seconds since the Unix epoch.', samples: [{ value: seconds(report.startedAt) }] },
    { name: 'cdb2cos_last_run_end_timestamp_seconds', help: 'When the last run ended, in seconds since the Unix epoch.', samples: [{ value: seconds(report.finishedAt) }] },
  ];
  if (lastSuccessMs !== undefined) {
    fams.push({ name: LAST_SUCCESS, help: 'When the last run that exited 0 ended, in seconds since the Unix epoch (kept across failed runs).', samples: [{ value: seconds(lastSuccessMs) }] });
  }
  fams.push(
    { name: 'cdb2cos_last_run_exit_code', help: 'Exit code of the last run (0 success, 1 items failed, 2 usage or config, 3 auth, 4 locked, 130/143 signal).', samples: [{ value: report.exitCode }] },
    { name: 'cdb2cos_last_run_success', help: '1 if the last run exited 0, else 0.', samples: [{ value: succeeded(report) ? 1 : 0 }] },
    { name: 'cdb2cos_last_run_duration_seconds', help: 'Wall time of the last run in seconds.', samples: [{ value: seconds(Math.max(0, report.finishedAt - report.startedAt)) }] },
    {
      name: 'cdb2cos_items',
      help: 'Items of the last run by source unit (instance), type and outcome (copied, skipped, failed, waiting, archived). type is empty for a failure of the whole instance.',
      samples: report.units.flatMap((u) => OUTCOMES.map((o) => ({ labels: { unit: u.instance, type: u.type ?? '', outcome: o }, value: u.items[o] }))),
    },
    {
      name: 'cdb2cos_bytes',
      help: 'Sizes (as CDB lists them) of the items of the last run by source unit, type and outcome, in bytes.',
      samples: report.units.flatMap((u) => OUTCOMES.map((o) => ({ labels: { unit: u.instance, type: u.type ?? '', outcome: o }, value: u.bytes[o] }))),
    },
    { name: 'cdb2cos_downloaded_bytes', help: 'Bytes downloaded from CDB by the last run, retries included.', samples: [{ value: report.totals.bytesDownloaded }] },
    { name: 'cdb2cos_uploaded_bytes', help: 'Bytes uploaded to COS by the last run, retries included.', samples: [{ value: report.totals.bytesUploaded }] },
    { name: 'cdb2cos_unsupported_types', help: 'Instance and type pairs the last run could not list because the edition cannot give them (slow logs).', samples: [{ value: report.totals.unsupported }] },
    { name: 'cdb2cos_peak_rss_bytes', help: 'Peak resident set size of the last run, in bytes.', samples: [{ value: report.peakRssBytes }] },
  );
  return fams.map(renderFamily).join('\n') + '\n';
}

/** The last-success value of a previous textfile, in epoch ms; undefined when absent or unreadable. */
export function readLastSuccessMs(text: string): number | undefined {
  const m = new RegExp(`^${LAST_SUCCESS}(?:\\{\\})?\\s+(\\S+)(?:\\s+\\S+)?\\s*$`, 'm').exec(text);
  if (!m) return undefined;
  const v = Number(m[1]);
  return Number.isFinite(v) && v > 0 ? Math.round(v * 1000) : undefined;
}

/** The last success to write: this run's end if it succeeded, else the one carried over. */
export function lastSuccessMs(report: RunReport, previousMs: number | undefined): number | undefined {
  return succeeded(report) ? report.finishedAt : previousMs;
}
