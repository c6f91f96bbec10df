// Pure: the COS bucket lifecycle rules closest to a [retention] section, as the XML body PutBucketLifecycle
// takes, and plainly what the rules cannot do. A rule filters by key prefix and counts days from the
// object's upload, so it knows nothing of keep_data_min, of the binlog chain, or of the backup's own time.
import { BACKUP_TYPES, type BackupType, type RetentionConfig } from '../types.js';

export interface LifecycleInput {
  keyTemplate: string;
  prefix: string;
  instances: readonly string[];
  /** cdb.types: what a shared prefix may hold. */
  types: readonly BackupType[];
  /** Where the manifests live: never under a rule. */
  manifestPrefix: string;
}

export interface LifecycleRule {
  id: string;
  prefix: string;
  days: number;
}

export interface Lifecycle {
  rules: LifecycleRule[];
  xml: string;
  /** What the rules do not do, for people: one sentence each. */
  notes: string[];
}

const daysOf = (p: RetentionConfig, t: BackupType): number | undefined =>
  t === 'data' ? p.dataDays : t === 'binlog' ? p.binlogDays : p.slowlogDays;

/** The template's fixed head for an instance and type: everything before the first other placeholder. */
function headOf(template: string, prefix: string, instance: string, type: BackupType | undefined): { head: string; usedType: boolean; usedInstance: boolean } {
  const cut = template.search(/\{(?:date|name|id)\}/);
  const fixed = cut === -1 ? template : template.slice(0, cut);
  const usedType = fixed.includes('{type}');
  const usedInstance = fixed.includes('{instance}');
  let head = fixed.replace(/\{prefix\}/g, prefix).replace(/\{instance\}/g, instance);
  if (type !== undefined) head = head.replace(/\{type\}/g, type);
  else if (usedType) head = head.slice(0, head.indexOf('{type}'));
  return { head, usedType, usedInstance };
}

export function lifecycleFor(input: LifecycleInput, policy: RetentionConfig): Lifecycle {
  const notes: string[] = [];
  const rules = new Map<string, LifecycleRule>();
  const add = (id: string, prefix: string, days: number): void => {
    if (prefix === '' || input.manifestPrefix.startsWith(prefix)) {
      notes.push(`no rule for ${id}: its key prefix "${prefix}" would also expire the manifests under ${input.manifestPrefix}; change cos.key so that {instance} or {type} comes before {date}, {name} and {id}`);
      return;
    }
    const cur = rules.get(prefix);
    // One prefix, several sources of a rule (a template without {instance}): the longest days keep all.
    if (cur === undefined || cur.days < days) rules.set(prefix, { id, prefix, days });
  };

  for (const instance of input.instances) {
    const { usedType, usedInstance } = headOf(input.keyTemplate, input.prefix, instance, undefined);
    const who = usedInstance ? `${instance}-` : '';
    if (usedType) {
      for (const type of BACKUP_TYPES) {
        const days = daysOf(policy, type);
        if (days !== undefined) add(`cdb2cos-${who}${type}`, headOf(input.keyTemplate, input.prefix, instance, type).head, days);
      }
      continue;
    }
    // All types share one prefix: one rule, only if every type copied has a limit, with the longest.
    const limits = input.types.map((t) => daysOf(policy, t));
    const { head } = headOf(input.keyTemplate, input.prefix, instance, undefined);
    if (limits.some((d) => d === undefined)) {
      notes.push(`no rule for ${instance}: cos.key puts every type under "${head}" and ${input.types.filter((t) => daysOf(policy, t) === undefined).join(', ')} must be kept forever; a prefix rule cannot tell the types apart`);
    } else {
      const days = Math.max(...(limits as number[]));
      add(`cdb2cos-${who}all`, head, days);
      if (new Set(limits).size > 1) notes.push(`${head}: every type shares this prefix, so the rule uses the longest limit, ${days} days, for all of them`);
    }
  }

  const list = [...rules.values()];
  notes.push(
    'keep_data_min is not applied: a rule deletes every data backup older than its days, even the newest ones when backups have stopped.',
    'the binlog chain is not applied: a rule deletes binlogs that the oldest data backup kept still needs for point-in-time recovery.',
    'days count from each object\'s upload to COS, not from the backup\'s own time.',
    'the manifest is not updated: entries of expired objects stay until they are pruned, harmless since entries count only while the bucket lists the object.',
    'PutBucketLifecycle replaces every lifecycle rule of the bucket: merge these with the existing ones (GetBucketLifecycle) before applying.',
  );
  return { rules: list, xml: lifecycleXml(list), notes };
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export function lifecycleXml(rules: readonly LifecycleRule[]): string {
  const body = rules
    .map(
      (r) =>
        `  <Rule>\n    <ID>${esc(r.id)}</ID>\n    <Filter>\n      <Prefix>${esc(r.prefix)}</Prefix>\n    </Filter>\n` +
        `    <Status>Enabled</Status>\n    <Expiration>\n      <Days>${r.days}</Days>\n    </Expiration>\n  </Rule>\n`,
    )
    .join('');
  return `<LifecycleConfiguration>\n${body}</LifecycleConfiguration>\n`;
}
