// The little XML the COS API speaks: building replies and reading a CompleteMultipartUpload body.
// No general parser: request bodies have one fixed, flat shape.

export const XML_DECLARATION = "<?xml version='1.0' encoding='utf-8' ?>";

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return '&apos;';
    }
  });
}

export function xmlUnescape(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_m, e: string) => {
    switch (e) {
      case 'amp':
        return '&';
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default:
        return String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

/** A node: a name and either text or children. */
export type XmlNode = [name: string, content: string | number | boolean | XmlNode[]];

function render(node: XmlNode): string {
  const [name, content] = node;
  const inner = Array.isArray(content) ? content.map(render).join('') : xmlEscape(String(content));
  return `<${name}>${inner}</${name}>`;
}

export function xmlDocument(root: XmlNode): string {
  return XML_DECLARATION + '\n' + render(root);
}

export function errorDocument(e: { code: string; message: string; resource: string; requestId: string; traceId: string }): string {
  return xmlDocument([
    'Error',
    [
      ['Code', e.code],
      ['Message', e.message],
      ['Resource', e.resource],
      ['RequestId', e.requestId],
      ['TraceId', e.traceId],
    ],
  ]);
}

export interface CompletePart {
  partNumber: number;
  /** As sent, quotes removed. */
  etag: string;
}

/** The parts of a CompleteMultipartUpload body, in the order given; undefined when it is not one. */
export function parseCompleteMultipartUpload(xml: string): CompletePart[] | undefined {
  const body = xml.replace(/^\uFEFF/, '').replace(/<\?xml[^>]*\?>/, '').trim();
  const root = /^<CompleteMultipartUpload(?:\s[^>]*)?>([\s\S]*)<\/CompleteMultipartUpload>$/.exec(body);
  if (root === null) return undefined;
  const inner = root[1]!;
  const parts: CompletePart[] = [];
  const partRe = /<Part>([\s\S]*?)<\/Part>/g;
  let last = 0;
  for (let m = partRe.exec(inner); m !== null; m = partRe.exec(inner)) {
    // Anything but whitespace between the parts means a shape we do not know.
    if (inner.slice(last, m.index).trim() !== '') return undefined;
    last = m.index + m[0].length;
    const content = m[1]!;
    const num = /<PartNumber>\s*([^<]*?)\s*<\/PartNumber>/.exec(content);
    const etag = /<ETag>([^<]*)<\/ETag>/.exec(content);
    // A part number as COS takes it: 1..10000, no sign, no leading zero.
    if (num === null || etag === null || !/^[1-9]\d{0,4}$/.test(num[1]!) || Number(num[1]) > 10_000) return undefined;
    parts.push({ partNumber: Number(num[1]), etag: xmlUnescape(etag[1]!).trim().replace(/^"|"$/g, '') });
  }
  if (inner.slice(last).trim() !== '') return undefined;
  return parts;
}
