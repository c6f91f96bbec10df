// Globs of [local] paths, pure: parsed once at config time into a fixed base (the folders before the
// first segment holding a glob character) and one matcher per remaining segment. Node 20.18 has no
// fs.glob (it is experimental in 22), and the matchers in node_modules are other packages' dependencies,
// not ours: this small one covers what the config documents — `**` (any depth of folders, a whole
// segment), `*` and `?` (within one name) and `{a,b}` (alternatives, within one name).
import { isAbsolute, resolve } from 'node:path';

/** One segment after the base: `**`, or a name matcher. */
export type GlobSegment = { kind: 'globstar' } | { kind: 'name'; re: RegExp; literal: string | undefined };

export interface Glob {
  /** The pattern as written, resolved against the config's folder. */
  pattern: string;
  /** Absolute folder before the first segment with a glob character (for a plain file path, its folder). */
  base: string;
  segments: GlobSegment[];
}

const GLOB_CHARS = /[*?{}]/;

/** Splits `a, b{x,y}` at the commas outside braces; blanks around each pattern are dropped. */
export function splitGlobs(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of text) {
    if (c === '{') depth++;
    else if (c === '}') depth = Math.max(0, depth - 1);
    if (c === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  out.push(cur.trim());
  return out;
}

/**
 * Parses one glob; relative ones resolve against `folder`. Returns a problem (one phrase) for what it
 * cannot match safely: a `..` segment (a glob must not climb out of its base), `**` inside a name,
 * braces that are unbalanced, nested or hold "/", an empty pattern.
 */
export function parseGlob(text: string, folder: string): Glob | { problem: string } {
  if (text === '') return { problem: 'an empty pattern' };
  const parts = text.split('/');
  if (parts.includes('..')) return { problem: `${JSON.stringify(text)} holds a ".." segment` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) return { problem: `${JSON.stringify(text)} holds a control character` };
  const first = parts.findIndex((p) => GLOB_CHARS.test(p));
  const fixedParts = first === -1 ? parts.slice(0, -1) : parts.slice(0, first);
  const globParts = first === -1 ? parts.slice(-1) : parts.slice(first);
  const fixed = fixedParts.join('/');
  const base = isAbsolute(text) ? resolve('/', fixed) : resolve(folder, fixed);
  const segments: GlobSegment[] = [];
  for (const p of globParts) {
    if (p === '' || p === '.') continue;
    if (p === '**') {
      // `a/**/**/b` is `a/**/b`.
      if (segments.at(-1)?.kind !== 'globstar') segments.push({ kind: 'globstar' });
      continue;
    }
    if (p.includes('**')) return { problem: `${JSON.stringify(text)}: ** must be a whole segment (write a/**/b*, not a/**b)` };
    const re = segmentRegExp(p);
    if (typeof re === 'string') return { problem: `${JSON.stringify(text)}: ${re}` };
    segments.push({ kind: 'name', re, literal: GLOB_CHARS.test(p) ? undefined : p });
  }
  if (segments.length === 0 || segments.at(-1)?.kind === 'globstar') return { problem: `${JSON.stringify(text)} names no files (end it with a file name or pattern, e.g. **/*.xb)` };
  return { pattern: isAbsolute(text) ? text : resolve(folder, text), base, segments };
}

/** A name pattern as a RegExp; `*` and `?` never match a leading "." unless the pattern starts with one (as in a shell). */
function segmentRegExp(p: string): RegExp | string {
  let re = '';
  let inBrace = false;
  for (const c of p) {
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      if (inBrace) return 'nested braces are not supported';
      inBrace = true;
      re += '(?:';
    } else if (c === '}') {
      if (!inBrace) return 'a "}" without its "{"';
      inBrace = false;
      re += ')';
    } else if (c === ',' && inBrace) re += '|';
    else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  if (inBrace) return 'a "{" without its "}"';
  const hidden = p.startsWith('.') ? '' : '(?!\\.)';
  return new RegExp(`^${hidden}(?:${re})$`, 'u');
}

/** Whether a folder or file name matches a name segment. */
export function matchesName(seg: Extract<GlobSegment, { kind: 'name' }>, name: string): boolean {
  return seg.re.test(name);
}
