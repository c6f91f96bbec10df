// The STS API (sts.tencentcloudapi.com, version 2018-08-13), the two actions cdb2cos uses:
//   AssumeRole                 TC3-HMAC-SHA256 signed by the caller's keys (an STS token in X-TC-Token)
//   AssumeRoleWithWebIdentity  unsigned, as the real one: the OIDC token in the body is the proof
// Replies as the real API: {Response: {Credentials: {Token, TmpSecretId, TmpSecretKey}, ExpiredTime,
// Expiration, RequestId}} or {Response: {Error: {Code, Message}, RequestId}}.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CredentialIssuer } from './issuer.js';
import { header, Tc3Error, verifyTc3 } from './tc3.js';

export const STS_VERSION = '2018-08-13';
const MAX_BODY = 64 * 1024;
const ACTION_PARAMS: Record<string, { required: string[]; optional: string[] }> = {
  AssumeRole: { required: ['RoleArn', 'RoleSessionName'], optional: ['DurationSeconds', 'Policy', 'ExternalId', 'Tags', 'SourceIdentity'] },
  AssumeRoleWithWebIdentity: { required: ['ProviderId', 'WebIdentityToken', 'RoleArn', 'RoleSessionName'], optional: ['DurationSeconds'] },
};

export interface StsCredential {
  secretId: string;
  secretKey: string;
  token?: string | undefined;
  expiresAt?: number | undefined;
}

export interface StsRequestRecord {
  time: number;
  action: string;
  /** The signing SecretId for AssumeRole. */
  secretId: string | undefined;
  errorCode: string | undefined;
}

export interface StsOptions {
  issuer: CredentialIssuer;
  findCredential: (secretId: string) => StsCredential | undefined;
  now: () => number;
  roleArn: string;
  oidcProviderId: string;
  webIdentityToken: string;
}

class StsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class StsServer {
  readonly requests: StsRequestRecord[] = [];
  /** Error codes to answer with next, once each (e.g. "InternalError"). */
  readonly failNext: string[] = [];

  constructor(private readonly opts: StsOptions) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    this.#handle(req, res).catch(() => {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end();
      } else res.destroy();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) break;
      chunks.push(c);
    }
    const body = Buffer.concat(chunks);
    const action = header(req, 'x-tc-action');
    const record: StsRequestRecord = { time: this.opts.now(), action, secretId: undefined, errorCode: undefined };
    const requestId = randomUUID();
    let payload: object;
    try {
      if (req.method !== 'POST' || (req.url ?? '/') !== '/') throw new StsError('InvalidParameter', 'Only POST / is supported.');
      if (size > MAX_BODY) throw new StsError('InvalidParameter', 'The request body is too large.');
      const spec = ACTION_PARAMS[action];
      if (action === '') throw new StsError('MissingParameter', 'The request is missing a required parameter `Action`.');
      if (spec === undefined) throw new StsError('InvalidAction', `The action \`${action}\` is not supported by the emulator's STS.`);
      if (header(req, 'x-tc-version') !== STS_VERSION) throw new StsError('NoSuchVersion', `The requested version of API \`${action}\` does not exist.`);
      if (header(req, 'x-tc-region') === '') throw new StsError('MissingParameter', 'The request is missing a required parameter `Region`.');
      if (!/^application\/json/i.test(header(req, 'content-type'))) throw new StsError('InvalidParameter', 'Content-Type must be application/json.');
      if (action === 'AssumeRole') record.secretId = this.#authenticate(req, body);
      let params: Record<string, unknown>;
      try {
        params = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new StsError('InvalidParameter', 'The request body is not JSON.');
      }
      if (params === null || typeof params !== 'object' || Array.isArray(params)) throw new StsError('InvalidParameter', 'The request body must be a JSON object.');
      for (const name of Object.keys(params)) {
        if (!spec.required.includes(name) && !spec.optional.includes(name)) throw new StsError('UnknownParameter', `The parameter \`${name}\` is not recognized.`);
      }
      for (const name of spec.required) {
        if (typeof params[name] !== 'string' || params[name] === '') throw new StsError('MissingParameter', `The request is missing a required parameter \`${name}\`.`);
      }
      if (!/^[\w+=,.@-]{2,64}$/.test(params['RoleSessionName'] as string)) throw new StsError('InvalidParameter.ParamError', 'RoleSessionName must be 2 to 64 of [\\w+=,.@-].');
      let ttlMs = this.opts.issuer.ttlMs;
      if (params['DurationSeconds'] !== undefined) {
        const d = params['DurationSeconds'];
        if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1 || d > 43200) throw new StsError('InvalidParameter.ParamError', 'DurationSeconds must be an integer from 1 to 43200.');
        ttlMs = Math.min(ttlMs, d * 1000);
      }
      if (params['RoleArn'] !== this.opts.roleArn) throw new StsError('ResourceNotFound.RoleNotExist', 'The role does not exist.');
      if (action === 'AssumeRoleWithWebIdentity') {
        if (params['ProviderId'] !== this.opts.oidcProviderId) throw new StsError('InvalidParameter.WebIdentityTokenError', 'The identity provider does not exist.');
        if (params['WebIdentityToken'] !== this.opts.webIdentityToken) throw new StsError('InvalidParameter.WebIdentityTokenError', 'The web identity token is invalid.');
      }
      const injected = this.failNext.shift();
      if (injected !== undefined) throw new StsError(injected, `Injected ${injected}.`);
      const c = this.opts.issuer.issue(`${action}:${params['RoleArn'] as string}`, ttlMs);
      payload = {
        Credentials: { Token: c.token, TmpSecretId: c.secretId, TmpSecretKey: c.secretKey },
        ExpiredTime: Math.floor(c.expiresAt / 1000),
        Expiration: new Date(c.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
    } catch (err) {
      if (!(err instanceof StsError)) throw err;
      record.errorCode = err.code;
      payload = { Error: { Code: err.code, Message: err.message } };
    }
    this.requests.push(record);
    const json = JSON.stringify({ Response: { ...payload, RequestId: requestId } });
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', String(Buffer.byteLength(json)));
    res.end(json);
  }

  /** TC3-HMAC-SHA256 as the CDB API verifies it (tc3.ts), with the service "sts"; returns the SecretId. */
  #authenticate(req: IncomingMessage, body: Buffer): string {
    try {
      // hostWithPort: the product's own AssumeRole signing for a local endpoint keeps the port.
      return verifyTc3(req, body, { service: 'sts', now: this.opts.now, findCredential: this.opts.findCredential, hostWithPort: true });
    } catch (err) {
      throw err instanceof Tc3Error ? new StsError(err.code, err.message) : err;
    }
  }
}
