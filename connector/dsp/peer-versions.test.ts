import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { fixtureEgress } from '../../test/support/context.ts'
import { createPeerClient } from '../http/peer-client.ts'
import { peerVersions } from './peer-versions.ts'

/** A peer's version document, served over real HTTP on 127.0.0.1; counts how often it is read. */
let servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  servers = []
})
async function peer(document: unknown, status = 200) {
  const reads: string[] = []
  const server = createServer((req, res) => {
    reads.push(req.url ?? '')
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(document))
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, reads }
}
const peers = createPeerClient({ egress: fixtureEgress })
const both = ['2025-1', '2024-1'] as const

describe('the version spoken to a peer', () => {
  it('happy: an address under a listed base keeps its version; the document is read once', async () => {
    const p = await peer({
      protocolVersions: [
        { version: '2025-1', path: '/dsp/2025-1' },
        { version: '2024-1', path: '/dsp/2024-1' },
      ],
    })
    const versions = peerVersions(peers, both)
    expect(await versions.resolve(`${p.origin}/dsp/2024-1/negotiations/x/agreement`)).toEqual({
      version: '2024-1',
      url: `${p.origin}/dsp/2024-1/negotiations/x/agreement`,
    })
    expect((await versions.resolve(`${p.origin}/dsp/2025-1/negotiations/request`)).version).toBe('2025-1')
    expect(p.reads).toEqual(['/.well-known/dspace-version'])
  })

  it("happy: any other address goes to the highest version in common, at the peer's base (EDC's 2024/1 spelling read)", async () => {
    const p = await peer({
      protocolVersions: [
        { version: 'v0.8', path: '/protocol' },
        { version: '2024/1', path: '/protocol/2024/1' },
      ],
    })
    expect(await peerVersions(peers, both).resolve(`${p.origin}/protocol/negotiations/request?x=1`)).toEqual({
      version: '2024-1',
      url: `${p.origin}/protocol/2024/1/negotiations/request?x=1`,
    })
    const q = await peer({
      protocolVersions: [
        { version: '2024-1', path: '/dsp/2024-1' },
        { version: '2025-1', path: '/dsp/2025-1' },
      ],
    })
    expect(await peerVersions(peers, ['2024-1']).resolve(`${q.origin}/dsp/2025-1/transfers/request`)).toEqual({
      version: '2024-1',
      url: `${q.origin}/dsp/2024-1/transfers/request`,
    })
  })

  it('error: a peer with no version in common is refused, naming both sides', async () => {
    const p = await peer({ protocolVersions: [{ version: 'v0.8', path: '/' }] })
    await expect(peerVersions(peers, both).resolve(`${p.origin}/negotiations/request`)).rejects.toThrow(
      /speaks DSP v0\.8; this connector speaks 2025-1, 2024-1/,
    )
  })

  it('security: an unreadable or hostile document falls back to the address as given, in our preferred version', async () => {
    for (const document of [
      { protocolVersions: 'nope' },
      {
        protocolVersions: [
          { version: 2024, path: '/x' },
          { version: '2024-1', path: 'http://internal/' },
        ],
      },
      'x'.repeat(70_000),
    ]) {
      const p = await peer(document)
      expect(await peerVersions(peers, ['2024-1', '2025-1'] as never).resolve(`${p.origin}/dsp/negotiations/request`)).toEqual({
        version: '2024-1',
        url: `${p.origin}/dsp/negotiations/request`,
      })
    }
    const missing = await peer({}, 404)
    expect((await peerVersions(peers, both).resolve(`${missing.origin}/dsp/2025-1/catalog/request`)).version).toBe('2025-1')
  })

  it('happy: a connector speaking 2025-1 only never reads the document', async () => {
    const p = await peer({ protocolVersions: [{ version: '2024-1', path: '/dsp/2024-1' }] })
    expect((await peerVersions(peers, ['2025-1']).resolve(`${p.origin}/dsp/2025-1/catalog/request`)).version).toBe('2025-1')
    expect(p.reads).toEqual([])
  })
})
