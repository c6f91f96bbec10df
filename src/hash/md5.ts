import { createHash } from 'node:crypto';

export interface Md5 {
  update(data: Uint8Array): void;
  /** Lower-case hex, as in a COS part ETag (without quotes). */
  digestHex(): string;
  /** Base64, as in a Content-MD5 header. */
  digestBase64(): string;
}

/** An MD5 whose digest can be read more than once and in both encodings. */
export function createMd5(): Md5 {
  const hash = createHash('md5');
  let digest: Buffer | undefined;
  const final = (): Buffer => (digest ??= hash.digest());
  return {
    update(data: Uint8Array): void {
      if (digest !== undefined) throw new Error('md5: update() after digest');
      hash.update(data);
    },
    digestHex: () => final().toString('hex'),
    digestBase64: () => final().toString('base64'),
  };
}
