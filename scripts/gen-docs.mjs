// npm run docs: writes the README's configuration key table (between its config-table markers) and
// config.example.ini from the key table in src/config/keys.ts. Run after a build (npm run docs does).
import { readFile, writeFile } from 'node:fs/promises';
import { renderExampleIni, withKeyTable } from '../dist/src/config/docs.js';

const root = new URL('../', import.meta.url);
const readmeUrl = new URL('README.md', root);
const readme = await readFile(readmeUrl, 'utf8');
const updated = withKeyTable(readme);
if (updated === undefined) {
  console.error('README.md: the config-table:start / config-table:end markers are missing');
  process.exitCode = 1;
} else {
  await writeFile(readmeUrl, updated);
  await writeFile(new URL('config.example.ini', root), renderExampleIni());
  console.log('wrote README.md (configuration key table) and config.example.ini');
}
