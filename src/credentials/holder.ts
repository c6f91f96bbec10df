// Keys that may expire, held for the clients: refreshed well before their expiry, one refresh at a time.
import { Cdb2cosError } from '../errors.js';

/** A key pair as a link of the chain yields it. Temporary ones carry a token and their expiry. */
export interface KeyPair {
  secretId: string;
  secretKey: string;
  token?: string | undefined;
  /** ms since the epoch; undefined = does not expire (a CAM API key). */
  expiresAt?: number | undefined;
}

/** Where the keys came from: the log's `source`. */
export type CredentialSource = 'config' | 'environment' | 'profile' | 'cvm-role' | 'tke-oidc';

export const MIN_REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * How long before expiry a temporary key is replaced: 5 min or a fifth of its lifetime, whichever is
 * larger, but never more than half its lifetime (a 20 s test token is refreshed after 10 s, not on every
 * call). The SDK's providers wait until 0.6 s (OIDC) or 30 s (CVM, STS) before expiry: a part upload
 * signed then would reach COS with a dead token.
 */
export function refreshMarginMs(lifetimeMs: number): number {
  return Math.min(Math.max(MIN_REFRESH_MARGIN_MS, lifetimeMs / 5), lifetimeMs / 2);
}

export interface HolderOptions {
  now: () => number;
  /** Told of each refresh (never the keys). */
  onRefresh?: (info: { expiresAt: number | undefined }) => void;
  /** Told when a refresh failed while the current keys are still valid. */
  onRefreshFailed?: (err: unknown) => void;
}

/** What the CDB and COS clients ask for keys; `get` refreshes when due. */
export interface CredentialProvider {
  get(): Promise<KeyPair>;
}

export class CredentialHolder implements CredentialProvider {
  #current: KeyPair;
  #obtainedAt: number;
  #refreshing: Promise<KeyPair> | undefined;
  /** No new attempt before this time: a source that hands back the same keys is not asked on every request. */
  #nextTryAt = 0;

  constructor(
    first: KeyPair,
    private readonly fetchKeys: (() => Promise<KeyPair>) | undefined,
    private readonly opts: HolderOptions,
  ) {
    this.#current = first;
    this.#obtainedAt = opts.now();
  }

  /** The current keys, refreshed first when they are within the margin of their expiry. */
  async get(): Promise<KeyPair> {
    const cur = this.#current;
    if (cur.expiresAt === undefined || this.fetchKeys === undefined) return cur;
    const now = this.opts.now();
    const margin = refreshMarginMs(Math.max(0, cur.expiresAt - this.#obtainedAt));
    if (now < cur.expiresAt - margin) return cur;
    if (this.#refreshing === undefined && now < this.#nextTryAt && now < cur.expiresAt - 1000) return cur;
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    try {
      return await this.#refreshing;
    } catch (err) {
      // Keys that still work are better than none: the next call tries again.
      if (this.opts.now() < cur.expiresAt - 1000) {
        this.opts.onRefreshFailed?.(err);
        return cur;
      }
      throw err instanceof Cdb2cosError ? err : new Cdb2cosError('ERR_AUTH', `credentials: the temporary keys expired and could not be renewed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  async #refresh(): Promise<KeyPair> {
    const started = this.opts.now();
    const cur = this.#current;
    // At most one attempt per second for a 20 s key, per 10 s for keys of an hour or more.
    this.#nextTryAt = started + Math.min(10_000, refreshMarginMs(Math.max(0, (cur.expiresAt ?? started) - this.#obtainedAt)) / 10);
    const next = await this.fetchKeys!();
    this.#current = next;
    this.#obtainedAt = this.opts.now();
    this.opts.onRefresh?.({ expiresAt: next.expiresAt });
    return next;
  }
}
