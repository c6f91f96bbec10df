// Value parsers and helpers shared by the key table and the reader: pure, no I/O.

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;
const SECOND = 1000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

// ---------------------------------------------------------------------------------------------------
// Suggestions for typos.

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    // The distance is at least the difference in length: skip what cannot be a near miss.
    if (Math.abs(c.length - name.length) > 2) continue;
    const d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= 2 && bestDistance < name.length / 2 ? best : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Value parsers: each returns undefined when the text does not parse.

const SIZE_UNITS = new Map<string, number>([
  ['', 1],
  ['b', 1],
  ['k', 1024],
  ['kib', 1024],
  ['kb', 1000],
  ['m', MIB],
  ['mib', MIB],
  ['mb', 1000 ** 2],
  ['g', GIB],
  ['gib', GIB],
  ['gb', 1000 ** 3],
]);

/** "16MiB", "16M" (powers of 1024), "16MB" (powers of 1000), "8388608" (bytes). */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? SIZE_UNITS.get((m[2] ?? '').toLowerCase()) : undefined;
  if (!m || unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

// Case matters here: "Mbit"/"Mbps" are bits, "MB" bytes; "Mb" is ambiguous and refused.
const RATE_UNITS = new Map<string, number>([
  ['', 1],
  ['B', 1],
  ['K', 1024],
  ['k', 1024],
  ['KiB', 1024],
  ['KB', 1000],
  ['kB', 1000],
  ['M', MIB],
  ['MiB', MIB],
  ['MB', 1000 ** 2],
  ['G', GIB],
  ['GiB', GIB],
  ['GB', 1000 ** 3],
  ['bit', 1 / 8],
  ['bps', 1 / 8],
  ['kbit', 1000 / 8],
  ['Kbit', 1000 / 8],
  ['kbps', 1000 / 8],
  ['Kbps', 1000 / 8],
  ['Mbit', 1000 ** 2 / 8],
  ['Mbps', 1000 ** 2 / 8],
  ['Gbit', 1000 ** 3 / 8],
  ['Gbps', 1000 ** 3 / 8],
]);

/** Bytes per second: "50MB/s", "400Mbit/s", "10MiB", "1048576"; 0, "none" or "off" = no cap. */
export function parseRate(text: string): number | undefined {
  const t = text.trim();
  if (/^(none|off|0)$/i.test(t)) return 0;
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)(?:\/s)?$/.exec(t);
  const unit = m ? RATE_UNITS.get(m[2] ?? '') : undefined;
  if (!m || unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

const DURATION_UNITS = new Map<string, number>([
  ['ms', 1],
  ['s', SECOND],
  ['m', 60 * SECOND],
  ['h', HOUR],
  ['d', DAY],
]);

/** Milliseconds: "30s", "5m", "1h30m", "7d", "250ms"; a plain number is seconds. */
export function parseDuration(text: string): number | undefined {
  const t = text.replace(/\s+/g, '').toLowerCase();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * SECOND);
  if (t === '') return undefined;
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  while (part.lastIndex < t.length) {
    const m = part.exec(t);
    if (!m) return undefined;
    total += Number(m[1]) * (DURATION_UNITS.get(m[2] ?? '') ?? NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** The origin of an http(s) URL with no path, query, fragment or user info; else undefined. */
export function parseEndpoint(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.hostname === '' || url.username !== '' || url.password !== '') return undefined;
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || /[?#]/.test(text)) return undefined;
  return url.origin;
}

export function isLoopback(origin: string): boolean {
  const host = new URL(origin).hostname;
  return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}

/** A value quoted for a message, cut short. Never used on credentials. */
export function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
}

