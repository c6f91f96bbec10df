// The key table itself: every row complete and consistent, and a section that is not always in use
// read only when the file has it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpoint, integer, type KeyDef, type ReadContext } from '../../src/config/key-types.js';
import { KEYS, LEGACY_SECTIONS, SECTIONS, sectionOf } from '../../src/config/keys.js';
import { readFile, TABLE, type Table } from '../../src/config/read.js';

const TYPES = ['string', 'integer', 'size', 'rate', 'duration', 'enum', 'list', 'path', 'endpoint', 'template', 'secret'];
const ROWS = Object.entries(KEYS as Record<string, KeyDef<unknown>>);

test('every key has a known type, a description, and a default, a "required" or a word on what applies', () => {
  for (const [slot, def] of ROWS) {
    assert.ok(TYPES.includes(def.type), `${slot}: type ${def.type}`);
    assert.ok(def.doc.length > 0 && !def.doc.includes('\n'), `${slot}: one-line doc`);
    assert.ok(SECTIONS.some((s) => s.name === sectionOf(slot)), `${slot}: section declared`);
    const says = [def.default !== undefined, def.required === true, def.defaultDoc !== undefined && def.default === undefined];
    assert.equal(says.filter(Boolean).length, 1, `${slot}: exactly one of default, required, defaultDoc-only`);
    if (def.required) assert.ok(def.example, `${slot}: a required key needs an example`);
    if (def.secret) assert.equal(def.default, undefined, `${slot}: a secret has no default`);
  }
});

test('2018 names and environment variables name one key each, in sections of that format', () => {
  const legacy = ROWS.flatMap(([, d]) => (d.legacy === undefined ? [] : [d.legacy]));
  assert.equal(new Set(legacy).size, legacy.length);
  for (const name of legacy) assert.ok(LEGACY_SECTIONS.includes(sectionOf(name)), name);
  const env = ROWS.flatMap(([, d]) => (d.env === undefined ? [] : [d.env.name]));
  assert.equal(new Set(env).size, env.length);
});

test('every default is accepted by its own key', () => {
  for (const [slot, def] of ROWS) {
    if (def.default === undefined) continue;
    const problems: string[] = [];
    const ctx: ReadContext = {
      legacy: false,
      folder: '/etc/cdb2cos',
      env: {},
      labelOf: (s) => s,
      problem: (m) => problems.push(m),
      reported: () => false,
    };
    def.read(def.default, ctx);
    assert.deepEqual(problems, [], slot);
  }
});

const MINIMAL = `
[cdb]
region = ap-shanghai
instances = cdb-aaaa1111
[cos]
region = ap-guangzhou
bucket = backup-1250000000
`;

// A section as a later issue would add one (not one of the real sections): read only when the file has it.
const WITH_ALERTS: Table = {
  ...TABLE,
  sections: [...TABLE.sections, { name: 'alerts', use: 'present' }],
  keys: {
    ...TABLE.keys,
    'alerts.url': endpoint({ doc: 'Where to send a summary.', required: true, example: 'https://hooks.example.com' }),
    'alerts.retries': integer({ doc: 'Attempts.', default: '3', min: 0, max: 10 }),
  },
};
const read = (text: string): ReturnType<typeof readFile> => readFile(WITH_ALERTS, text, { path: '/etc/c.ini', env: {} });

test("a section used only when present is not validated, and has no values, when the file lacks it", () => {
  const r = read(MINIMAL);
  assert.deepEqual(r.problems.list(), []);
  assert.equal(r.values['alerts.retries'], undefined);
  assert.equal(r.values['transfer.parallel_items'], 4);
});

test('a section used only when present is read against its keys when the file has it', () => {
  assert.deepEqual(read(MINIMAL + '[alerts]\n').problems.list(), ['alerts.url: required, e.g. https://hooks.example.com']);
  assert.deepEqual(read(MINIMAL + '[alerts]\nurl = https://hooks.example.com/x\nretries = 11\nretires = 2\n').problems.list(), [
    'alerts.retires: unknown key; did you mean retries?',
    'alerts.url: must be an http:// or https:// URL with no path, e.g. https://hooks.example.com',
    'alerts.retries: must be a whole number from 0 to 10 (got "11")',
  ]);
  const ok = read(MINIMAL + '[alerts]\nurl = https://hooks.example.com\n');
  assert.deepEqual(ok.problems.list(), []);
  assert.equal(ok.values['alerts.url'], 'https://hooks.example.com');
  assert.equal(ok.values['alerts.retries'], 3);
  // And it is a known section for the hints.
  assert.match(read(MINIMAL + '[alert]\n').problems.list()[0] ?? '', /^\[alert\]: unknown section; did you mean \[alerts\]\? \(known: .*\[alerts\]\)$/);
});
