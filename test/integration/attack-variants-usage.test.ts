import { createServer, type Server } from 'node:http'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../connector/paths.ts'
import { startDcpPair, type DcpPair } from '../support/dcp-participants.ts'
import { freePort, management } from '../support/processes.ts'

/**
 * Attack variants on download counting, against an agreement for one download of a dataset whose
 * bytes come from an upstream HTTP source (size unknown to the data plane). The consumer connector
 * process pulls through its management API, which forwards the Range header the attacker chose.
 * After the counted download, every further request yields at most a piece of it.
 */
const oneDownload = {
  id: 'one-download',
  yaml: [
    'id: one-download',
    'title: One download',
    'permissions:',
    '  - action: use',
    '    constraints:',
    '      - leftOperand: count',
    '        operator: lteq',
    '        rightOperand: 1',
    '',
  ].join('\n'),
}
const data = Buffer.from(Array.from({ length: 400 }, (_, i) => `row ${String(i).padStart(4, '0')}\n`).join(''))

let pair: DcpPair
let upstream: Server

/** An upstream that honours one `bytes=a-b` range and, like many servers, answers 200 with everything otherwise. */
function serve(range: string | undefined): { status: number; body: Buffer; headers: Record<string, string> } {
  const match = range ? /^bytes=(\d+)-(\d*)$/.exec(range) : null
  if (!match) return { status: 200, body: data, headers: {} }
  const start = Number(match[1])
  const end = match[2] ? Math.min(Number(match[2]), data.length - 1) : data.length - 1
  if (start >= data.length) return { status: 416, body: Buffer.alloc(0), headers: { 'content-range': `bytes */${data.length}` } }
  return { status: 206, body: data.subarray(start, end + 1), headers: { 'content-range': `bytes ${start}-${end}/${data.length}` } }
}

beforeAll(async () => {
  const upstreamPort = await freePort()
  upstream = createServer((req, res) => {
    const answer = serve(req.headers.range)
    res.writeHead(answer.status, { 'content-type': 'text/csv', 'content-length': String(answer.body.length), 'accept-ranges': 'bytes', ...answer.headers })
    res.end(answer.body)
  })
  await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve))
  const sha256 = createHash('sha256').update(data).digest('hex')
  pair = await startDcpPair({
    policy: oneDownload,
    dataset: (yaml) =>
      yaml
        .replace(/byteSize: \d+/, `byteSize: ${data.length}`)
        .replace(/sha256: [0-9a-f]+/, `sha256: ${sha256}`)
        .replace(/file: .*$/m, `url: http://127.0.0.1:${upstreamPort}/arctic.csv`),
  })
}, 60_000)
afterAll(async () => {
  await pair?.stop()
  await new Promise((resolve) => upstream?.close(resolve))
})

const download = async (transferId: string, range?: string) => {
  const response = await fetch(`${pair.consumer.url}/management/v1/transfers/${transferId}/data`, {
    headers: { authorization: `Bearer ${pair.consumer.managementKey}`, ...(range ? { range } : {}) },
  })
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) }
}
const accessCount = async (agreementId: string) => (await management(pair.provider, 'GET', `/agreements/${agreementId}/obligations`)).body.accessCount as number

/** Each variant: a first whole download (counted), then requests that try to get the data again without counting. */
const variants: Array<[string, string[]]> = [
  ['`bytes=1-` repeated: all but the first byte, again and again', ['bytes=1-', 'bytes=1-', 'bytes=1-']],
  ['a multi-range that starts after byte 0 but asks for byte 0 too', ['bytes=1-5,0-']],
  ['a range the upstream ignores (answered whole)', ['bytes=1-2, 3-']],
  ['leading zeros: `bytes=0001-`', ['bytes=0001-', 'bytes=0001-']],
  ['a suffix range `bytes=-N`', [`bytes=-${data.length}`]],
]

describe('a consumer with a one-download agreement on an upstream source', () => {
  it.each(variants)(
    'refused: %s; no second copy reaches the consumer, the rest is refused naming the policy, and the count stays at one',
    async (_name, ranges) => {
      const agreementId = await pair.negotiate()
      const transfer = await pair.requestPull(agreementId)
      expect(transfer.state).toBe('STARTED')
      const first = await download(transfer.id)
      expect(first.status).toBe(200)
      expect(first.body.equals(data)).toBe(true)
      expect(await accessCount(agreementId)).toBe(1)
      const answers = []
      for (const range of ranges) answers.push(await download(transfer.id, range))
      // Nothing more than a piece of the counted download reaches the consumer: the rest is refused,
      // naming the policy, never failed.
      const received = answers.filter((a) => a.status < 300).reduce((sum, a) => sum + a.body.length, 0)
      expect(received, JSON.stringify(answers.map((a) => a.status))).toBeLessThan(data.length)
      for (const answer of answers) expect([206, 403]).toContain(answer.status)
      for (const refused of answers.filter((a) => a.status === 403)) expect(refused.body.toString()).toContain('`one-download`')
      expect(await accessCount(agreementId)).toBe(1)
    },
    60_000,
  )

  it('happy: a download resumed with one forward range completes it without counting again', async () => {
    const agreementId = await pair.negotiate()
    const transfer = await pair.requestPull(agreementId)
    const head = await download(transfer.id, 'bytes=0-99')
    expect(head.status).toBe(206)
    const rest = await download(transfer.id, 'bytes=100-')
    expect(rest.status).toBe(206)
    expect(Buffer.concat([head.body, rest.body]).equals(data)).toBe(true)
    expect(await accessCount(agreementId)).toBe(1)
  }, 120_000)
})

/**
 * The same agreement (one download) on a file the provider holds; the attacker uses the pull address
 * and token the provider sent, as the consumer connector keeps them, directly.
 */
describe('a consumer with a one-download agreement on a file', () => {
  let files: DcpPair
  const file = readFileSync(fromRoot('seeds/files/arctic-sea-ice-extent-monthly-2015-2024.csv'))
  beforeAll(async () => {
    files = await startDcpPair({ policy: oneDownload })
  }, 120_000)
  afterAll(async () => {
    await files?.stop()
  })

  const get = async (address: { endpoint: string; token: string }, init: { method?: string; range?: string; url?: string } = {}) => {
    const response = await fetch(init.url ?? address.endpoint, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${address.token}`, ...(init.range ? { range: init.range } : {}) },
    })
    return { status: response.status, body: Buffer.from(await response.arrayBuffer()) }
  }
  const count = async (agreementId: string) => (await management(files.provider, 'GET', `/agreements/${agreementId}/obligations`)).body.accessCount as number
  const started = async () => {
    const agreementId = await files.negotiate()
    const transfer = await files.requestPull(agreementId)
    expect(transfer.state).toBe('STARTED')
    return { agreementId, transfer, address: await files.pullAddress(transfer.id) }
  }

  it.each([
    ['`bytes=0-` twice', ['bytes=0-', 'bytes=0-']],
    ['overlapping halves twice over', ['bytes=0-2000', 'bytes=1000-', 'bytes=0-2000', 'bytes=1000-']],
    ['a multi-range `bytes=0-10,11-` after a whole download', ['', 'bytes=0-10,11-']],
    ['suffix ranges of the whole file', [`bytes=-${file.length}`, `bytes=-${file.length}`]],
    ['HEAD, then two whole GETs', ['HEAD', '', '']],
  ])(
    'refused: %s gives one copy at most; the rest 403 naming the policy, the count stays at one',
    async (_name, requests) => {
      const { agreementId, address } = await started()
      let received = 0
      for (const request of requests) {
        const answer = await get(address, request === 'HEAD' ? { method: 'HEAD' } : { range: request || undefined })
        expect([200, 206, 403]).toContain(answer.status)
        if (answer.status === 403) expect(answer.body.toString()).toContain('`one-download`')
        else received += answer.body.length
      }
      expect(received).toBeLessThanOrEqual(file.length + 2001)
      expect(await count(agreementId)).toBe(1)
    },
    60_000,
  )

  it("refused: a transfer's token on another transfer's address, and a token after its transfer was terminated or suspended", async () => {
    const one = await started()
    const two = await started()
    const crossed = await get(one.address, { url: two.address.endpoint })
    expect(crossed.status).toBe(403)
    for (const action of ['suspend', 'terminate']) {
      const { agreementId, transfer, address } = await started()
      const ended = await management(files.consumer, 'POST', `/transfers/${transfer.id}/${action}`)
      expect(ended.status, JSON.stringify(ended.body)).toBe(200)
      const provider = await (async () => {
        for (let i = 0; i < 50; i++) {
          const t = ((await management(files.provider, 'GET', '/transfers?role=provider&limit=500')).body.items as any[]).find(
            (x) => x.agreementId === agreementId,
          )
          if (t && t.state !== 'STARTED') return t
          await new Promise((r) => setTimeout(r, 100))
        }
        return undefined
      })()
      expect(provider?.state).toMatch(/SUSPENDED|TERMINATED/)
      const answer = await get(address)
      expect(answer.status).toBeGreaterThanOrEqual(400)
      expect(answer.status).toBeLessThan(500)
      expect(await count(agreementId)).toBe(0)
    }
    expect(await count(two.agreementId)).toBe(0)
  }, 120_000)
})
