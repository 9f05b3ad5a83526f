import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'

/**
 * The egress policy: which addresses the connector may open a connection to. Peers choose the
 * addresses we call (callbacks, push destinations, did:web hosts), so an address in a range that
 * does not belong to the public Internet (loopback, private, link-local with the cloud metadata
 * services, unspecified, documentation, multicast…) is refused unless the operator's allow-list
 * names it, by exact host:port or by CIDR. The peer client applies it to the address it is about to
 * connect to, after DNS resolution, so a name that resolves (or rebinds) to an internal address
 * does not pass.
 */

export type AddressRange = 'public' | 'loopback' | 'private' | 'shared' | 'link-local' | 'unspecified' | 'documentation' | 'multicast' | 'reserved'

/** Where a connection would go: the host as written in the URL, the IP it resolved to, the port. */
export interface Destination {
  hostname: string
  address: string
  port: number
}

export type EgressVerdict = { allowed: true } | { allowed: false; range: AddressRange; detail: string }

export interface EgressPolicy {
  check(destination: Destination): EgressVerdict
  /** Whether the did:web host (`host` or `host:port`, as the DID spells it) may be fetched at all. */
  allowsDidHost(host: string): boolean
}

export interface EgressSettings {
  /** `host:port` (a name or an IP; IPv6 in brackets) or a CIDR (`10.1.0.0/16`, `fd00:1::/64`). */
  allow?: string[]
  /** When set, did:web documents are fetched only from these hosts (`host` or `host:port`). */
  didHosts?: string[]
}

/** The message peers get when an address is refused: never the range, the address or a socket error. */
export const destinationRefusedMessage = 'the destination could not be reached'
export const callbackRefusedMessage = 'the callback address is not allowed'

/** Thrown by the peer client's connector when the policy refuses an address. */
export class EgressRefusal extends Error {
  constructor(readonly detail: string) {
    super(destinationRefusedMessage)
    this.name = 'EgressRefusal'
  }
}

// ---------------------------------------------------------------------------------------------
// Addresses as numbers: IPv4 as 32 bits, IPv6 as 128 bits (bigint).

type Ip = { version: 4; value: number } | { version: 6; value: bigint }

export function parseIp(text: string): Ip | undefined {
  const address = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
  const version = isIP(address)
  if (version === 4) return { version: 4, value: ipv4Value(address) }
  if (version === 6) return { version: 6, value: ipv6Value(address) }
  return undefined
}

function ipv4Value(address: string): number {
  const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number]
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
}

function ipv6Value(address: string): bigint {
  let text = address.split('%')[0]!.toLowerCase()
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (quad) {
    const v4 = ipv4Value(quad[1]!)
    text = `${text.slice(0, -quad[1]!.length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`
  }
  const [head, tail] = text.split('::') as [string, string | undefined]
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const missing = 8 - headGroups.length - tailGroups.length
  const groups = [...headGroups, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...tailGroups]
  let value = 0n
  for (const group of groups) value = (value << 16n) | BigInt(parseInt(group, 16))
  return value
}

/** A range with its mask computed once: numbers for IPv4, bigints for IPv6 (checks run per connection). */
type Cidr = { version: 4; base: number; mask: number } | { version: 6; base: bigint; mask: bigint }

function cidr(text: string): Cidr | undefined {
  const slash = text.lastIndexOf('/')
  if (slash < 0) return undefined
  const ip = parseIp(text.slice(0, slash))
  const bitsText = text.slice(slash + 1)
  if (!ip || !/^\d{1,3}$/.test(bitsText)) return undefined
  const bits = Number(bitsText)
  if (ip.version === 4) {
    if (bits > 32) return undefined
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
    return { version: 4, base: (ip.value & mask) >>> 0, mask }
  }
  if (bits > 128) return undefined
  const mask = ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - bits)) - 1n)
  return { version: 6, base: ip.value & mask, mask }
}

const inCidr = (ip: Ip, range: Cidr): boolean =>
  ip.version === 4 ? range.version === 4 && (ip.value & range.mask) >>> 0 === range.base : range.version === 6 && (ip.value & range.mask) === range.base

// Special-purpose ranges (IANA IPv4 and IPv6 Special-Purpose Address Registries, RFC 6890 and
// successors). IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4 address they carry.
const specialRanges: Array<[string, AddressRange]> = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'reserved'],
  ['64:ff9b:1::/48', 'private'],
  ['100::/64', 'reserved'],
  ['2001::/23', 'reserved'],
  ['2001:db8::/32', 'documentation'],
  ['2002::/16', 'reserved'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'private'],
  ['ff00::/8', 'multicast'],
]
const special = specialRanges.map(([text, range]) => ({ cidr: cidr(text)!, range }))
const special4 = special.filter((s) => s.cidr.version === 4)
const special6 = special.filter((s) => s.cidr.version === 6)
const globalUnicast = cidr('2000::/3')!
const mapped = cidr('::ffff:0:0/96')!
const nat64 = cidr('64:ff9b::/96')!

/** The range an IP address belongs to; `public` only for globally routable unicast. */
export function classifyAddress(address: string): AddressRange {
  const ip = parseIp(address)
  if (!ip) return 'reserved'
  return classify(ip)
}

function classify(ip: Ip): AddressRange {
  if (ip.version === 6 && (inCidr(ip, mapped) || inCidr(ip, nat64))) return classify({ version: 4, value: Number(ip.value & 0xffffffffn) })
  for (const { cidr: range, range: name } of ip.version === 4 ? special4 : special6) if (inCidr(ip, range)) return name
  if (ip.version === 6 && !inCidr(ip, globalUnicast)) return 'reserved'
  return 'public'
}

// ---------------------------------------------------------------------------------------------
// The operator's allow-list.

type AllowEntry = { kind: 'cidr'; cidr: Cidr } | { kind: 'host'; host: string; port: number }

/** Reads one allow-list entry; throws an Error saying what is expected. */
export function parseAllowEntry(text: string): AllowEntry {
  const trimmed = text.trim()
  if (trimmed.includes('/')) {
    const range = cidr(trimmed)
    if (!range) throw new Error(`"${text}" is not a CIDR range (like 10.1.0.0/16 or fd00:1::/64)`)
    return { kind: 'cidr', cidr: range }
  }
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(trimmed)
  const port = Number(match?.[2])
  if (!match || port < 1 || port > 65535) {
    throw new Error(`"${text}" is neither host:port (like 127.0.0.1:8381 or [::1]:8381) nor a CIDR range`)
  }
  const host = match[1]!.toLowerCase()
  if (host.startsWith('[') && !parseIp(host)) throw new Error(`"${text}" has a malformed IPv6 address`)
  return { kind: 'host', host: normalHost(host), port }
}

/** Hosts compared as the URL parser writes them: lower case, IPv6 without brackets, canonical. */
function normalHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  const ip = parseIp(bare)
  if (ip?.version === 6) return ipText(ip)
  return bare.toLowerCase()
}

const ipText = (ip: Ip) => (ip.version === 4 ? String(ip.value) : `6:${ip.value.toString(16)}`)
const hostKey = (host: string, port: number) => {
  const ip = parseIp(host)
  return `${ip ? ipText(ip) : host.toLowerCase()} ${port}`
}

export function egressPolicy(settings: EgressSettings = {}): EgressPolicy {
  const entries = (settings.allow ?? []).map(parseAllowEntry)
  const hostPorts = new Set(entries.flatMap((e) => (e.kind === 'host' ? [hostKey(e.host, e.port)] : [])))
  const ranges = entries.flatMap((e) => (e.kind === 'cidr' ? [e.cidr] : []))
  const didHosts = settings.didHosts ? new Set(settings.didHosts.map((h) => h.toLowerCase())) : undefined
  return {
    check({ hostname, address, port }) {
      const ip = parseIp(address)
      if (!ip) return { allowed: false, range: 'reserved', detail: `${address} is not an IP address` }
      const range = classify(ip)
      if (range === 'public') return { allowed: true }
      if (hostPorts.has(hostKey(address, port)) || hostPorts.has(hostKey(hostname, port))) return { allowed: true }
      if (ranges.some((r) => inCidr(ip, r))) return { allowed: true }
      const via = normalHost(hostname) === normalHost(address) ? '' : ` (${hostname})`
      return { allowed: false, range, detail: `${address}${via} port ${port} is a ${range} address not in egress.allow` }
    },
    allowsDidHost(host) {
      return didHosts === undefined || didHosts.has(host.toLowerCase())
    },
  }
}

/** Every address a host name resolves to. */
export type Resolve = (hostname: string) => Promise<string[]>
export const systemResolve: Resolve = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address)

/**
 * Resolves a host name and returns the first address the policy allows (an IP literal is its own
 * address). The peer client connects to exactly that address, so what was checked is what is used.
 */
export async function allowedAddress(
  policy: EgressPolicy,
  hostname: string,
  port: number,
  resolve: Resolve = systemResolve,
): Promise<{ address: string } | { refused: string }> {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  const addresses = isIP(bare) ? [bare] : await resolve(bare)
  let refused: string | undefined
  for (const address of addresses) {
    const verdict = policy.check({ hostname: bare, address, port })
    if (verdict.allowed) return { address }
    refused ??= verdict.detail
  }
  return { refused: refused ?? `${bare} resolved to no address` }
}

/** The same check for a URL, before anything is stored: http(s) only, no credentials in it. */
export async function checkUrl(policy: EgressPolicy, text: string): Promise<{ allowed: true } | { allowed: false; detail: string }> {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return { allowed: false, detail: 'not a URL' }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { allowed: false, detail: `${url.protocol} is not HTTP` }
  if (url.username || url.password) return { allowed: false, detail: 'the URL carries credentials' }
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80)
  let result: Awaited<ReturnType<typeof allowedAddress>>
  try {
    result = await allowedAddress(policy, url.hostname, port)
  } catch {
    // A name that does not resolve now is judged when a connection is opened, like every other.
    return { allowed: true }
  }
  return 'address' in result ? { allowed: true } : { allowed: false, detail: result.refused }
}

/**
 * For dataset validation: a problem with a storage endpoint the connector would be refused to
 * reach (a loopback or private address not in `egress.allow`), or undefined.
 */
export const endpointCheck =
  (policy: EgressPolicy) =>
  async (url: string): Promise<string | undefined> => {
    const verdict = await checkUrl(policy, url)
    return verdict.allowed ? undefined : `the connector may not reach this endpoint: ${verdict.detail}`
  }
