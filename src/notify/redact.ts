// Webhook and ping URLs carry their secret in the URL itself: WeCom's `?key=`, DingTalk's
// `?access_token=`, Slack's `/services/T…/B…/<secret>`, healthchecks.io's `/<uuid>` or `/<ping-key>/<slug>`,
// Uptime Kuma's `/api/push/<token>`, basic-auth user:password. Rather than guess which part is secret,
// keep only what cannot be: scheme, host, port, query parameter names, and path words from a short
// list of fixed route names. Everything else becomes <redacted>.

/** Path segments that are route names of the services above (or of this tool's pings), never secrets. */
const ROUTE_WORDS = new Set([
  'api',
  'cgi-bin',
  'webhook',
  'webhooks',
  'hooks',
  'send',
  'robot',
  'services',
  'push',
  'ping',
  'start',
  'fail',
  'metrics',
  'job',
  'v1',
  'v2',
]);

/** The URL with every part that may be a secret replaced by <redacted>; '<invalid url>' if it is not one. */
export function redactWebhookUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return '<invalid url>';
  }
  const auth = u.username !== '' || u.password !== '' ? '<redacted>@' : '';
  const path = u.pathname
    .split('/')
    .map((seg) => (seg === '' || ROUTE_WORDS.has(seg.toLowerCase()) ? seg : '<redacted>'))
    .join('/');
  const names = [...new Set([...u.searchParams.keys()])];
  const query = names.length > 0 ? '?' + names.map((n) => `${encodeURIComponent(n)}=<redacted>`).join('&') : u.search !== '' ? '?<redacted>' : '';
  return `${u.protocol}//${auth}${u.host}${path}${query}`;
}

/** The parts of a URL that redactWebhookUrl hides: path segments, query values, user and password. */
function secretParts(u: URL): string[] {
  const parts = u.pathname.split('/').filter((seg) => seg !== '' && !ROUTE_WORDS.has(seg.toLowerCase()));
  parts.push(...u.searchParams.values(), decodeURIComponent(u.username), decodeURIComponent(u.password));
  // Encoded and decoded forms both, longest first so a part never leaves a tail of a longer one behind.
  const all = parts.flatMap((p) => [p, encodeURIComponent(p)]).filter((p) => p.length >= 4);
  return [...new Set(all)].sort((a, b) => b.length - a.length);
}

/** A message about a request to rawUrl with the URL, and each secret part of it, replaced. */
export function redactIn(text: string, rawUrl: string): string {
  const safe = redactWebhookUrl(rawUrl);
  let out = text.split(rawUrl).join(safe);
  let u: URL;
  try {
    u = new URL(rawUrl);
  } catch {
    return out;
  }
  out = out.split(u.href).join(safe);
  for (const part of secretParts(u)) out = out.split(part).join('<redacted>');
  return out;
}
