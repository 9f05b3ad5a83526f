import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { testClock, testIds } from '../../test/support/context.ts'
import { createTestStore } from '../../test/support/stores.ts'
import { runCli } from '../cli/main.ts'
import { loadConfig } from '../config/config.ts'
import type { Store } from '../store/store.ts'
import { silentLogger } from '../telemetry/logger.ts'
import { createIdentity } from './identity.ts'

const io = (cwd: string) => {
  const out: string[] = []
  return { out, io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void out.push(t), cwd, env: {} } }
}

describe('passerelle keys', () => {
  let parent: string
  let dir: string
  let store: Store | undefined
  afterEach(async () => {
    await store?.close()
    store = undefined
    rmSync(parent, { recursive: true, force: true })
  })
  const initialised = async () => {
    parent = mkdtempSync(join(tmpdir(), 'passerelle-keys-cli-'))
    dir = join(parent, 'participant')
    expect(await runCli(['init', dir], io(parent).io)).toBe(0)
    return dir
  }
  const keys = async (...args: string[]) => {
    const run = io(dir)
    const code = await runCli(['keys', ...args], run.io)
    return { code, output: run.out.join('') }
  }

  it('rotate adds a pending key beside the signing one, files readable by their owner only; a second rotation is refused while one is under way', async () => {
    await initialised()
    const before = await keys('list')
    expect(before.code).toBe(0)
    expect(before.output).toMatch(/^\S+ {2}signing +signs from the start {2}\(identity\/private-key\.jwk\)\n$/)
    const oldKid = before.output.split(' ')[0]!

    const rotated = await keys('rotate', '--overlap', '10m')
    expect(rotated.code).toBe(0)
    const newKid = /^added (key-\S+) \((identity\/keys\/key-\S+\.jwk)\): published now, signs from (\S+)\n/.exec(rotated.output)
    expect(newKid).not.toBeNull()
    expect(rotated.output).toContain(`${oldKid} signs until then and is retired at `)
    expect(statSync(join(dir, newKid![2]!)).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'identity', 'key-schedule.json')).mode & 0o777).toBe(0o600)

    const listed = await keys('list')
    expect(listed.output).toMatch(new RegExp(`^${newKid![1]} {2}pending +signs from ${newKid![3]!.replace(/\./g, '\\.')}`, 'm'))
    expect(listed.output).toMatch(new RegExp(`^${oldKid} {2}signing +signs from the start, retired at \\S+`, 'm'))

    const again = await keys('rotate')
    expect(again.code).toBe(1)
    expect(again.output).toContain(`a rotation is under way: key ${newKid![1]} signs from ${newKid![3]}`)
  })

  it('retire refuses the only key that may sign and an unknown key, changing nothing', async () => {
    await initialised()
    const kid = (await keys('list')).output.split(' ')[0]!
    const only = await keys('retire', kid)
    expect(only.code).toBe(1)
    expect(only.output).toContain(`key ${kid} signs and no other key may sign yet: rotate first`)
    const unknown = await keys('retire', 'key-nobody')
    expect(unknown.code).toBe(1)
    expect(unknown.output).toContain('no key key-nobody')
    expect(() => statSync(join(dir, 'identity', 'key-schedule.json'))).toThrow(/ENOENT/)
  })

  it('refuses a schedule that lists a key twice, naming it', async () => {
    await initialised()
    const kid = (await keys('list')).output.split(' ')[0]!
    const retireAt = new Date(Date.now() + 60_000).toISOString()
    writeFileSync(
      join(dir, 'identity', 'key-schedule.json'),
      JSON.stringify({
        keys: [
          { kid, retireAt },
          { kid, retireAt },
        ],
      }),
      { mode: 0o600 },
    )
    const listed = await keys('list')
    expect(listed.code).toBe(1)
    expect(listed.output).toContain(`key ${kid} is listed twice`)
  })

  it('a running connector publishes the new key at once, signs with it after the overlap and stops publishing the old one, with no restart', async () => {
    await initialised()
    store = await createTestStore('sqlite')
    const clock = testClock(Date.now())
    const config = loadConfig(join(dir, 'passerelle.yaml'), { env: {} })
    const identity = await createIdentity({ config, store, clock, ids: testIds(), logger: silentLogger })
    const published = () => identity.didDocument!.verificationMethod!.map((method) => method.id.split('#')[1])
    const signer = async () =>
      decodeProtectedHeader(
        (await identity.tokenIssuer.authorizationFor({ participantId: 'did:web:peer.example', dspUrl: 'https://peer.example/dsp' })).slice(7),
      ).kid as string
    const oldKid = (await keys('list')).output.split(' ')[0]!
    expect(published()).toEqual([oldKid])

    const rotated = await keys('rotate', '--overlap', '60s')
    const newKid = /^added (key-\S+) /.exec(rotated.output)![1]!
    clock.advance(2_500) // the schedule file is looked at every 2 s at most
    await vi.waitFor(() => expect(published()).toEqual([newKid, oldKid]))
    expect(await signer()).toBe(`${config.participant.id}#${oldKid}`)

    clock.advance(60_000)
    expect(await signer()).toBe(`${config.participant.id}#${newKid}`)
    expect(published()).toEqual([newKid, oldKid])

    clock.advance(60_000)
    expect(published()).toEqual([newKid])
    expect(await signer()).toBe(`${config.participant.id}#${newKid}`)
    const listed = await keys('list')
    expect(listed.output).toMatch(new RegExp(`^${oldKid} {2}(published|signing)`, 'm')) // by the wall clock, not yet retired
    expect(JSON.parse(readFileSync(join(dir, 'identity', 'key-schedule.json'), 'utf8')).keys).toHaveLength(2)
  })

  it('a key the running connector reads late still waits its overlap before it signs', async () => {
    await initialised()
    store = await createTestStore('sqlite')
    const clock = testClock(Date.now())
    const config = loadConfig(join(dir, 'passerelle.yaml'), { env: {} })
    const identity = await createIdentity({ config, store, clock, ids: testIds(), logger: silentLogger })
    const oldKid = (await keys('list')).output.split(' ')[0]!
    await keys('rotate', '--overlap', '60s')
    clock.advance(61_000) // the connector is first asked after the key's time to sign
    expect(identity.keys!.signing.kid).toBe(oldKid)
    await vi.waitFor(() => expect(identity.didDocument!.verificationMethod).toHaveLength(2))
    expect(identity.keys!.signing.kid).toBe(oldKid)
    clock.advance(60_000)
    expect(identity.keys!.signing.kid).not.toBe(oldKid)
  })
})
