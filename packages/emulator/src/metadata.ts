// The CVM instance metadata service, as far as CAM roles go:
//   GET /latest/meta-data/cam/security-credentials/        → the role's name (text), 404 when none is bound
//   GET /latest/meta-data/cam/security-credentials/<role>  → {TmpSecretId, TmpSecretKey, ExpiredTime,
//                                                            Expiration, Token, Code: "Success"}
// (the paths and fields of the SDK's CvmRoleCredential and of CVM's documentation). Each credentials
// request issues fresh keys; the real service hands out the same ones until shortly before they expire,
// which a client must cope with too (it does: src/credentials/holder.ts spaces its attempts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CredentialIssuer } from './issuer.js';

export const ROLE_PATH = '/latest/meta-data/cam/security-credentials/';

export interface MetadataRequestRecord {
  time: number;
  path: string;
  status: number;
}

export class MetadataServer {
  /** The bound role's name; null: no role bound (404, as on a CVM without one). */
  roleName: string | null;
  /** When true the service answers 500 to everything (a broken metadata service). */
  failing = false;
  readonly requests: MetadataRequestRecord[] = [];

  constructor(
    private readonly issuer: CredentialIssuer,
    private readonly now: () => number,
    roleName: string | null,
  ) {
    this.roleName = roleName;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const reply = (status: number, type: string, body: string): void => {
      this.requests.push({ time: this.now(), path, status });
      res.statusCode = status;
      res.setHeader('Content-Type', type);
      res.setHeader('Content-Length', String(Buffer.byteLength(body)));
      res.end(body);
    };
    // The real service answers GET only; be as strict.
    if (req.method !== 'GET') return reply(405, 'text/plain', 'Method Not Allowed');
    if (this.failing) return reply(500, 'text/plain', 'Internal Server Error');
    if (path === ROLE_PATH) {
      if (this.roleName === null) return reply(404, 'text/plain', 'Not Found');
      return reply(200, 'text/plain', this.roleName);
    }
    if (this.roleName !== null && path === ROLE_PATH + encodeURIComponent(this.roleName)) {
      const c = this.issuer.issue(`metadata:${this.roleName}`);
      const body = {
        TmpSecretId: c.secretId,
        TmpSecretKey: c.secretKey,
        ExpiredTime: Math.floor(c.expiresAt / 1000),
        Expiration: new Date(c.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        Token: c.token,
        Code: 'Success',
      };
      return reply(200, 'application/json', JSON.stringify(body));
    }
    return reply(404, 'text/plain', 'Not Found');
  }
}
