// The URL list of [urls], pure: one item per line, `URL [KEY]`; blank lines and lines starting with `#`
// are ignored. Every line is checked before any request: a line that is not an http(s) URL, whose path
// could not be part of a key, or whose KEY could leave the prefix fails the whole list with its line
// number, so a typo never silently drops a file from the backup.
import { Cdb2cosError, redactUrl } from '../../errors.js';
import { MAX_KEY_BYTES } from '../../plan.js';

export interface UrlLine {
  /** 1-based line number in the list file. */
  line: number;
  /** The URL as written, query included (it may hold a signature: never log it; see redactUrl). */
  url: string;
  /** The URL without its query string and fragment: the item's id. */
  id: string;
  /** Host name, without port. */
  host: string;
  /** The URL path without its leading "/", decoded segment by segment ('' when it names no file). */
  path: string;
  /** The last segment of the path, decoded (for a URL without a path: the last segment of KEY). */
  name: string;
  /** The line's own key below the prefix, when it gives one. */
  key: string | undefined;
}

/** Why a path or KEY segment could not be part of an object key, or undefined when it can. */
export function segmentProblem(seg: string): string | undefined {
  if (seg === '') return 'an empty segment (a leading, doubled or trailing "/")';
  if (seg === '.' || seg === '..') return `the segment "${seg}"`;
  if (seg.includes('/')) return `a segment holding "/" (${JSON.stringify(seg)}, from %2F)`;
  if (seg.includes('\\')) return 'a segment holding "\\"';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(seg)) return 'a segment holding a control character';
  return undefined;
}

/** Parses a list file's text; throws ERR_CONFIG "<file> line N: …" at the first malformed line. */
export function parseUrlList(text: string, file: string): UrlLine[] {
  const out: UrlLine[] = [];
  const keys = new Map<string, number>();
  const ids = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const no = i + 1;
    const raw = (lines[i] ?? '').trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fail = (why: string): never => {
      throw new Cdb2cosError('ERR_CONFIG', `${file} line ${no}: ${why}`);
    };
    const words = raw.split(/\s+/);
    if (words.length > 2) fail('expected "URL [KEY]" (a KEY holds no blanks)');
    const [text0, key] = words as [string, string | undefined];
    let u: URL;
    try {
      u = new URL(text0);
    } catch {
      return fail(`${JSON.stringify(redactUrl(text0))} is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(`${JSON.stringify(redactUrl(text0))} is not an http:// or https:// URL`);
    // A user name or password would be logged with the id; signed URLs carry their secret in the query.
    if (u.username !== '' || u.password !== '') fail(`${u.protocol}//${u.host}/… holds a user name or password; use a signed URL or a token in the query`);
    u.hash = '';
    const id = `${u.origin}${u.pathname}`;
    const url = u.href;
    // WHATWG URL parsing already resolves "." and ".." segments, %2e%2e included; a %2F decodes to a
    // "/" inside one segment and is refused below.
    const encoded = u.pathname.replace(/^\//, '');
    const segments: string[] = [];
    let pathOk = true;
    if (encoded !== '') {
      for (const s of encoded.split('/')) {
        let seg: string;
        try {
          seg = decodeURIComponent(s);
        } catch {
          return fail(`the URL path of ${redactUrl(id)} has a malformed %-escape`);
        }
        const why = segmentProblem(seg);
        if (why !== undefined) pathOk = false;
        if (why !== undefined && key === undefined) fail(`the URL path of ${redactUrl(id)} has ${why}, so it cannot be part of an object key; give the line a KEY`);
        segments.push(seg);
      }
    } else if (key === undefined) fail(`${redactUrl(id)} names no file (its path is empty); give the line a KEY`);
    if (key !== undefined) {
      if (key.startsWith('/')) fail(`KEY ${JSON.stringify(key)} starts with "/" (it is a key below the prefix)`);
      for (const seg of key.split('/')) {
        const why = segmentProblem(seg);
        if (why !== undefined) fail(`KEY ${JSON.stringify(key)} has ${why}, so it could leave the prefix or meet another key`);
      }
      if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) fail(`KEY is ${Buffer.byteLength(key, 'utf8')} bytes, over ${MAX_KEY_BYTES}`);
      const seen = keys.get(key);
      if (seen !== undefined) fail(`KEY ${JSON.stringify(key)} is also the KEY of line ${seen}`);
      keys.set(key, no);
    }
    const seenId = ids.get(id);
    if (seenId !== undefined) fail(`${redactUrl(id)} is also on line ${seenId} (query aside); list each file once`);
    ids.set(id, no);
    // With a KEY the URL path is not part of the key: a name it cannot give comes from the KEY.
    const path = pathOk ? segments.join('/') : '';
    const name = (pathOk ? segments.at(-1) : undefined) || (key ?? '').split('/').at(-1) || '';
    out.push({ line: no, url, id, host: u.hostname, path, name, key });
  }
  return out;
}
