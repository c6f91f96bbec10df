// Runs the emulator without the CLI: node packages/emulator/dist/src/main.js [--port N] [--data-dir D] [--rate BYTES_PER_S]
import { parseArgs } from 'node:util';
import { runEmulatorCommand } from './command.js';

const { values } = parseArgs({
  options: { port: { type: 'string' }, 'data-dir': { type: 'string' }, rate: { type: 'string' } },
  strict: true,
});
const num = (v: string | undefined, what: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${what} must be a whole number ≥ 0: ${v}`);
  return n;
};

try {
  const port = num(values.port, 'port');
  const rate = num(values.rate, 'rate');
  await runEmulatorCommand({
    ...(port !== undefined ? { port } : {}),
    ...(values['data-dir'] !== undefined ? { dataDir: values['data-dir'] } : {}),
    ...(rate !== undefined ? { rate } : {}),
  });
} catch (err) {
  process.stderr.write(`cdb2cos emulator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
