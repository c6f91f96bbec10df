// The kinds of config key. Each constructor turns a row of the key table (src/config/keys.ts) into a
// KeyDef: how a value's text is read and checked, and what the generated docs say about it.
import { resolve } from 'node:path';
import { parseDuration, parseEndpoint, parseRate, parseSize, shown } from './units.js';

export type KeyType =
  | 'string'
  | 'integer'
  | 'size'
  | 'rate'
  | 'duration'
  | 'enum'
  | 'list'
  | 'path'
  | 'endpoint'
  | 'template'
  | 'secret';

export type Env = Record<string, string | undefined>;

/** What reading one value may use; problems go through it so they carry the key's label. */
export interface ReadContext {
  /** The file is in the 2018 format. */
  legacy: boolean;
  /** Folder of the config file: relative paths resolve against it. */
  folder: string;
  env: Env;
  /** The key that fills a slot ("log.dir"), as the file's format names it ("loginfo.logdir_name"). */
  labelOf(slot: string): string;
  /** Reports a problem with the value being read; the value is shown unless showValue is false. */
  problem(message: string, showValue?: boolean): void;
  /** Some problem with this key was reported already (e.g. "set twice"). */
  reported(): boolean;
}

/** How an environment variable relates to a key. */
export interface EnvLink {
  name: string;
  /** 'override': the variable wins over the file. 'fallback': read only when the file has none (a rule decides). */
  mode: 'override' | 'fallback';
}

/** The facts of a row that every kind shares. Texts are Markdown (backticks); the .ini drops them. */
export interface KeyFacts {
  /** One line: what the key is for. */
  doc: string;
  /** Further sentences for the README and config.example.ini. */
  note?: string;
  /** The default as it would be written in the file; it is read like a value from the file. */
  default?: string;
  /** Says what applies when a key without a default is unset (e.g. "none", "SDK default (…)"). */
  defaultDoc?: string;
  required?: boolean;
  /** A value to show in config.example.ini and in "required, e.g. …". */
  example?: string;
  env?: EnvLink;
  /** The 2018 format's name for it, "section.key". */
  legacy?: string;
  /** Its value is never shown: not in messages, not in the docs. */
  secret?: boolean;
  /** Accepted values, for the docs; derived from min/max or the values when not given. */
  range?: string;
}

export interface KeyDef<T> extends KeyFacts {
  type: KeyType;
  range: string;
  /** The value, or undefined after reporting a problem through ctx. */
  read(text: string, ctx: ReadContext): T | undefined;
}

export type ValueOf<D> = D extends KeyDef<infer T> ? T : never;

export function integer(o: KeyFacts & { min: number; max: number }): KeyDef<number> {
  return {
    ...o,
    type: 'integer',
    range: o.range ?? `${o.min}–${o.max}`,
    read(text, ctx) {
      const n = /^\d+$/.test(text) ? Number(text) : NaN;
      if (n >= o.min && n <= o.max) return n;
      ctx.problem(`must be a whole number from ${o.min} to ${o.max}`);
      return undefined;
    },
  };
}

function mustParse(what: string, text: string, parse: (t: string) => number | undefined): number {
  const value = parse(text);
  if (value === undefined) throw new Error(`config key table: ${JSON.stringify(text)} is not a ${what}`);
  return value;
}

/** Milliseconds; min and max are written as in the file, e.g. "30s", "1d". */
export function duration(o: KeyFacts & { min: string; max: string }): KeyDef<number> {
  const min = mustParse('duration', o.min, parseDuration);
  const max = mustParse('duration', o.max, parseDuration);
  return {
    ...o,
    type: 'duration',
    range: o.range ?? `${o.min}–${o.max}`,
    read(text, ctx) {
      const ms = parseDuration(text);
      if (ms === undefined) ctx.problem('must be a duration like 30s, 5m, 2h or 7d (a plain number is seconds)');
      else if (ms < min || ms > max) ctx.problem(`must be from ${o.min} to ${o.max}`);
      else return ms;
      return undefined;
    },
  };
}

/** Bytes; "auto" and "0" read as 0 (the caller's automatic choice). */
export function size(o: KeyFacts & { min: string; max: string; why: string }): KeyDef<number> {
  const min = mustParse('size', o.min, parseSize);
  const max = mustParse('size', o.max, parseSize);
  return {
    ...o,
    type: 'size',
    range: o.range ?? `${o.min}–${o.max}, or \`auto\`/\`0\``,
    read(text, ctx) {
      if (/^(auto|0)$/i.test(text)) return 0;
      const bytes = parseSize(text);
      if (bytes === undefined) ctx.problem('must be auto or a size like 16MiB, 16M or 8388608 (bytes)');
      else if (bytes < min || bytes > max) ctx.problem(`must be from ${o.min} to ${o.max} (${o.why})`);
      else return bytes;
      return undefined;
    },
  };
}

/** Bytes per second; 0 (also "none", "off") = no cap. */
export function rate(o: KeyFacts & { min: string }): KeyDef<number> {
  const min = mustParse('rate', o.min, parseRate);
  return {
    ...o,
    type: 'rate',
    range: o.range ?? `rate, ≥ ${o.min}; \`0\`/\`none\`/\`off\``,
    read(text, ctx) {
      const value = parseRate(text);
      if (value === undefined) ctx.problem('must be 0 (no cap) or a rate like 50MB/s, 400Mbit/s or 20MiB/s');
      else if (value !== 0 && value < min) ctx.problem(`must be 0 (no cap) or at least ${o.min}`);
      else return value;
      return undefined;
    },
  };
}

/** One of a few values, matched whatever the case; the value read is the one listed. */
export function oneOf<V extends string>(o: KeyFacts & { values: readonly V[] }): KeyDef<V> {
  const listed = o.values.length === 2 ? o.values.join(' or ') : `one of ${o.values.join(', ')}`;
  return {
    ...o,
    type: 'enum',
    range:
      o.range ?? (o.values.length === 2 ? o.values.map((v) => `\`${v}\``).join(' / ') : o.values.map((v) => `\`${v}\``).join(', ')),
    read(text, ctx) {
      const value = o.values.find((v) => v.toLowerCase() === text.toLowerCase());
      if (value === undefined) ctx.problem(`must be ${listed}`);
      return value;
    },
  };
}

/**
 * Items separated by commas or blanks, duplicates dropped. `item` returns the item's value or a problem
 * (said without the whole value); `empty` is the problem when no item is given.
 */
export function list<T>(
  o: KeyFacts & { item(text: string, ctx: ReadContext): T | { problem: string }; empty(ctx: ReadContext): string },
): KeyDef<T[]> {
  return {
    ...o,
    type: 'list',
    range: o.range ?? 'comma/space list',
    read(text, ctx) {
      const items: T[] = [];
      let problems = 0;
      for (const part of text.split(/[\s,]+/).filter((s) => s !== '')) {
        const item = o.item(part, ctx);
        if (typeof item === 'object' && item !== null && 'problem' in item) {
          ctx.problem(item.problem, false);
          problems++;
        } else if (!items.includes(item)) items.push(item);
      }
      if (problems > 0) return undefined;
      if (items.length === 0) {
        // Said only when nothing else is wrong with the key, so one mistake gives one message.
        if (!ctx.reported()) ctx.problem(o.empty(ctx));
        return undefined;
      }
      return items;
    },
  };
}

/** Free text with a key-specific check; `check` returns the value or reports through ctx. */
export function string<T = string>(
  o: KeyFacts & { check?(text: string, ctx: ReadContext): T | undefined },
): KeyDef<T> {
  return {
    ...o,
    type: 'string',
    range: o.range ?? '',
    read: (text, ctx) => (o.check ? o.check(text, ctx) : (text as T)),
  };
}

/** An object-key template with {placeholders}; `check` reports what the placeholders must satisfy. */
export function template(o: KeyFacts & { check(text: string, ctx: ReadContext): string | undefined }): KeyDef<string> {
  return { ...o, type: 'template', range: o.range ?? 'template', read: (text, ctx) => o.check(text, ctx) };
}

/** A folder; relative to the config file's folder, "~/" is $HOME. */
export function path(o: KeyFacts): KeyDef<string> {
  return {
    ...o,
    type: 'path',
    range: o.range ?? 'path',
    read(text, ctx) {
      if (text === '~' || text.startsWith('~/')) {
        const home = ctx.env['HOME'];
        if (home === undefined || home === '') {
          ctx.problem('starts with ~ but HOME is not set; write an absolute path');
          return undefined;
        }
        return resolve(home, text.slice(2));
      }
      return resolve(ctx.folder, text);
    },
  };
}

/** The origin of an http(s) URL with no path; the value is not echoed (it may carry user info). */
export function endpoint(o: KeyFacts & { example: string }): KeyDef<string> {
  return {
    ...o,
    type: 'endpoint',
    range: o.range ?? '`http(s)://host[:port]`, no path',
    read(text, ctx) {
      const origin = parseEndpoint(text);
      if (origin === undefined) ctx.problem(`must be an http:// or https:// URL with no path, e.g. ${o.example}`, false);
      return origin;
    },
  };
}

/** A credential: checked only for presence by the rules, never shown. */
export function secret(o: KeyFacts): KeyDef<string> {
  return { ...o, secret: true, type: 'secret', range: o.range ?? '', read: (text) => text };
}

export { shown };
