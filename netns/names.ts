/**
 * Naming rules of the namespace harness. Pure functions, no I/O.
 *
 * Invariants:
 * - Every network namespace the project creates is named `prism-<runid>-<host>`. The prefix
 *   `prism-` is reserved for this project: `prism topo down --all` deletes every namespace that
 *   starts with it. A run id never contains `-`, so `prism-<runid>-` selects exactly one run.
 * - Every veth the project creates is named `pr-<runtag><linktag><side>` (14 chars, ≤ IFNAMSIZ-1):
 *   `runtag` is 4 hex digits derived from the run id, `linktag` 6 hex digits derived from the run id
 *   and the link index, `side` is `a` or `b`. Names are unique within a run (the Topology re-salts
 *   on the rare hash collision), and `pr-<runtag>` selects one run's veths (up to tag collisions
 *   between concurrent runs, which only matter for leftovers in the root namespace).
 * - Default MAC addresses are locally administered unicast (`02:…`) and depend only on
 *   (host, ifname), so a topology gets the same MACs on every run.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../core/errors.js';

/** Prefix of every namespace the project creates. Reserved for prism. */
export const NETNS_PREFIX = 'prism-';
/** Prefix of every veth the project creates (root-namespace leftovers are found by it). */
export const VETH_PREFIX = 'pr-';
/** Linux IFNAMSIZ is 16 including the NUL. */
export const MAX_IFNAME_LEN = 15;
export const MAX_HOST_NAME_LEN = 32;
export const MAX_RUN_ID_LEN = 12;

const HOST_RE = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const RUN_ID_RE = /^[a-z0-9]+$/;
const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

function sha256hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** A fresh random run id: 8 lowercase hex digits. */
export function newRunId(): string {
  return randomBytes(4).toString('hex');
}

/** Throws InvalidArgumentError unless `runId` is 1..12 chars of [a-z0-9]. */
export function validateRunId(runId: string): string {
  if (typeof runId !== 'string' || runId.length === 0 || runId.length > MAX_RUN_ID_LEN || !RUN_ID_RE.test(runId)) {
    throw new InvalidArgumentError(
      `invalid run id ${JSON.stringify(runId)}: use 1-${MAX_RUN_ID_LEN} characters from [a-z0-9] (no '-')`,
    );
  }
  return runId;
}

/**
 * Throws InvalidArgumentError unless `name` is a valid host name: 1..32 chars of [a-z0-9-],
 * not starting or ending with '-'.
 */
export function validateHostName(name: string): string {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > MAX_HOST_NAME_LEN ||
    !HOST_RE.test(name)
  ) {
    throw new InvalidArgumentError(
      `invalid host name ${JSON.stringify(name)}: use 1-${MAX_HOST_NAME_LEN} characters from [a-z0-9-], not starting or ending with '-'`,
    );
  }
  return name;
}

/** Throws InvalidArgumentError unless `ifname` is a legal Linux interface name (≤ 15 chars, no '/', ':' or spaces). */
export function validateIfName(ifname: string): string {
  if (
    typeof ifname !== 'string' ||
    ifname.length === 0 ||
    ifname.length > MAX_IFNAME_LEN ||
    !IFNAME_RE.test(ifname)
  ) {
    throw new InvalidArgumentError(
      `invalid interface name ${JSON.stringify(ifname)}: use 1-${MAX_IFNAME_LEN} characters from [A-Za-z0-9_.-], not starting with '.' or '-'`,
    );
  }
  return ifname;
}

/** Normalises a MAC to lowercase `aa:bb:cc:dd:ee:ff`; throws InvalidArgumentError if malformed or multicast. */
export function normalizeMac(mac: string): string {
  const m = typeof mac === 'string' ? mac.trim().toLowerCase().replaceAll('-', ':') : '';
  if (!MAC_RE.test(m)) throw new InvalidArgumentError(`invalid MAC address ${JSON.stringify(mac)}: expected aa:bb:cc:dd:ee:ff`);
  if (parseInt(m.slice(0, 2), 16) & 1) throw new InvalidArgumentError(`MAC address ${m} is multicast: an interface needs a unicast address`);
  return m;
}

/** Validates `addr/len` (IPv4 or IPv6) and returns it unchanged; throws InvalidArgumentError otherwise. */
export function validateCidr(cidr: string): string {
  const [addr, len, extra] = typeof cidr === 'string' ? cidr.split('/') : [];
  const family = addr === undefined ? 0 : isIP(addr);
  const max = family === 4 ? 32 : 128;
  if (family === 0 || len === undefined || extra !== undefined || !/^\d{1,3}$/.test(len) || Number(len) > max) {
    throw new InvalidArgumentError(`invalid address ${JSON.stringify(cidr)}: expected e.g. 10.0.0.1/24 or fd00::1/64`);
  }
  return cidr;
}

/** Validates a bare IPv4/IPv6 address; throws InvalidArgumentError otherwise. */
export function validateIp(ip: string): string {
  if (typeof ip !== 'string' || isIP(ip) === 0) throw new InvalidArgumentError(`invalid IP address ${JSON.stringify(ip)}`);
  return ip;
}

/** `prism-<runid>-`: the prefix that selects all namespaces of one run. */
export function netnsPrefixFor(runId: string): string {
  return `${NETNS_PREFIX}${validateRunId(runId)}-`;
}

/** `prism-<runid>-<host>`. */
export function netnsName(runId: string, host: string): string {
  return `${netnsPrefixFor(runId)}${validateHostName(host)}`;
}

/** 4 hex digits that every veth of the run carries after `pr-`. */
export function runTag(runId: string): string {
  return sha256hex(`prism-run\0${validateRunId(runId)}`).slice(0, 4);
}

/** `pr-<runtag>`: the prefix that selects (root-namespace leftovers of) one run's veths. */
export function vethPrefixFor(runId: string): string {
  return `${VETH_PREFIX}${runTag(runId)}`;
}

/**
 * The two kernel names of link number `index` of run `runId` (`salt` > 0 only after a collision).
 * Both are 14 chars, start with `vethPrefixFor(runId)` and differ only in the last char.
 */
export function vethNames(runId: string, index: number, salt = 0): readonly [string, string] {
  if (!Number.isSafeInteger(index) || index < 0) throw new InvalidArgumentError(`invalid link index ${index}`);
  const tag = sha256hex(`prism-link\0${validateRunId(runId)}\0${index}\0${salt}`).slice(0, 6);
  const base = `${vethPrefixFor(runId)}${tag}`;
  return [`${base}a`, `${base}b`];
}

/** Deterministic locally administered unicast MAC for interface `ifname` of host `host`. */
export function defaultMac(host: string, ifname: string): string {
  const h = sha256hex(`prism-mac\0${validateHostName(host)}\0${validateIfName(ifname)}`);
  const bytes = ['02', h.slice(0, 2), h.slice(2, 4), h.slice(4, 6), h.slice(6, 8), h.slice(8, 10)];
  return bytes.join(':');
}
