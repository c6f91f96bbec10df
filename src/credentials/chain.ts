// The credentials chain: config keys → environment → profile file → CVM role → TKE OIDC, the first link
// that yields keys wins; then, optionally, a CAM role assumed on top (STS AssumeRole).
//
// Ours rather than the SDK's DefaultCredentialProvider (tencentcloud-sdk-nodejs 4.1.313), which
// console.error()s every provider that fails (a cron mail per run on a host without a CVM role), has no
// config-file link, cannot name the link that won, and whose CVM link fetches the metadata service with
// no timeout and through $http_proxy (a proxy cannot reach the link-local metadata address: the run would
// hang or fail on any host with a proxy set).
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { Cdb2cosError } from '../errors.js';
import type { Credentials } from '../types.js';
import { CredentialHolder, type CredentialSource, type KeyPair } from './holder.js';
import { callSts, type StsOptions } from './sts.js';

export const DEFAULT_METADATA_ENDPOINT = 'http://metadata.tencentyun.com';
export const METADATA_ENV = 'CDB2COS_METADATA_ENDPOINT';
const ROLE_PATH = '/latest/meta-data/cam/security-credentials/';
/** Connecting to the metadata service: off a CVM the name does not resolve or nothing answers. */
export const METADATA_CONNECT_TIMEOUT_MS = 1000;
export const METADATA_TOTAL_TIMEOUT_MS = 2000;

/** The environment variables each link reads; the first name of each group is the canonical one. */
export const ENV_NAMES = {
  secretId: ['TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRETID'],
  secretKey: ['TENCENTCLOUD_SECRET_KEY', 'TENCENTCLOUD_SECRETKEY'],
  token: ['TENCENTCLOUD_SESSION_TOKEN', 'TENCENTCLOUD_SESSIONTOKEN', 'TENCENTCLOUD_TOKEN'],
  tke: ['TKE_REGION', 'TKE_PROVIDER_ID', 'TKE_WEB_IDENTITY_TOKEN_FILE', 'TKE_ROLE_ARN'],
} as const;

export type Env = Record<string, string | undefined>;

export interface ChainSettings {
  /** secret_id / secret_key / token from the config file (not from the environment). */
  fileKeys: Credentials | undefined;
  /** [credentials] profile; undefined = "default". */
  profile: string | undefined;
  roleArn: string | undefined;
  roleSessionName: string;
  /** The STS endpoint (CDB2COS_STS_ENDPOINT already applied). */
  stsEndpoint: string;
  /** Region sent to STS for AssumeRole. */
  region: string;
}

export interface ChainDeps {
  env: Env;
  now: () => number;
  /** Reaches STS (through the proxy policy). The metadata service is always reached directly. */
  stsDispatcher: Dispatcher;
  timeoutMs: number;
  readText?: (path: string) => Promise<string>;
  home?: string;
  onRefresh?: (info: { source: CredentialSource; assumedRole: boolean; expiresAt: number | undefined }) => void;
  onRefreshFailed?: (info: { source: CredentialSource; err: unknown }) => void;
}

export interface ResolvedCredentials {
  source: CredentialSource;
  /** The role assumed on top of the source's keys (role_arn), if any. */
  assumedRole: boolean;
  provider: CredentialHolder;
  /** Links tried before the winner, with why each gave nothing. */
  skipped: Array<{ source: CredentialSource; reason: string }>;
  expiresAt: number | undefined;
}

type LinkResult = { keys: KeyPair; refresh?: () => Promise<KeyPair> } | { skip: string };
type Link = { source: CredentialSource; run(): Promise<LinkResult> };

const envValue = (env: Env, name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
const firstOf = (env: Env, names: readonly string[]): { name: string; value: string } | undefined => {
  for (const name of names) {
    const value = envValue(env, name);
    if (value !== undefined) return { name, value };
  }
  return undefined;
};

export function configLink(fileKeys: Credentials | undefined): Link {
  return {
    source: 'config',
    run: async () => (fileKeys ? { keys: { ...fileKeys } } : { skip: 'no secret_id / secret_key in the config file' }),
  };
}

export function envLink(env: Env): Link {
  return {
    source: 'environment',
    async run() {
      const id = firstOf(env, ENV_NAMES.secretId);
      const key = firstOf(env, ENV_NAMES.secretKey);
      const token = firstOf(env, ENV_NAMES.token);
      if (id === undefined && key === undefined) return { skip: `${ENV_NAMES.secretId[0]} / ${ENV_NAMES.secretKey[0]} not set` };
      if (id === undefined || key === undefined) {
        throw new Cdb2cosError('ERR_CONFIG', `credentials: env ${id === undefined ? ENV_NAMES.secretId[0] : ENV_NAMES.secretKey[0]} is required when ${(id ?? key)!.name} is set`);
      }
      return { keys: { secretId: id.value, secretKey: key.value, ...(token ? { token: token.value } : {}) } };
    },
  };
}

/** Reads one section of the SDK's profile file (INI: `[name]`, `key = value`, `#`/`;` comments). */
export function parseProfile(text: string, profile: string): Record<string, string> | undefined {
  let section: string | undefined;
  let found: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (head) {
      section = head[1];
      if (section === profile) found ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`line "${line.slice(0, 40).replace(/=.*/, '')}" is not key = value`);
    if (section === profile && found) found[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return found;
}

export function profileLink(profile: string | undefined, home: string, read: (path: string) => Promise<string>): Link {
  const name = profile ?? 'default';
  const file = join(home, '.tencentcloud', 'credentials');
  return {
    source: 'profile',
    async run() {
      let text: string;
      try {
        text = await read(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? String(err);
        // No file is the ordinary case; a named profile that cannot be found is a mistake.
        if ((code === 'ENOENT' || code === 'ENOTDIR') && profile === undefined) return { skip: `${file} does not exist` };
        throw new Cdb2cosError('ERR_CONFIG', `credentials.profile: cannot read ${file}: ${code}`, { cause: err });
      }
      let section: Record<string, string> | undefined;
      try {
        section = parseProfile(text, name);
      } catch (err) {
        throw new Cdb2cosError('ERR_CONFIG', `credentials: ${file}: ${(err as Error).message}`);
      }
      if (section === undefined) {
        if (profile === undefined) return { skip: `${file} has no [default] profile` };
        throw new Cdb2cosError('ERR_CONFIG', `credentials.profile: ${file} has no [${name}] profile`);
      }
      const id = section['secret_id'];
      const key = section['secret_key'];
      if (!id || !key) throw new Cdb2cosError('ERR_CONFIG', `credentials: ${file} [${name}]: needs secret_id and secret_key`);
      return { keys: { secretId: id, secretKey: key, ...(section['token'] ? { token: section['token'] } : {}) } };
    },
  };
}

/** The metadata service's base URL, or undefined when the link must not run (tests without an emulator). */
export function metadataBase(env: Env): string | undefined {
  const given = envValue(env, METADATA_ENV);
  if (given !== undefined) return given.replace(/\/+$/, '');
  // Tests (scripts/run-tests.mjs sets CDB2COS_TEST=1) never reach the real metadata address.
  if (envValue(env, 'CDB2COS_TEST') === '1') return undefined;
  return DEFAULT_METADATA_ENDPOINT;
}

class Unreachable extends Error {}

async function getMetadata(agent: Dispatcher, url: string): Promise<{ status: number; text: string }> {
  try {
    const res = await request(url, { dispatcher: agent, headersTimeout: METADATA_TOTAL_TIMEOUT_MS, bodyTimeout: METADATA_TOTAL_TIMEOUT_MS, signal: AbortSignal.timeout(METADATA_TOTAL_TIMEOUT_MS), reset: true });
    return { status: res.statusCode, text: await res.body.text() };
  } catch (err) {
    const e = err as Error & { code?: unknown };
    // AbortSignal.timeout's DOMException has the numeric code 23: name it.
    throw new Unreachable(e.name === 'TimeoutError' ? 'timed out' : typeof e.code === 'string' ? e.code : e.name);
  }
}

/** The CVM's CAM role, from the instance metadata service (never through a proxy, 1 s / 2 s timeouts). */
export function cvmRoleLink(env: Env): Link {
  return {
    source: 'cvm-role',
    async run() {
      const base = metadataBase(env);
      if (base === undefined) return { skip: `CDB2COS_TEST=1 and no ${METADATA_ENV}` };
      const agent = new Agent({ connect: { timeout: METADATA_CONNECT_TIMEOUT_MS } });
      let role: string;
      try {
        const listing = await getMetadata(agent, base + ROLE_PATH);
        if (listing.status === 404) return { skip: 'no CAM role is bound to this CVM' };
        if (listing.status !== 200) return { skip: `the metadata service answered HTTP ${listing.status}` };
        role = listing.text.split('\n')[0]!.trim();
        if (role === '' || /[/\s]/.test(role)) return { skip: 'the metadata service names no role' };
      } catch (err) {
        // destroy, not close: close() waits for the request a silent service never answers.
        await agent.destroy();
        if (err instanceof Unreachable) return { skip: `no instance metadata service at ${new URL(base).host} (${err.message}): not on a CVM` };
        throw err;
      }
      const fetchKeys = async (): Promise<KeyPair> => {
        let reply: { status: number; text: string };
        try {
          reply = await getMetadata(agent, base + ROLE_PATH + encodeURIComponent(role));
        } catch (err) {
          throw new Cdb2cosError('ERR_AUTH', `credentials: CVM role ${role}: the metadata service is unreachable (${(err as Error).message})`, { retryable: true });
        }
        if (reply.status !== 200) throw new Cdb2cosError('ERR_AUTH', `credentials: CVM role ${role}: the metadata service answered HTTP ${reply.status}`);
        let j: Record<string, unknown>;
        try {
          j = JSON.parse(reply.text) as Record<string, unknown>;
        } catch {
          throw new Cdb2cosError('ERR_AUTH', `credentials: CVM role ${role}: the metadata reply is not JSON`);
        }
        const exp = Number(j['ExpiredTime']);
        if (j['Code'] !== 'Success' || typeof j['TmpSecretId'] !== 'string' || typeof j['TmpSecretKey'] !== 'string' || typeof j['Token'] !== 'string' || !Number.isSafeInteger(exp)) {
          throw new Cdb2cosError('ERR_AUTH', `credentials: CVM role ${role}: the metadata reply has no keys (Code ${typeof j['Code'] === 'string' ? j['Code'].slice(0, 40) : '?'})`);
        }
        return { secretId: j['TmpSecretId'], secretKey: j['TmpSecretKey'], token: j['Token'], expiresAt: exp * 1000 };
      };
      return { keys: await fetchKeys(), refresh: fetchKeys };
    },
  };
}

/** TKE's OIDC identity: the pod's web identity token exchanged at STS (AssumeRoleWithWebIdentity). */
export function tkeOidcLink(env: Env, settings: ChainSettings, sts: Omit<StsOptions, 'region'>, read: (path: string) => Promise<string>): Link {
  return {
    source: 'tke-oidc',
    async run() {
      const vars = ENV_NAMES.tke.map((n) => [n, envValue(env, n)] as const);
      const missing = vars.filter(([, v]) => v === undefined).map(([n]) => n);
      if (missing.length === vars.length) return { skip: 'TKE_* not set' };
      if (missing.length > 0) throw new Cdb2cosError('ERR_CONFIG', `credentials: TKE OIDC: ${missing.join(', ')} not set (the others are)`);
      const [region, providerId, tokenFile, roleArn] = vars.map(([, v]) => v!) as [string, string, string, string];
      const fetchKeys = async (): Promise<KeyPair> => {
        let token: string;
        try {
          // Re-read each time: TKE rotates the projected token.
          token = (await read(tokenFile)).trim();
        } catch (err) {
          throw new Cdb2cosError('ERR_CONFIG', `credentials: TKE_WEB_IDENTITY_TOKEN_FILE ${tokenFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
        return callSts('AssumeRoleWithWebIdentity', { ProviderId: providerId, WebIdentityToken: token, RoleArn: roleArn, RoleSessionName: sessionName(settings, sts.now) }, undefined, { ...sts, region });
      };
      return { keys: await fetchKeys(), refresh: fetchKeys };
    },
  };
}

function sessionName(settings: ChainSettings, now: () => number): string {
  return `${settings.roleSessionName}-${Math.floor(now() / 1000)}`.slice(0, 64);
}

/** Tries each link in order; throws ERR_CONFIG naming every link when none yields keys. */
export async function resolveCredentials(settings: ChainSettings, deps: ChainDeps): Promise<ResolvedCredentials> {
  const read = deps.readText ?? ((p: string) => readFile(p, 'utf8'));
  const home = deps.home ?? envValue(deps.env, 'HOME') ?? homedir();
  const sts = { endpoint: settings.stsEndpoint, dispatcher: deps.stsDispatcher, timeoutMs: deps.timeoutMs, now: deps.now };
  const links: Link[] = [configLink(settings.fileKeys), envLink(deps.env), profileLink(settings.profile, home, read), cvmRoleLink(deps.env), tkeOidcLink(deps.env, settings, sts, read)];
  const skipped: ResolvedCredentials['skipped'] = [];
  for (const link of links) {
    const r = await link.run();
    if ('skip' in r) {
      skipped.push({ source: link.source, reason: r.skip });
      continue;
    }
    const base = new CredentialHolder(r.keys, r.refresh, {
      now: deps.now,
      onRefresh: ({ expiresAt }) => deps.onRefresh?.({ source: link.source, assumedRole: false, expiresAt }),
      onRefreshFailed: (err) => deps.onRefreshFailed?.({ source: link.source, err }),
    });
    if (settings.roleArn === undefined) return { source: link.source, assumedRole: false, provider: base, skipped, expiresAt: r.keys.expiresAt };
    const roleArn = settings.roleArn;
    const assume = async (): Promise<KeyPair> =>
      callSts('AssumeRole', { RoleArn: roleArn, RoleSessionName: sessionName(settings, deps.now) }, await base.get(), { ...sts, region: settings.region });
    const first = await assume();
    const assumed = new CredentialHolder(first, assume, {
      now: deps.now,
      onRefresh: ({ expiresAt }) => deps.onRefresh?.({ source: link.source, assumedRole: true, expiresAt }),
      onRefreshFailed: (err) => deps.onRefreshFailed?.({ source: link.source, err }),
    });
    return { source: link.source, assumedRole: true, provider: assumed, skipped, expiresAt: first.expiresAt };
  }
  throw new Cdb2cosError('ERR_CONFIG', `credentials: none found: ${skipped.map((s) => `${s.source}: ${s.reason}`).join('; ')}`);
}
