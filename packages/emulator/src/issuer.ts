// Temporary keys for the emulator's metadata and STS servers: random, with a short configurable lifetime,
// accepted by the CDB API and COS (each request must carry the token) until they expire, refused after.
import { randomBytes } from 'node:crypto';

export interface IssuedCredential {
  secretId: string;
  secretKey: string;
  token: string;
  /** ms since the epoch */
  expiresAt: number;
  /** Who asked for it: "metadata:<role>", "AssumeRole:<arn>", "AssumeRoleWithWebIdentity:<arn>". */
  via: string;
}

export class CredentialIssuer {
  /** Lifetime of each new key, in ms; tests shorten it to see keys expire mid-run. */
  ttlMs: number;
  readonly issued: IssuedCredential[] = [];

  constructor(
    private readonly accept: (c: IssuedCredential) => void,
    private readonly now: () => number,
    ttlMs: number,
  ) {
    this.ttlMs = ttlMs;
  }

  issue(via: string, ttlMs = this.ttlMs): IssuedCredential {
    const c: IssuedCredential = {
      secretId: `AKIDtmp${randomBytes(14).toString('hex')}`,
      secretKey: randomBytes(20).toString('base64url'),
      token: randomBytes(48).toString('base64url'),
      // Whole seconds, as the services report ExpiredTime.
      expiresAt: Math.floor((this.now() + ttlMs) / 1000) * 1000,
      via,
    };
    this.issued.push(c);
    this.accept(c);
    return c;
  }

  /** The issued keys as the control API shows them: never the secret key or token. */
  describe(): object[] {
    return this.issued.map((c) => ({ secretId: c.secretId, expiresAt: new Date(c.expiresAt).toISOString(), via: c.via }));
  }
}
