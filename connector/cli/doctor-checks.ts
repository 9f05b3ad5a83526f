import { readFileSync } from 'node:fs'
import { decodeJwt } from 'jose'
import { absolute, type Config } from '../config/config.ts'
import { egressPolicy } from '../http/egress.ts'
import { createPeerClient, type PeerClient } from '../http/peer-client.ts'
import { shownUrl } from '../store/database-errors.ts'
import { inspectDatabase } from '../store/inspect.ts'

/**
 * What `passerelle doctor` checks beyond the folder: the database, held credentials, and what the
 * network says (our DID document where peers read it, the clock against other servers, the peers).
 */
export interface Finding {
  problem: boolean
  /** Worth knowing, not wrong (e.g. the connector is not running, so its address does not answer). */
  warning?: boolean
  message: string
  fix?: string
}

/** Tokens live minutes; beyond this, peers refuse ours or we refuse theirs. */
const maxSkewMs = 30_000
const soonMs = 14 * 86_400_000

export async function databaseFindings(config: Config): Promise<Finding[]> {
  const url = config.database.url
  try {
    const state = await inspectDatabase(url)
    if (!state.exists) return [{ problem: false, message: `the database ${url} does not exist yet (the connector creates it at start)` }]
    const behind = state.shipped - state.applied
    return [
      {
        problem: false,
        message: `the database answers: schema version ${state.applied}${behind > 0 ? ` (${behind} migration${behind === 1 ? '' : 's'} to apply at the next start)` : ', up to date'} (${shownUrl(url)})`,
      },
    ]
  } catch (error) {
    return [{ problem: true, message: (error as Error).message, fix: 'see the message; docs/operator-guide.md#postgresql' }]
  }
}

/** Held credentials (VC JWTs): expired ones are refused by peers, expiring ones soon will be. */
export function credentialFindings(config: Config, now: number): Finding[] {
  const findings: Finding[] = []
  for (const file of config.identity.credentialFiles) {
    const path = absolute(config.root, file)
    let exp: number | undefined
    try {
      const payload = decodeJwt(readFileSync(path, 'utf8').trim())
      exp = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined
    } catch (error) {
      findings.push({
        problem: true,
        message: `${file}: cannot be read as a credential (${(error as Error).message})`,
        fix: 'ask its issuer for the credential again',
      })
      continue
    }
    if (exp === undefined) findings.push({ problem: false, message: `${file}: a held credential without an expiry` })
    else if (exp <= now)
      findings.push({
        problem: true,
        message: `${file}: the held credential expired on ${new Date(exp).toISOString()}; peers refuse it`,
        fix: 'ask its issuer for a new one and replace the file (passerelle credentials)',
      })
    else if (exp - now < soonMs)
      findings.push({
        problem: false,
        warning: true,
        message: `${file}: the held credential expires on ${new Date(exp).toISOString()} (in ${Math.ceil((exp - now) / 86_400_000)} days)`,
        fix: 'ask its issuer for a renewal now',
      })
    else findings.push({ problem: false, message: `${file}: a held credential, valid until ${new Date(exp).toISOString()}` })
  }
  return findings
}

/** The connector's own client and egress policy: doctor reaches what the connector may reach. */
export const doctorClient = (config: Config): PeerClient => createPeerClient({ egress: egressPolicy(config.egress), connections: 4 })

async function get(client: PeerClient, url: string): Promise<{ status: number; date?: number; body: string }> {
  const response = await client.request({ url, method: 'GET', timeout: 5000 })
  const date = response.headers.date
  return { status: response.status, body: response.text, ...(typeof date === 'string' ? { date: Date.parse(date) } : {}) }
}

const failure = (error: unknown) => {
  const { cause, message } = error as { cause?: { code?: string; message?: string }; message?: string }
  return cause?.code ?? cause?.message ?? message ?? String(error)
}

const skew = (date: number | undefined, sentAt: number, now: number) => (date === undefined ? undefined : date - (sentAt + now) / 2)

function skewFinding(where: string, offset: number | undefined): Finding[] {
  // HTTP dates have a one-second resolution.
  if (offset === undefined || Math.abs(offset) < maxSkewMs) return []
  return [
    {
      problem: true,
      message: `this machine's clock is ${Math.round(Math.abs(offset) / 1000)} s ${offset > 0 ? 'behind' : 'ahead of'} ${where}: signed tokens will be refused as expired or not yet valid`,
      fix: 'synchronise the clock (systemd-timesyncd, chrony or ntpd)',
    },
  ]
}

/** Our DID document at the address peers use, and the clock as that server sees it. */
export async function didFindings(config: Config, client: PeerClient, clock: () => number): Promise<Finding[]> {
  const did = config.participant.id
  if (!did.startsWith('did:web:')) return [{ problem: false, message: `participant ${did} is not a did:web identifier: no DID document to read` }]
  const host = decodeURIComponent(did.slice('did:web:'.length).split(':')[0]!)
  const path = did.split(':').slice(3).map(decodeURIComponent).join('/')
  const insecure = /^(localhost|127\.|\[::1\])/.test(host) || config.server.publicUrl.startsWith('http://')
  const url = `${insecure ? 'http' : 'https'}://${host}/${path ? `${path}/did.json` : '.well-known/did.json'}`
  const sentAt = clock()
  try {
    const answer = await get(client, url)
    const offset = skew(answer.date, sentAt, clock())
    if (answer.status !== 200)
      return [
        { problem: true, message: `${url} answers ${answer.status}: peers cannot read the DID document`, fix: 'route /.well-known/did.json to the connector' },
      ]
    const id = (JSON.parse(answer.body) as { id?: unknown }).id
    if (id !== did)
      return [
        {
          problem: true,
          message: `${url} serves the DID document of ${String(id)}, not ${did}`,
          fix: 'point the host at this connector, or correct participant.id',
        },
      ]
    return [{ problem: false, message: `${url} serves our DID document` }, ...skewFinding(new URL(url).host, offset)]
  } catch (error) {
    const reason = failure(error)
    return [
      {
        problem: false,
        warning: true,
        message: `${url} does not answer (${reason}): peers cannot read the DID document while the connector is stopped or unreachable there`,
        fix: `start the connector; check DNS, the reverse proxy and TLS for ${host} (publicUrl ${config.server.publicUrl})`,
      },
    ]
  }
}

/** The peers the configuration names: their DSP version document, and our clock against theirs. */
export async function peerFindings(config: Config, client: PeerClient, clock: () => number): Promise<Finding[]> {
  const findings: Finding[] = []
  for (const peer of config.federation.peers) {
    const base = peer.dspUrl ?? (peer.did?.startsWith('did:web:') ? `https://${decodeURIComponent(peer.did.slice(8).split(':')[0]!)}` : undefined)
    const name = peer.name ?? peer.did ?? peer.dspUrl
    if (!base) {
      findings.push({ problem: false, message: `peer ${name}: not checked (a DID other than did:web)` })
      continue
    }
    const url = `${new URL(base).origin}/.well-known/dspace-version`
    const sentAt = clock()
    try {
      const answer = await get(client, url)
      if (answer.status !== 200) {
        findings.push({
          problem: false,
          warning: true,
          message: `peer ${name}: ${url} answers ${answer.status}`,
          fix: 'ask its operator, or correct the peer URL',
        })
        continue
      }
      findings.push({ problem: false, message: `peer ${name} answers (${url})` }, ...skewFinding(`peer ${name}`, skew(answer.date, sentAt, clock())))
    } catch (error) {
      const reason = failure(error)
      findings.push({
        problem: false,
        warning: true,
        message: `peer ${name}: ${url} does not answer (${reason})`,
        fix: 'check the peer URL and the outbound access of this machine (egress.allow for private addresses)',
      })
    }
  }
  return findings
}
