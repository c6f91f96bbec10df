// The README's key table and config.example.ini are generated from the key table (`npm run docs`):
// these fail when a committed file differs from what the table gives, so the three cannot drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { renderExampleIni, renderKeyTable, TABLE_END, TABLE_START, withKeyTable } from '../../src/config/docs.js';
import { KEYS } from '../../src/config/keys.js';

const read = (name: string): Promise<string> => readFile(new URL(`../../../${name}`, import.meta.url), 'utf8');
const STALE = 'out of date with src/config/keys.ts: run `npm run docs` and commit the result';

test("the README's configuration table is the one the key table generates", async () => {
  const readme = await read('README.md');
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  assert.ok(start >= 0 && end > start, 'README.md lacks the config-table markers');
  assert.equal(readme.slice(start + TABLE_START.length, end).trim(), renderKeyTable(), `README.md ${STALE}`);
  assert.equal(withKeyTable(readme), readme);
});

test('config.example.ini is the one the key table generates', async () => {
  assert.equal(await read('config.example.ini'), renderExampleIni(), `config.example.ini ${STALE}`);
});

test('the generated table and example name every key once per section', () => {
  const table = renderKeyTable();
  const ini = renderExampleIni();
  for (const slot of Object.keys(KEYS)) {
    const name = slot.slice(slot.indexOf('.') + 1);
    assert.ok(table.includes(`| \`${name}\` |`), slot);
    assert.match(ini, new RegExp(`^(; )?${name} = `, 'm'), slot);
  }
});
