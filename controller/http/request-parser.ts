/**
 * Incremental HTTP/1.1 request-head parser (RFC 9112 sections 2-3, 5-6). Feed it the unread bytes
 * of a connection, from the start of a request, as they grow; it remembers how far it has scanned
 * so each byte is looked at once. It never consumes: the caller drops `head.headLength` bytes
 * (plus the body) when the request is done, and the bytes after them are the next request
 * (pipelining).
 *
 * Errors travel as data (status 400 / 431 / 505 and a reason), never as exceptions.
 */

export interface HttpLimits {
  /** Largest request head in bytes (request line + headers + empty line). Beyond it: 431. */
  readonly maxHeaderBytes: number;
  /** Largest number of header fields. Beyond it: 431. */
  readonly maxHeaders: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { maxHeaderBytes: 16 * 1024, maxHeaders: 100 };

export interface RequestHead {
  readonly method: string;
  readonly target: string;
  /** 'HTTP/1.0' or 'HTTP/1.1' (any HTTP/1.x above 1 is treated as 1.1, RFC 9110 6.2). */
  readonly version: string;
  readonly versionMinor: number;
  /** Field names lower-cased, values trimmed, in arrival order. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** From Content-Length; null when absent. */
  readonly contentLength: number | null;
  /** Transfer-Encoding ends in chunked. */
  readonly chunked: boolean;
  /** The connection persists after this request (RFC 9112 9.3). */
  readonly keepAlive: boolean;
  /** Bytes from the first byte given to the parser through the empty line (leading empty lines included). */
  readonly headLength: number;
}

export type HeadResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'head'; readonly head: RequestHead }
  | { readonly kind: 'error'; readonly status: 400 | 431 | 505; readonly reason: string };

const INCOMPLETE: HeadResult = { kind: 'incomplete' };
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VERSION = /^HTTP\/(\d)\.(\d)$/;
// Field values: visible characters, obs-text, SP and HTAB (RFC 9110 5.5).
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;

/** First header value of `name` (lower-case), or undefined. */
export function headerValue(head: RequestHead, name: string): string | undefined {
  for (const [n, v] of head.headers) if (n === name) return v;
  return undefined;
}

export class RequestHeadParser {
  /** Bytes already searched for the end of the head. */
  private scanned = 0;

  constructor(private readonly limits: HttpLimits = DEFAULT_HTTP_LIMITS) {}

  reset(): void {
    this.scanned = 0;
  }

  /** Parses `buf` (the unread bytes from the start of the request). */
  feed(buf: Buffer): HeadResult {
    // RFC 9112 2.2: ignore empty lines before the request line.
    let start = 0;
    while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
    const from = Math.max(this.scanned, start);
    const end = findHeadEnd(buf, start, from);
    if (end < 0) {
      this.scanned = Math.max(buf.length - 3, start);
      if (buf.length - start > this.limits.maxHeaderBytes) return { kind: 'error', status: 431, reason: 'request header too large' };
      return INCOMPLETE;
    }
    this.scanned = 0;
    if (end - start > this.limits.maxHeaderBytes) return { kind: 'error', status: 431, reason: 'request header too large' };
    return parseHead(buf.toString('latin1', start, end), end, this.limits);
  }
}

/**
 * Index just past the empty line that ends the head (CRLF CRLF, or bare LF LF as RFC 9112 2.2
 * allows), searching from `from`; -1 when not there yet.
 */
function findHeadEnd(buf: Buffer, start: number, from: number): number {
  let i = buf.indexOf(0x0a, Math.max(from, start));
  while (i >= 0) {
    // i is a LF; the head ends if the next line is empty: LF (CR)? LF.
    let j = i + 1;
    if (j < buf.length && buf[j] === 0x0d) j++;
    if (j < buf.length && buf[j] === 0x0a) return j + 1;
    if (j >= buf.length) return -1;
    i = buf.indexOf(0x0a, i + 1);
  }
  return -1;
}

function parseHead(text: string, headLength: number, limits: HttpLimits): HeadResult {
  const lines = text.split('\n');
  // The split leaves the two terminator lines at the end ('' or '\r' then '').
  const clean: string[] = [];
  for (const l of lines) {
    const line = l.endsWith('\r') ? l.slice(0, -1) : l;
    if (line.includes('\r')) return bad('bare CR in the request head');
    clean.push(line);
  }
  while (clean.length > 0 && clean[clean.length - 1] === '') clean.pop();
  const requestLine = clean[0] ?? '';
  const parts = requestLine.split(' ');
  if (parts.length !== 3) return bad('malformed request line');
  const [method, target, version] = parts as [string, string, string];
  if (!TOKEN.test(method)) return bad('malformed method');
  if (!TARGET.test(target)) return bad('malformed request target');
  const v = VERSION.exec(version);
  if (!v) return bad('malformed HTTP version');
  if (v[1] !== '1') return { kind: 'error', status: 505, reason: `HTTP version ${version} not supported` };
  const minor = Number(v[2]);
  if (clean.length - 1 > limits.maxHeaders) return { kind: 'error', status: 431, reason: 'too many header fields' };

  const headers: Array<readonly [string, string]> = [];
  let contentLength: number | null = null;
  let te: string | null = null;
  let hosts = 0;
  let connectionTokens: string[] = [];
  for (let i = 1; i < clean.length; i++) {
    const line = clean[i]!;
    if (line.startsWith(' ') || line.startsWith('\t')) return bad('obsolete line folding'); // RFC 9112 5.2
    const colon = line.indexOf(':');
    if (colon <= 0) return bad('malformed header field');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return bad('malformed header field name'); // also rejects space before ':' (5.1)
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) return bad('invalid character in a header field value');
    const lname = name.toLowerCase();
    headers.push([lname, value]);
    switch (lname) {
      case 'content-length': {
        // RFC 9112 6.3 (5): a list of identical values is one value; differing values are an error.
        const vals = value.split(',').map((s) => s.trim());
        for (const s of vals) {
          if (!/^\d+$/.test(s)) return bad('invalid Content-Length');
          const n = Number(s);
          if (!Number.isSafeInteger(n)) return bad('invalid Content-Length');
          if (contentLength !== null && contentLength !== n) return bad('conflicting Content-Length');
          contentLength = n;
        }
        break;
      }
      case 'transfer-encoding':
        te = te === null ? value : `${te}, ${value}`;
        break;
      case 'host':
        hosts++;
        break;
      case 'connection':
        connectionTokens = connectionTokens.concat(value.toLowerCase().split(',').map((s) => s.trim()));
        break;
      default:
        break;
    }
  }
  let chunked = false;
  if (te !== null) {
    // RFC 9112 6.1/6.3: Transfer-Encoding with Content-Length, or in HTTP/1.0, is a framing fault;
    // a request whose final coding is not chunked cannot be framed: 400.
    if (contentLength !== null) return bad('both Transfer-Encoding and Content-Length');
    if (minor === 0) return bad('Transfer-Encoding in an HTTP/1.0 request');
    const codings = te.toLowerCase().split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (codings[codings.length - 1] !== 'chunked') return bad('final transfer coding is not chunked');
    chunked = true;
  }
  // RFC 9112 3.2: exactly one Host in HTTP/1.1.
  if (minor >= 1 && hosts !== 1) return bad(hosts === 0 ? 'missing Host header' : 'more than one Host header');
  if (hosts > 1) return bad('more than one Host header');
  const keepAlive = minor >= 1 ? !connectionTokens.includes('close') : connectionTokens.includes('keep-alive');
  return {
    kind: 'head',
    head: {
      method,
      target,
      version: minor === 0 ? 'HTTP/1.0' : 'HTTP/1.1',
      versionMinor: minor,
      headers,
      contentLength,
      chunked,
      keepAlive,
      headLength,
    },
  };
}

function bad(reason: string): HeadResult {
  return { kind: 'error', status: 400, reason };
}
