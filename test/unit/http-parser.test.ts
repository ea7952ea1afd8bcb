/** Incremental HTTP/1.1 request-head parsing (RFC 9112). */
import { describe, expect, it } from 'vitest';
import { RequestHeadParser, headerValue, type HeadResult } from '../../controller/http/request-parser.js';

function parse(text: string, limits?: { maxHeaderBytes: number; maxHeaders: number }): HeadResult {
  return new RequestHeadParser(limits).feed(Buffer.from(text, 'latin1'));
}

function head(text: string) {
  const r = parse(text);
  if (r.kind !== 'head') throw new Error(`expected a head, got ${JSON.stringify(r)}`);
  return r.head;
}

describe('request head', () => {
  it('parses the request line and headers', () => {
    const text = 'GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\nAccept:  */*  \r\n\r\n';
    const h = head(text);
    expect(h.method).toBe('GET');
    expect(h.target).toBe('/index.html?q=1');
    expect(h.version).toBe('HTTP/1.1');
    expect(h.headers).toEqual([['host', 'example.com'], ['user-agent', 'curl/8'], ['accept', '*/*']]);
    expect(h.keepAlive).toBe(true);
    expect(h.contentLength).toBeNull();
    expect(h.chunked).toBe(false);
    expect(h.headLength).toBe(text.length);
    expect(headerValue(h, 'user-agent')).toBe('curl/8');
  });

  it('is incremental: byte by byte gives the same head, and stops at the empty line', () => {
    const text = 'POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n';
    const p = new RequestHeadParser();
    let r: HeadResult = { kind: 'incomplete' };
    let n = 0;
    while (r.kind === 'incomplete') r = p.feed(Buffer.from(text.slice(0, ++n), 'latin1'));
    expect(r.kind).toBe('head');
    if (r.kind === 'head') {
      expect(n).toBe(r.head.headLength);
      expect(r.head.contentLength).toBe(5);
      expect(text.slice(r.head.headLength, r.head.headLength + 5)).toBe('hello');
    }
  });

  it('accepts bare LF line ends and leading empty lines (RFC 9112 2.2)', () => {
    const h = head('\r\n\r\nGET / HTTP/1.1\nHost: a\n\n');
    expect(h.method).toBe('GET');
    expect(h.headLength).toBe(4 + 'GET / HTTP/1.1\nHost: a\n\n'.length);
  });

  it('keep-alive rules: 1.1 default on, Connection: close off; 1.0 default off, keep-alive on', () => {
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n').keepAlive).toBe(false);
    expect(head('GET / HTTP/1.0\r\n\r\n').keepAlive).toBe(false);
    expect(head('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').keepAlive).toBe(true);
  });

  it('detects chunked transfer coding', () => {
    expect(head('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n').chunked).toBe(true);
  });

  it('identical repeated Content-Length values are one value', () => {
    expect(head('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n').contentLength).toBe(3);
  });
});

describe('request head errors', () => {
  const cases: Array<[string, string, number]> = [
    ['malformed request line', 'GET /\r\nHost: a\r\n\r\n', 400],
    ['bad method token', 'G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['space in target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['garbage version', 'GET / HTTX/1.1\r\nHost: a\r\n\r\n', 400],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['HTTP/0.9 style', 'GET / HTTP/0.9\r\n\r\n', 505],
    ['missing Host in 1.1', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n  z\r\n\r\n', 400],
    ['no colon', 'GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n', 400],
    ['control character in value', 'GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n', 400],
    ['bare CR', 'GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n', 400],
    ['bad Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n', 400],
    ['conflicting Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400],
    ['TE and CL', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n', 400],
    ['TE not ending in chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 400],
    ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
  ];
  for (const [name, text, status] of cases) {
    it(`${name} → ${status}`, () => {
      const r = parse(text);
      expect(r.kind).toBe('error');
      if (r.kind === 'error') expect(r.status).toBe(status);
    });
  }

  it('a head beyond the cap → 431, before its end arrives', () => {
    const r = parse(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(200)}`, { maxHeaderBytes: 100, maxHeaders: 10 });
    expect(r).toMatchObject({ kind: 'error', status: 431 });
  });

  it('too many header fields → 431', () => {
    const r = parse(`GET / HTTP/1.1\r\nHost: a\r\n${'X: 1\r\n'.repeat(11)}\r\n`, { maxHeaderBytes: 10000, maxHeaders: 10 });
    expect(r).toMatchObject({ kind: 'error', status: 431 });
  });
});
