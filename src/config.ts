// The config module lives in src/config/: the key table (keys.ts), the file scanner (ini.ts), the reader
// (read.ts) and the cross-key rules (rules.ts). This file keeps the import path the rest of the code uses.
export { parseConfig, readConfig, type ParseContext } from './config/read.js';
export { parseDuration, parseRate, parseSize } from './config/units.js';
