// The one place that turns config sections into the run's ports: each source and destination section
// present in the config becomes its adapter. Everything else speaks only the ports.
import { hostname } from 'node:os';
import type { Dispatcher } from 'undici';
import { createCdbApi, type CdbApi } from './cdb/client.js';
import { createCosApi } from './cos/client.js';
import type { CredentialProvider } from './credentials/holder.js';
import { cosDestination } from './destinations/cos.js';
import type { Destination } from './destinations/destination.js';
import type { ProxyPolicy } from './net/proxy.js';
import { createLocalSource } from './sources/local/index.js';
import type { Source } from './sources/source.js';
import { createUrlsSource } from './sources/urls/index.js';
import type { Config, Credentials, Runtime } from './types.js';

export interface PortDeps extends Pick<Runtime, 'log' | 'signal' | 'now'> {
  /** Tencent Cloud credentials, resolved once and only when [cdb] or [cos] needs them. */
  tencentCredentials: () => Promise<Credentials | CredentialProvider>;
  dispatcher: Dispatcher;
  proxy: ProxyPolicy;
  timeoutMs: number;
  /** The listing calls' retry policy (URL probes). */
  retry: <T>(fn: () => Promise<T>) => Promise<T>;
}

export interface Ports {
  /** The CDB API for the [cdb] source (the run builds that source: it needs the run's own retry and tally). */
  cdb?: CdbApi | undefined;
  /** [cos]. */
  cos?: Destination | undefined;
  sources: Source[];
  destinations: Destination[];
}

export type SourceSection = 'cdb' | 'urls' | 'local';
export type DestinationSection = 'cos' | 's3';

/** The source and destination sections a config holds, in the order the run uses them. */
export function sectionsOf(config: Config): { sources: SourceSection[]; destinations: DestinationSection[] } {
  const sources: SourceSection[] = [];
  const destinations: DestinationSection[] = [];
  if (config.cdb) sources.push('cdb');
  if (config.urls) sources.push('urls');
  if (config.local) sources.push('local');
  if (config.cos) destinations.push('cos');
  if (config.s3) destinations.push('s3');
  return { sources, destinations };
}

export async function buildPorts(config: Config, deps: PortDeps): Promise<Ports> {
  const ports: Ports = { sources: [], destinations: [] };
  const { sources, destinations } = sectionsOf(config);
  const tc = sources.includes('cdb') || destinations.includes('cos') ? await deps.tencentCredentials() : undefined;
  const { timeoutMs, proxy } = deps;
  for (const section of sources) {
    switch (section) {
      case 'cdb':
        ports.cdb = createCdbApi({ credentials: tc!, region: config.cdb!.region, endpoint: config.cdb!.endpoint, timeoutMs, proxy });
        break;
      case 'urls':
        ports.sources.push(createUrlsSource(config.urls!, { dispatcher: deps.dispatcher, timeoutMs, retry: deps.retry, signal: deps.signal, log: deps.log }));
        break;
      case 'local':
        ports.sources.push(createLocalSource(config.local!, { now: deps.now, hostname: hostname(), log: deps.log }));
        break;
    }
  }
  for (const section of destinations) {
    switch (section) {
      case 'cos':
        ports.cos = cosDestination(createCosApi({ credentials: tc!, region: config.cos!.region, bucket: config.cos!.bucket, endpoint: config.cos!.endpoint, timeoutMs, proxy }), config.cos!);
        break;
      case 's3':
        // The SDK's one-time "Node.js version support" notice would reach cron's mail on every run under Node 20.
        process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
        {
          // Loaded only for a config with [s3]: the AWS SDK is some 10 MiB of modules a COS-only run never needs.
          const { createS3Destination } = await import('./destinations/s3/index.js');
          ports.destinations.push(createS3Destination(config.s3!, { timeoutMs, proxy }));
        }
        break;
    }
  }
  return ports;
}
