// The credentials every command uses: the chain (chain.ts) run once per process, the winner logged without
// its keys, and temporary keys handed to the clients as a provider that renews them in time.
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { errInfo } from '../errors.js';
import type { Config, Credentials } from '../types.js';
import { resolveCredentials } from './chain.js';
import type { CredentialProvider } from './holder.js';
import { DEFAULT_STS_ENDPOINT } from './sts.js';

/**
 * Runs the credentials chain (src/credentials/chain.ts) and logs which link won, never the keys. Keys that
 * never expire go to the clients as they are; temporary ones as a provider that renews them in time.
 */
export async function resolveRunCredentials(config: Config, dispatcher: Dispatcher, timeoutMs: number, log: Logger): Promise<Credentials | CredentialProvider> {
  const chain = config.credentialChain;
  const resolved = await resolveCredentials(
    {
      fileKeys: chain.fileKeys,
      profile: chain.profile,
      roleArn: chain.roleArn,
      roleSessionName: chain.roleSessionName,
      stsEndpoint: chain.stsEndpoint ?? DEFAULT_STS_ENDPOINT,
      region: config.cdb?.region ?? config.cos?.region ?? 'ap-guangzhou',
    },
    {
      env: process.env,
      now: () => Date.now(),
      stsDispatcher: dispatcher,
      timeoutMs: Math.min(timeoutMs, 30_000),
      onRefresh: (i) => log.info({ source: i.source, assumedRole: i.assumedRole, expiresAt: i.expiresAt === undefined ? undefined : new Date(i.expiresAt).toISOString() }, 'credentials refreshed'),
      onRefreshFailed: (i) => log.warn({ source: i.source, err: errInfo(i.err) }, 'credentials refresh failed'),
    },
  );
  const expiresAt = resolved.expiresAt === undefined ? undefined : new Date(resolved.expiresAt).toISOString();
  log.info({ source: resolved.source, assumedRole: resolved.assumedRole, temporary: expiresAt !== undefined, expiresAt, skipped: resolved.skipped }, 'credentials resolved');
  if (resolved.expiresAt !== undefined) return resolved.provider;
  const k = await resolved.provider.get();
  return { secretId: k.secretId, secretKey: k.secretKey, ...(k.token ? { token: k.token } : {}) };
}
