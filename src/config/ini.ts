// Scanning a config file into (section, key, value, line) entries, in one of two dialects:
// - 'new': the format of config.example.ini. A ";" or "#" starts an inline comment only after a blank
//   (space or tab), so `prefix = team#1/` keeps its "#"; "\;", "\#" and "\\" stand for the character;
//   "…" is read with JSON escapes and '…' as is.
// - 'legacy': the 2018 script's files, read exactly as Python 3's configparser.ConfigParser() reads them
//   with its defaults: no inline comments at all, "key = value" and "key: value" (the first "=" or ":"
//   ends the key), values stripped, indented lines continue the value above, and "%%" / "%(key)s"
//   interpolated as BasicInterpolation does on get().
// A line is never echoed in a message: it may be a secret that lost its "key =".

export type Dialect = 'new' | 'legacy';

export interface Entry {
  section: string;
  key: string;
  value: string;
  line: number;
  separator: '=' | ':';
  /** Its text was refused (and reported): the key counts as set, with no value. */
  failed?: true;
}

export interface Scan {
  /** Section name → line of its first header, in order of appearance. */
  sections: Map<string, number>;
  entries: Entry[];
}

/** Receives each problem found; the caller decides how many to keep. */
export type Report = (problem: string) => void;

/** "[name]" with an optional comment after it: the name, trimmed; else undefined. No regex: a line of
 *  blanks after "[" must not cost quadratic backtracking. */
function sectionHeader(text: string): string | undefined {
  if (!text.startsWith('[')) return undefined;
  const close = text.indexOf(']');
  if (close < 0) return undefined;
  const rest = text.slice(close + 1).trim();
  if (rest !== '' && !rest.startsWith(';') && !rest.startsWith('#')) return undefined;
  return text.slice(1, close).trim();
}
const KEY_LINE = /^([A-Za-z0-9_.-]+)\s*([=:])(.*)$/;

function splitLines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
}

/** Names of the section headers, lower-case, in order: enough to tell the two formats apart. */
export function headerNames(text: string): string[] {
  const names = new Set<string>();
  for (const raw of splitLines(text)) {
    const m = /^\[([^\]]+)\]/.exec(raw.trim());
    const name = m?.[1]?.trim().toLowerCase();
    if (name !== undefined && name !== '') names.add(name);
  }
  return [...names];
}

export function scanIni(text: string, dialect: Dialect, report: Report): Scan {
  return dialect === 'legacy' ? scanLegacy(splitLines(text), report) : scanNew(splitLines(text), report);
}

// ---------------------------------------------------------------------------------------------------
// The new format.

function scanNew(lines: string[], report: Report): Scan {
  const scan: Scan = { sections: new Map(), entries: [] };
  const seen = new Map<string, number>();
  let section: string | undefined;
  lines.forEach((raw, i) => {
    const line = i + 1;
    const text = raw.trim();
    if (text === '' || text.startsWith(';') || text.startsWith('#')) return;
    const header = sectionHeader(text);
    if (header !== undefined) {
      const name = header.toLowerCase();
      if (name === '') {
        report(`line ${line}: empty section name "[]"`);
        section = undefined;
        return;
      }
      section = name;
      if (!scan.sections.has(name)) scan.sections.set(name, line);
      return;
    }
    const kv = KEY_LINE.exec(text);
    if (!kv) {
      report(`line ${line}: expected "[section]", "key = value" or a ; comment`);
      return;
    }
    const key = (kv[1] ?? '').toLowerCase();
    if (section === undefined) {
      report(`line ${line}: "${key}" comes before any [section]`);
      return;
    }
    const label = `${section}.${key}`;
    const decoded = decodeValue(kv[3] ?? '');
    const first = seen.get(label);
    const separator = kv[2] === ':' ? ':' : '=';
    if (typeof decoded !== 'string') {
      report(`${label}: ${decoded.error} (line ${line})`);
      if (first === undefined) scan.entries.push({ section, key, value: '', line, separator, failed: true });
      seen.set(label, first ?? line);
      return;
    }
    if (first !== undefined) {
      report(`${label}: set twice (lines ${first} and ${line}); keep one`);
      return;
    }
    seen.set(label, line);
    scan.entries.push({ section, key, value: decoded, line, separator });
  });
  return scan;
}

const ESCAPABLE = '\\;#';

/**
 * A value's text after its "=": quoted ("…" as JSON, '…' as is) or bare. In both, a ";" or "#" that
 * follows a blank starts a comment; anywhere else it is part of the value.
 */
export function decodeValue(raw: string): string | { error: string } {
  const v = raw.trim();
  const quote = v[0];
  if (quote !== '"' && quote !== "'") return decodeBare(raw);
  let end = -1;
  for (let i = 1; i < v.length; i++) {
    if (quote === '"' && v[i] === '\\') i++;
    else if (v[i] === quote) {
      end = i;
      break;
    }
  }
  if (end === -1) return { error: 'unterminated quote' };
  const rest = v.slice(end + 1);
  if (rest.trim() !== '' && !/^\s+[;#]/.test(rest)) return { error: 'unexpected text after the closing quote' };
  if (quote === "'") return v.slice(1, end);
  try {
    return String(JSON.parse(v.slice(0, end + 1)));
  } catch {
    return { error: 'invalid escape in the quoted value' };
  }
}

function decodeBare(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? '';
    const next = raw[i + 1];
    if (c === '\\' && next !== undefined && ESCAPABLE.includes(next)) {
      out += next;
      i++;
    } else if ((c === ';' || c === '#') && i > 0 && /\s/.test(raw[i - 1] ?? '')) {
      break;
    } else out += c;
  }
  return out.trim();
}

// ---------------------------------------------------------------------------------------------------
// The 2018 format, as Python 3's ConfigParser reads it (Lib/configparser.py, RawConfigParser._read and
// BasicInterpolation). Deliberate leniencies, each for a file that Python would refuse outright: section
// names are case-insensitive and trimmed, a byte-order mark is skipped, and reading goes on after a
// problem so that all of them are reported.

// Python's str.isspace(), which str.strip() and the regex \s use: not JavaScript's \s (no U+FEFF, but
// U+001C–U+001F and U+0085).
const PY_SPACE = new Set(
  [
    '\t', '\n', '\v', '\f', '\r', '\x1c', '\x1d', '\x1e', '\x1f', ' ', '\x85', '\xa0', '\u1680',
    '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009',
    '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000',
  ],
);

function pyRstrip(s: string): string {
  let end = s.length;
  while (end > 0 && PY_SPACE.has(s[end - 1] ?? '')) end--;
  return s.slice(0, end);
}

function pyStrip(s: string): string {
  let start = 0;
  while (start < s.length && PY_SPACE.has(s[start] ?? '')) start++;
  return pyRstrip(s.slice(start));
}

function indentOf(s: string): number {
  let i = 0;
  while (i < s.length && PY_SPACE.has(s[i] ?? '')) i++;
  return i;
}

interface Pending {
  section: string;
  key: string;
  line: number;
  separator: '=' | ':';
  parts: string[];
}

function scanLegacy(lines: string[], report: Report): Scan {
  const scan: Scan = { sections: new Map(), entries: [] };
  const pending: Pending[] = [];
  const seen = new Map<string, number>();
  let section: string | undefined;
  let option: Pending | undefined;
  let indentLevel = 0;
  lines.forEach((raw, i) => {
    const line = i + 1;
    const value = pyStrip(raw);
    // comment_prefixes ('#', ';'): whole lines only; inline_comment_prefixes is None.
    if (value.startsWith('#') || value.startsWith(';')) return;
    if (value === '') {
      // empty_lines_in_values: a blank line may sit inside a continued value.
      option?.parts.push('');
      return;
    }
    const indent = indentOf(raw);
    if (option !== undefined && indent > indentLevel) {
      option.parts.push(value);
      return;
    }
    indentLevel = indent;
    const header = /^\[(.+)\]/.exec(value);
    if (header) {
      const name = (header[1] ?? '').trim().toLowerCase();
      const first = scan.sections.get(name);
      // strict=True: DuplicateSectionError.
      if (first !== undefined) report(`[${name}]: appears twice (lines ${first} and ${line}); keep one`);
      else scan.sections.set(name, line);
      section = name;
      option = undefined;
      return;
    }
    const at = value.search(/[=:]/);
    const key = at > 0 ? pyRstrip(value.slice(0, at)).toLowerCase() : '';
    if (key === '') {
      report(`line ${line}: expected "[section]", "key = value", "key: value" or a ; comment`);
      return;
    }
    if (section === undefined) {
      report(`line ${line}: "${key}" comes before any [section]`);
      return;
    }
    const label = `${section}.${key}`;
    const first = seen.get(label);
    if (first !== undefined) {
      // strict=True: DuplicateOptionError.
      report(`${label}: set twice (lines ${first} and ${line}); keep one`);
      option = undefined;
      return;
    }
    seen.set(label, line);
    option = { section, key, line, separator: value[at] === ':' ? ':' : '=', parts: [pyStrip(value.slice(at + 1))] };
    pending.push(option);
  });
  const raw = new Map(pending.map((p) => [`${p.section}.${p.key}`, pyRstrip(p.parts.join('\n'))]));
  for (const p of pending) {
    const label = `${p.section}.${p.key}`;
    const value = interpolate(p.section, raw.get(label) ?? '', raw, 1);
    const entry: Entry = { section: p.section, key: p.key, value: '', line: p.line, separator: p.separator };
    if (typeof value !== 'string') {
      report(`${label}: ${value.error} (line ${p.line})`);
      entry.failed = true;
    } else entry.value = value;
    scan.entries.push(entry);
  }
  return scan;
}

const MAX_INTERPOLATION_DEPTH = 10;

/** BasicInterpolation: "%%" is "%", "%(key)s" the raw value of key in the same section. */
function interpolate(
  section: string,
  rest: string,
  raw: ReadonlyMap<string, string>,
  depth: number,
): string | { error: string } {
  if (depth > MAX_INTERPOLATION_DEPTH) {
    return { error: `nests %(…)s references deeper than ${MAX_INTERPOLATION_DEPTH}, as ConfigParser allows` };
  }
  let out = '';
  // The value is never shown: it may be a secret.
  for (;;) {
    const p = rest.indexOf('%');
    if (p < 0) return out + rest;
    out += rest.slice(0, p);
    rest = rest.slice(p);
    const c = rest[1];
    if (c === '%') {
      out += '%';
      rest = rest.slice(2);
    } else if (c === '(') {
      const m = /^%\(([^)]+)\)s/.exec(rest);
      if (!m) return { error: 'has a "%(" that is not a %(key)s reference; write %% for a literal %' };
      rest = rest.slice(m[0].length);
      const v = raw.get(`${section}.${(m[1] ?? '').toLowerCase()}`);
      if (v === undefined) return { error: `refers with %(…)s to a key that [${section}] does not set` };
      if (v.includes('%')) {
        const inner = interpolate(section, v, raw, depth + 1);
        if (typeof inner !== 'string') return inner;
        out += inner;
      } else out += v;
    } else {
      return { error: 'has a "%" not followed by "%" or "(": the 2018 format reads it as ConfigParser does; write %%' };
    }
  }
}
