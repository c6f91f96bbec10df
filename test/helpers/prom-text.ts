// A strict reader of the Prometheus text exposition format 0.0.4, for tests: it refuses what Prometheus
// (or node_exporter's textfile collector, or the Pushgateway) would refuse, and more — duplicate series,
// HELP/TYPE after samples, scattered families, bad escapes, a missing final newline.

export interface PromSample {
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface PromFamily {
  name: string;
  help?: string;
  type?: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

class PromParseError extends Error {
  constructor(line: number, msg: string) {
    super(`line ${line}: ${msg}`);
  }
}

function parseValue(s: string, line: number): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw new PromParseError(line, `bad value "${s}"`);
  return Number(s);
}

/** Reads label pairs from `{…}` starting at s[0] === '{'; returns the labels and the rest after '}'. */
function parseLabels(s: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  const skipSpace = (): void => {
    while (s[i] === ' ' || s[i] === '\t') i++;
  };
  skipSpace();
  if (s[i] === '}') return { labels, rest: s.slice(i + 1) };
  for (;;) {
    skipSpace();
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
    if (!m) throw new PromParseError(line, `bad label name at "${s.slice(i, i + 10)}"`);
    const name = m[0];
    if (name.startsWith('__')) throw new PromParseError(line, `reserved label name ${name}`);
    if (name in labels) throw new PromParseError(line, `duplicate label ${name}`);
    i += name.length;
    skipSpace();
    if (s[i] !== '=') throw new PromParseError(line, `expected = after ${name}`);
    i++;
    skipSpace();
    if (s[i] !== '"') throw new PromParseError(line, `expected " for ${name}`);
    i++;
    let v = '';
    for (;;) {
      const c = s[i];
      if (c === undefined) throw new PromParseError(line, `unterminated value of ${name}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = s[i + 1];
        if (e === '\\') v += '\\';
        else if (e === '"') v += '"';
        else if (e === 'n') v += '\n';
        else throw new PromParseError(line, `bad escape \\${e ?? ''} in ${name}`);
        i += 2;
        continue;
      }
      v += c;
      i++;
    }
    i++;
    if (!LABEL_NAME.test(name)) throw new PromParseError(line, `bad label name ${name}`);
    labels[name] = v;
    skipSpace();
    if (s[i] === ',') {
      i++;
      skipSpace();
      if (s[i] === '}') return { labels, rest: s.slice(i + 1) };
      continue;
    }
    if (s[i] === '}') return { labels, rest: s.slice(i + 1) };
    throw new PromParseError(line, `expected , or } after ${name}`);
  }
}

function unescapeHelp(s: string, line: number): string {
  return s.replace(/\\(.?)/g, (_, e: string) => {
    if (e === '\\') return '\\';
    if (e === 'n') return '\n';
    throw new PromParseError(line, `bad escape in HELP: \\${e}`);
  });
}

/** Parses the whole text; throws on the first violation, naming the line. */
export function parsePromText(text: string): Map<string, PromFamily> {
  if (text.length > 0 && !text.endsWith('\n')) throw new PromParseError(0, 'the text must end with a line feed');
  const fams = new Map<string, PromFamily>();
  const seen = new Set<string>();
  let current: string | undefined;
  const family = (name: string, line: number, forSample: boolean): PromFamily => {
    let f = fams.get(name);
    if (!f) {
      f = { name, samples: [] };
      fams.set(name, f);
    } else if (current !== name) {
      throw new PromParseError(line, `lines of ${name} are not together`);
    }
    if (!forSample && f.samples.length > 0) throw new PromParseError(line, `HELP/TYPE of ${name} after its samples`);
    current = name;
    return f;
  };
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string | undefined];
      if (!METRIC_NAME.test(name)) throw new PromParseError(line, `bad metric name ${name}`);
      const f = family(name, line, false);
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new PromParseError(line, `second HELP for ${name}`);
        f.help = unescapeHelp(rest ?? '', line);
      } else {
        const t = (rest ?? '').trim();
        if (!TYPES.has(t)) throw new PromParseError(line, `bad TYPE ${t}`);
        if (f.type !== undefined) throw new PromParseError(line, `second TYPE for ${name}`);
        f.type = t as PromFamily['type'];
      }
      return;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw);
    if (!nm) throw new PromParseError(line, `bad sample line "${raw}"`);
    const name = nm[0];
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    const parts = rest.trim().split(/[ \t]+/);
    if (!/^[ \t]/.test(rest) || parts.length < 1 || parts.length > 2 || parts[0] === '') throw new PromParseError(line, `bad sample line "${raw}"`);
    const value = parseValue(parts[0]!, line);
    const sample: PromSample = { labels, value };
    if (parts[1] !== undefined) {
      if (!/^-?\d+$/.test(parts[1])) throw new PromParseError(line, `bad timestamp ${parts[1]}`);
      sample.timestamp = Number(parts[1]);
    }
    const f = family(name, line, true);
    const id = `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
    if (seen.has(id)) throw new PromParseError(line, `duplicate series ${id}`);
    seen.add(id);
    f.samples.push(sample);
  });
  return fams;
}

/** The value of one series; throws when it is absent. */
export function valueOf(fams: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number {
  const f = fams.get(name);
  const s = f?.samples.find((x) => Object.keys(labels).length === Object.keys(x.labels).length && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (!s) throw new Error(`no series ${name}${JSON.stringify(labels)}`);
  return s.value;
}
