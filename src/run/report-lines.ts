// The terminal's item lines, derived from the run's events like the log lines and the summary: what a
// person running `cdb2cos run` by hand (or cron's mail, for the warnings) sees of each item.
import type { RunEvents } from '../progress/events.js';
import { formatBytes } from '../run-report.js';
import type { Reporter } from './context.js';

export function reportEvents(events: RunEvents, report: Reporter): () => void {
  return events.subscribe((ev) => {
    switch (ev.kind) {
      case 'listing-failed':
        report.warn(ev.say ?? `${ev.instance}${ev.type !== null ? ` ${ev.type}` : ''}: listing failed: ${ev.message}`);
        break;
      case 'type-unsupported':
        report.warn(ev.say ?? `${ev.instance} ${ev.type}: not available: ${ev.message}`);
        break;
      case 'item-skipped':
        if (ev.reason === 'running') {
          const why = ev.source === undefined || ev.source === 'cdb' ? 'still running at the source' : 'still being written (modified within min_age)';
          report.item(`waiting ${ev.instance} ${ev.type} ${ev.name}: ${why}; next run`);
        } else if (ev.reason === 'archived') {
          report.item(`archived ${ev.instance} ${ev.type} ${ev.name}: in CDB's archive storage (CosStorageType 1), cannot be downloaded; skipped`);
        }
        break;
      case 'item-planned':
        // Only a dry run says what it would copy; a real run says what it copied.
        if (ev.targets !== undefined) report.item(`would copy ${ev.instance} ${ev.type} ${ev.name} (${formatBytes(ev.size)}) → ${ev.targets.join(', ')}`);
        break;
      case 'item-copied':
        report.item(`copied ${ev.instance} ${ev.type} ${ev.name} (${formatBytes(ev.bytes)}, ${(ev.ms / 1000).toFixed(1)} s) → ${ev.destinations.join(', ')}`);
        break;
      case 'item-failed':
        report.warn(`FAILED ${ev.instance} ${ev.type} ${ev.name}: ${ev.message}`);
        break;
      default:
        break;
    }
  });
}
