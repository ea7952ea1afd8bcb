/**
 * Responses the controller itself serves (RFC 9112 section 4): the fallback (503 when no backend
 * is available) and the errors of request intake (400, 408, 431, 505). Always framed with
 * Content-Length so that the connection stays usable when it is kept alive.
 */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  204: 'No Content',
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

export interface ResponseSpec {
  readonly status: number;
  /** Extra header fields; Content-Length and Connection are set here and must not be given. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** The connection stays open after the response. */
  readonly keepAlive: boolean;
  /** The request was HTTP/1.0 (a kept-alive 1.0 connection needs `Connection: keep-alive`). */
  readonly http10?: boolean;
  /** The request was HEAD: headers as for GET, no body bytes. */
  readonly headRequest?: boolean;
}

export function buildResponse(r: ResponseSpec): Buffer {
  const body = r.body === undefined ? Buffer.alloc(0) : typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : Buffer.from(r.body);
  const lines = [`HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? 'Status'}`];
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    const lk = k.toLowerCase();
    if (lk === 'content-length' || lk === 'connection' || lk === 'transfer-encoding') continue;
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new RangeError(`header ${JSON.stringify(k)} contains CR or LF`);
    lines.push(`${k}: ${v}`);
  }
  lines.push(`Content-Length: ${body.length}`);
  if (!r.keepAlive) lines.push('Connection: close');
  else if (r.http10) lines.push('Connection: keep-alive');
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return r.headRequest ? head : Buffer.concat([head, body]);
}

/** A short plain-text body for a status: "503 Service Unavailable\n". */
export function plainBody(status: number, detail?: string): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Status'}${detail ? `: ${detail}` : ''}\n`;
}
