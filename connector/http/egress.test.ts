import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { classifyAddress, egressPolicy, parseAllowEntry } from './egress.ts'

describe('address ranges', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.3.4', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared'],
    ['100.100.100.200', 'shared'],
    ['169.254.169.254', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['192.0.0.192', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'private'],
    ['fd00:ec2::254', 'private'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['::127.0.0.1', 'reserved'],
    ['2002:7f00:1::1', 'reserved'],
    ['100::1', 'reserved'],
    ['[::1]', 'loopback'],
    ['fe80::1%eth0', 'link-local'],
  ])('%s is %s', (address, range) => {
    expect(classifyAddress(address)).toBe(range)
  })

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '172.15.255.255',
    '100.128.0.1',
    '169.253.0.1',
    '11.0.0.1',
    '2606:4700::1111',
    '2a00:1450:4001::1',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
  ])('%s is public', (address) => {
    expect(classifyAddress(address)).toBe('public')
  })

  it('anything that is not an IP address is never public', () => {
    for (const text of ['localhost', '', '1.2.3', '999.1.1.1', 'example.org', '::g']) expect(classifyAddress(text)).not.toBe('public')
  })

  const octet = fc.integer({ min: 0, max: 255 })
  it('property: every address of 127/8, 10/8, 169.254/16 and 192.168/16 is refused, in IPv4 and IPv4-mapped IPv6 alike', () => {
    const internal = fc.oneof(
      fc.tuple(octet, octet, octet).map(([b, c, d]) => `127.${b}.${c}.${d}`),
      fc.tuple(octet, octet, octet).map(([b, c, d]) => `10.${b}.${c}.${d}`),
      fc.tuple(octet, octet).map(([c, d]) => `169.254.${c}.${d}`),
      fc.tuple(octet, octet).map(([c, d]) => `192.168.${c}.${d}`),
      fc.tuple(fc.integer({ min: 16, max: 31 }), octet, octet).map(([b, c, d]) => `172.${b}.${c}.${d}`),
    )
    const policy = egressPolicy()
    fc.assert(
      fc.property(internal, fc.integer({ min: 1, max: 65535 }), (address, port) => {
        const hex = (n: number) => n.toString(16)
        const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number]
        for (const form of [address, `::ffff:${address}`, `::ffff:${hex((a << 8) | b)}:${hex((c << 8) | d)}`]) {
          expect(classifyAddress(form)).not.toBe('public')
          expect(policy.check({ hostname: form, address: form, port }).allowed).toBe(false)
        }
      }),
    )
  })

  it('property: an IPv4 address and its mapped IPv6 form are in the same range', () => {
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet, octet), (parts) => {
        const v4 = parts.join('.')
        expect(classifyAddress(`::ffff:${v4}`)).toBe(classifyAddress(v4))
      }),
    )
  })

  it('property: every fc00::/7 and fe80::/10 address is refused', () => {
    const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16))
    const address = fc.oneof(
      fc
        .tuple(fc.integer({ min: 0xfc00, max: 0xfdff }), fc.array(group, { minLength: 7, maxLength: 7 }))
        .map(([first, rest]) => [first.toString(16), ...rest].join(':')),
      fc
        .tuple(fc.integer({ min: 0xfe80, max: 0xfebf }), fc.array(group, { minLength: 7, maxLength: 7 }))
        .map(([first, rest]) => [first.toString(16), ...rest].join(':')),
    )
    fc.assert(
      fc.property(address, (text) => {
        expect(classifyAddress(text)).not.toBe('public')
      }),
    )
  })
})

describe('egress policy', () => {
  const at = (address: string, port: number, hostname = address) => ({ hostname, address, port })

  it('allows public addresses without any configuration', () => {
    expect(egressPolicy().check(at('93.184.215.14', 443, 'example.org'))).toEqual({ allowed: true })
  })

  it('refuses internal addresses with a detail for the log that names the range', () => {
    const verdict = egressPolicy().check(at('127.0.0.1', 6379, 'rebound.example'))
    expect(verdict).toEqual({ allowed: false, range: 'loopback', detail: '127.0.0.1 (rebound.example) port 6379 is a loopback address not in egress.allow' })
  })

  it('an exact host:port entry allows that port only, not the rest of the host', () => {
    const policy = egressPolicy({ allow: ['127.0.0.1:8381'] })
    expect(policy.check(at('127.0.0.1', 8381)).allowed).toBe(true)
    expect(policy.check(at('127.0.0.1', 8382)).allowed).toBe(false)
    expect(policy.check(at('127.0.0.2', 8381)).allowed).toBe(false)
    // The same host spelled as a mapped IPv6 address is another host: refused (fail closed).
    expect(policy.check(at('::ffff:127.0.0.1', 8381)).allowed).toBe(false)
  })

  it('a host name entry allows what that name resolves to, on that port', () => {
    const policy = egressPolicy({ allow: ['Connector.Internal:8443'] })
    expect(policy.check(at('10.0.0.7', 8443, 'connector.internal')).allowed).toBe(true)
    expect(policy.check(at('10.0.0.7', 8443, 'other.internal')).allowed).toBe(false)
    expect(policy.check(at('10.0.0.7', 22, 'connector.internal')).allowed).toBe(false)
  })

  it('IPv6 entries match however the address is spelled', () => {
    const policy = egressPolicy({ allow: ['[::1]:8381', 'fd00:1::/64'] })
    expect(policy.check(at('0:0:0:0:0:0:0:1', 8381)).allowed).toBe(true)
    expect(policy.check(at('::1', 8382)).allowed).toBe(false)
    expect(policy.check(at('fd00:1::abcd', 1)).allowed).toBe(true)
    expect(policy.check(at('fd00:2::abcd', 1)).allowed).toBe(false)
  })

  it('a CIDR entry allows its range on every port, and nothing next to it', () => {
    const policy = egressPolicy({ allow: ['10.20.0.0/16'] })
    expect(policy.check(at('10.20.255.1', 5432)).allowed).toBe(true)
    expect(policy.check(at('10.21.0.1', 5432)).allowed).toBe(false)
    expect(policy.check(at('169.254.169.254', 80)).allowed).toBe(false)
  })

  it('property: a /32 CIDR allows exactly its address', () => {
    const octet = fc.integer({ min: 0, max: 255 })
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet, octet), fc.tuple(octet, octet, octet, octet), (a, b) => {
        const policy = egressPolicy({ allow: [`10.${a[1]}.${a[2]}.${a[3]}/32`] })
        const other = `10.${b[1]}.${b[2]}.${b[3]}`
        expect(policy.check(at(`10.${a[1]}.${a[2]}.${a[3]}`, 80)).allowed).toBe(true)
        expect(policy.check(at(other, 80)).allowed).toBe(other === `10.${a[1]}.${a[2]}.${a[3]}`)
      }),
    )
  })

  it('the DID host allow-list refuses every other host; without one, all are allowed', () => {
    expect(egressPolicy().allowsDidHost('anything.example')).toBe(true)
    const policy = egressPolicy({ didHosts: ['member.example', '127.0.0.1:8381'] })
    expect(policy.allowsDidHost('Member.Example')).toBe(true)
    expect(policy.allowsDidHost('127.0.0.1:8381')).toBe(true)
    expect(policy.allowsDidHost('127.0.0.1:8382')).toBe(false)
    expect(policy.allowsDidHost('evil.example')).toBe(false)
  })
})

describe('allow-list entries', () => {
  it.each(['127.0.0.1', 'localhost', '127.0.0.1:0', '127.0.0.1:70000', '10.0.0.0/33', 'fd00::/129', 'not a host:80', '[zz::1]:80', '10.0.0.0/x', '::1:80'])(
    'refuses %j with a message saying what is expected',
    (entry) => {
      expect(() => parseAllowEntry(entry)).toThrow(/host:port|CIDR|IPv6/)
    },
  )

  it.each(['127.0.0.1:8381', 'localhost:8381', '[::1]:8381', '10.0.0.0/8', 'fd00::/8', '192.168.1.5/32'])('reads %j', (entry) => {
    expect(() => parseAllowEntry(entry)).not.toThrow()
  })
})
