import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../core/errors.js';
import {
  MAX_IFNAME_LEN,
  NETNS_PREFIX,
  VETH_PREFIX,
  defaultMac,
  netnsName,
  netnsPrefixFor,
  newRunId,
  normalizeMac,
  validateCidr,
  validateHostName,
  validateIfName,
  validateRunId,
  vethNames,
  vethPrefixFor,
} from '../../netns/names.js';
import { Topology } from '../../netns/topology.js';

function expectInvalid(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).code).toBe('PRISM_ERR_INVALID_ARGUMENT');
    return;
  }
  expect.fail('expected InvalidArgumentError');
}

describe('namespace names', () => {
  it('are prism-<runid>-<host>', () => {
    expect(NETNS_PREFIX).toBe('prism-');
    expect(netnsName('ab12', 'client')).toBe('prism-ab12-client');
    expect(netnsName('ab12', 'backend-1')).toBe('prism-ab12-backend-1');
    expect(netnsPrefixFor('ab12')).toBe('prism-ab12-');
    expect(netnsName('ab12', 'h1').startsWith(netnsPrefixFor('ab12'))).toBe(true);
  });

  it('one run prefix never selects another run (run ids have no "-")', () => {
    expect(netnsName('ab1', '2-x').startsWith(netnsPrefixFor('ab12'))).toBe(false);
    expectInvalid(() => validateRunId('ab-12'));
  });

  it('accepts valid host names', () => {
    for (const n of ['a', 'h1', 'client', 'backend-1', 'x'.repeat(32), '0']) expect(validateHostName(n)).toBe(n);
  });

  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(33)],
    ['upper case', 'Client'],
    ['underscore', 'back_end'],
    ['dot', 'h.1'],
    ['slash', 'a/b'],
    ['space', 'a b'],
    ['leading hyphen', '-a'],
    ['trailing hyphen', 'a-'],
    ['non-ascii', 'hôte'],
  ])('rejects a host name that is %s', (_what, name) => {
    expectInvalid(() => validateHostName(name));
    expectInvalid(() => netnsName('ab12', name));
  });

  it('rejects invalid run ids', () => {
    for (const id of ['', 'AB', 'a_b', 'x'.repeat(13), 'a b']) expectInvalid(() => validateRunId(id));
    expectInvalid(() => new Topology({ runId: 'Bad' }));
  });

  it('new run ids are valid and differ', () => {
    const ids = new Set(Array.from({ length: 100 }, () => validateRunId(newRunId())));
    expect(ids.size).toBe(100);
  });

  it('a Topology rejects invalid host names before touching the system', async () => {
    const t = new Topology({ runId: 'unit0' });
    await expect(t.addHost('')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(t.addHost('UPPER')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(t.addHost('x'.repeat(40))).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(t.namespaces()).toEqual([]);
  });
});

describe('veth names', () => {
  it('fit in IFNAMSIZ, carry the project and run prefixes, and differ per side', () => {
    const [a, b] = vethNames('ab12', 0);
    expect(a.length).toBeLessThanOrEqual(MAX_IFNAME_LEN);
    expect(b.length).toBeLessThanOrEqual(MAX_IFNAME_LEN);
    expect(a.startsWith(VETH_PREFIX)).toBe(true);
    expect(a.startsWith(vethPrefixFor('ab12'))).toBe(true);
    expect(b.startsWith(vethPrefixFor('ab12'))).toBe(true);
    expect(a).not.toBe(b);
    expect(validateIfName(a)).toBe(a);
  });

  it('are deterministic for (run, index) and unique within a run', () => {
    expect(vethNames('ab12', 3)).toEqual(vethNames('ab12', 3));
    const all = new Set<string>();
    for (let i = 0; i < 2_000; i++) for (const n of vethNames('ab12', i)) all.add(n);
    expect(all.size).toBe(4_000);
  });

  it('differ between runs, even for the longest run ids', () => {
    const longest = 'z'.repeat(12);
    for (const n of vethNames(longest, 999_999)) expect(n.length).toBeLessThanOrEqual(MAX_IFNAME_LEN);
    expect(vethNames('run1', 0)[0]).not.toBe(vethNames('run2', 0)[0]);
    expect(vethPrefixFor('run1')).not.toBe(vethPrefixFor('run2'));
  });

  it('a salt gives other names (collision fallback)', () => {
    expect(vethNames('ab12', 0, 1)[0]).not.toBe(vethNames('ab12', 0)[0]);
  });

  it('rejects bad indices', () => {
    expectInvalid(() => vethNames('ab12', -1));
    expectInvalid(() => vethNames('ab12', 1.5));
  });
});

describe('interface names, MACs and addresses', () => {
  it('validates interface names', () => {
    for (const n of ['eth0', 'lo', 'veth.10', 'a_b-c', 'x'.repeat(15)]) expect(validateIfName(n)).toBe(n);
    for (const n of ['', 'x'.repeat(16), 'a/b', 'a:b', 'a b', '.x', '-x']) expectInvalid(() => validateIfName(n));
  });

  it('default MACs are deterministic, locally administered unicast, and depend on host and ifname', () => {
    const m = defaultMac('h1', 'eth0');
    expect(m).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(defaultMac('h1', 'eth0')).toBe(m);
    expect(defaultMac('h2', 'eth0')).not.toBe(m);
    expect(defaultMac('h1', 'eth1')).not.toBe(m);
  });

  it('normalises MACs and rejects malformed or multicast ones', () => {
    expect(normalizeMac('02:AA:bb:CC:dd:EE')).toBe('02:aa:bb:cc:dd:ee');
    expect(normalizeMac('02-aa-bb-cc-dd-ee')).toBe('02:aa:bb:cc:dd:ee');
    for (const m of ['', '02:aa:bb:cc:dd', '02:aa:bb:cc:dd:ee:ff', 'zz:aa:bb:cc:dd:ee', '01:00:5e:00:00:01']) expectInvalid(() => normalizeMac(m));
  });

  it('validates CIDRs', () => {
    for (const c of ['10.0.0.1/24', '10.0.0.0/8', 'fd00::1/64', '0.0.0.0/0']) expect(validateCidr(c)).toBe(c);
    for (const c of ['10.0.0.1', '10.0.0.1/33', '10.0.0/24', 'fd00::1/129', 'x/24', '10.0.0.1/24/1']) expectInvalid(() => validateCidr(c));
  });
});
