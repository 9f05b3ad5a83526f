import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { runAuthorityCommand, runCredentialsCommand } from './cli.ts'
import { bitAt, decodeBitstring } from './status-list.ts'

describe('passerelle credentials', () => {
  let dir: string
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  function io() {
    const out: string[] = []
    const err: string[] = []
    return { out, err, io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s), cwd: dir } }
  }

  it('creates a development authority and issues a signed membership credential with claims', async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-'))
    const init = io()
    expect(await runCredentialsCommand(['authority', 'init', 'authority', '--port', '8190'], init.io)).toBe(0)
    expect(statSync(join(dir, 'authority', 'private-key.jwk')).mode & 0o777).toBe(0o600)
    const document = JSON.parse(readFileSync(join(dir, 'authority', 'did.json'), 'utf8'))
    expect(document.id).toBe('did:web:127.0.0.1%3A8190')

    const issued = io()
    const code = await runCredentialsCommand(
      [
        'issue',
        '--issuer',
        'authority/private-key.jwk',
        '--subject',
        'did:web:127.0.0.1%3A8181',
        '--type',
        'MembershipCredential',
        '--claim',
        'sector=health',
        '--claim',
        'country=CA',
      ],
      issued.io,
    )
    expect(code).toBe(0)
    const jwt = issued.out.join('').trim()
    expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: 'EdDSA', kid: 'did:web:127.0.0.1%3A8190#authority-key-1' })
    expect(decodeJwt(jwt)).toMatchObject({
      iss: 'did:web:127.0.0.1%3A8190',
      sub: 'did:web:127.0.0.1%3A8181',
      vc: { type: ['VerifiableCredential', 'MembershipCredential'], credentialSubject: { id: 'did:web:127.0.0.1%3A8181', sector: 'health', country: 'CA' } },
    })
  })

  it('an authority made with --profile vc20-bssl/jwt issues VC data model 2.0 credentials and status lists; --profile chooses per credential', async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-'))
    expect(await runCredentialsCommand(['authority', 'init', 'authority', '--port', '8191', '--profile', 'vc20-bssl/jwt'], io().io)).toBe(0)
    const list = decodeJwt(readFileSync(join(dir, 'authority', 'status', 'revocation.jwt'), 'utf8').trim())
    expect(list).toMatchObject({ '@context': ['https://www.w3.org/ns/credentials/v2'], type: ['VerifiableCredential', 'BitstringStatusListCredential'] })
    expect(list.vc).toBeUndefined()
    const issue = async (...extra: string[]) => {
      const run = io()
      const args = ['issue', '--issuer', 'authority/private-key.jwk', '--subject', 'did:web:127.0.0.1%3A8181', '--type', 'MembershipCredential', ...extra]
      expect(await runCredentialsCommand(args, run.io)).toBe(0)
      return decodeJwt(run.out.join('').trim())
    }
    const v20 = await issue()
    expect(v20).toMatchObject({ '@context': ['https://www.w3.org/ns/credentials/v2'], validFrom: expect.any(String), validUntil: expect.any(String) })
    expect(v20.credentialStatus).toHaveLength(2)
    const v11 = await issue('--profile', 'vc11-sl2021/jwt')
    expect(v11.vc).toMatchObject({ '@context': ['https://www.w3.org/2018/credentials/v1'], expirationDate: expect.any(String) })
    const wrong = io()
    expect(
      await runCredentialsCommand(['issue', '--issuer', 'authority/private-key.jwk', '--subject', 'did:web:x', '--type', 'T', '--profile', 'vc30'], wrong.io),
    ).toBe(2)
    expect(wrong.err.join('')).toContain("--profile: expected vc11-sl2021/jwt or vc20-bssl/jwt, got 'vc30'")
  })

  it('marks a development authority key as published with --dev-only', async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-'))
    expect(await runCredentialsCommand(['authority', 'init', 'dev', '--dev-only'], io().io)).toBe(0)
    expect(JSON.parse(readFileSync(join(dir, 'dev', 'private-key.jwk'), 'utf8'))).toMatchObject({ devOnly: true, kid: 'authority-key-1' })
  })

  it('answers usage errors with exit code 2 and one line', async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-'))
    const run = io()
    expect(await runCredentialsCommand(['issue', '--subject', 'did:web:x'], run.io)).toBe(2)
    expect(run.err.join('')).toMatch(/--issuer KEYFILE, --subject DID and --type TYPE are required/)
    expect(await runCredentialsCommand(['frobnicate'], run.io)).toBe(2)
  })

  it('refuses to issue with a key file others can read', async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-'))
    await runCredentialsCommand(['authority', 'init', 'a'], io().io)
    const { chmodSync } = await import('node:fs')
    chmodSync(join(dir, 'a', 'private-key.jwk'), 0o640)
    const run = io()
    expect(await runCredentialsCommand(['issue', '--issuer', 'a/private-key.jwk', '--subject', 'did:web:x', '--type', 'MembershipCredential'], run.io)).toBe(2)
    expect(run.err.join('')).toMatch(/readable by group or others/)
  })
})

describe('passerelle authority revoke|suspend|reinstate', () => {
  let dir: string
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  function io() {
    const out: string[] = []
    const err: string[] = []
    return { out, err, io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s), cwd: dir } }
  }
  /** The bit of `index` in a published list. */
  function published(purpose: string, index: number) {
    const jwt = readFileSync(join(dir, 'authority', 'status', `${purpose}.jwt`), 'utf8').trim()
    const vc = (decodeJwt(jwt) as { vc: { type: string[]; credentialSubject: { statusPurpose: string; encodedList: string; ttl: number } } }).vc
    expect(vc.type).toEqual(['VerifiableCredential', 'BitstringStatusListCredential'])
    expect(vc.credentialSubject.statusPurpose).toBe(purpose)
    const bits = decodeBitstring(vc.credentialSubject.encodedList, 1024 * 1024)
    expect(bits.length).toBe(16_384)
    return bitAt(bits, index)
  }
  async function issue(subject: string) {
    const run = io()
    expect(
      await runCredentialsCommand(['issue', '--issuer', 'authority/private-key.jwk', '--subject', subject, '--type', 'MembershipCredential'], run.io),
    ).toBe(0)
    const payload = decodeJwt(run.out.join('').trim()) as {
      jti: string
      vc: { credentialStatus: Array<{ statusPurpose: string; statusListIndex: string; statusListCredential: string; type: string }> }
    }
    return { id: payload.jti, status: payload.vc.credentialStatus, index: Number(payload.vc.credentialStatus[0]!.statusListIndex) }
  }

  it('issues credentials with a revocation and a suspension entry, and flips their bits by id or subject', async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-'))
    expect(await runCredentialsCommand(['authority', 'init', 'authority', '--port', '8190'], io().io)).toBe(0)
    const first = await issue('did:web:127.0.0.1%3A8181')
    const second = await issue('did:web:127.0.0.1%3A8182')
    expect(first.status).toEqual([
      {
        id: `http://127.0.0.1:8190/status/revocation#${first.index}`,
        type: 'BitstringStatusListEntry',
        statusPurpose: 'revocation',
        statusListIndex: String(first.index),
        statusListCredential: 'http://127.0.0.1:8190/status/revocation',
      },
      {
        id: `http://127.0.0.1:8190/status/suspension#${first.index}`,
        type: 'BitstringStatusListEntry',
        statusPurpose: 'suspension',
        statusListIndex: String(first.index),
        statusListCredential: 'http://127.0.0.1:8190/status/suspension',
      },
    ])
    expect(second.index).not.toBe(first.index)
    expect(published('revocation', first.index)).toBe(false)

    const suspend = io()
    expect(await runAuthorityCommand(['suspend', 'authority', '--subject', 'did:web:127.0.0.1%3A8181'], suspend.io)).toBe(0)
    expect(suspend.out.join('')).toContain(`suspended ${first.id}`)
    expect(published('suspension', first.index)).toBe(true)
    expect(published('suspension', second.index)).toBe(false)
    expect(await runAuthorityCommand(['reinstate', 'authority', '--credential', first.id], io().io)).toBe(0)
    expect(published('suspension', first.index)).toBe(false)

    expect(await runAuthorityCommand(['revoke', 'authority', '--credential', second.id], io().io)).toBe(0)
    expect(published('revocation', second.index)).toBe(true)
    expect(published('revocation', first.index)).toBe(false)
    const reinstate = io()
    expect(await runAuthorityCommand(['reinstate', 'authority', '--credential', second.id], reinstate.io)).toBe(1)
    expect(reinstate.err.join('')).toMatch(/is revoked, which is permanent; nothing was changed/)
    expect(published('revocation', second.index)).toBe(true)
  })

  it('refuses an unknown credential, a missing or double selector, and leaves --no-status credentials without status', async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-'))
    await runCredentialsCommand(['authority', 'init', 'authority'], io().io)
    const run = io()
    expect(await runAuthorityCommand(['revoke', 'authority', '--credential', 'urn:uuid:nope'], run.io)).toBe(1)
    expect(run.err.join('')).toMatch(/no credential with a status was issued .* for credential urn:uuid:nope; nothing was changed/)
    expect(await runAuthorityCommand(['revoke', 'authority'], run.io)).toBe(2)
    expect(await runAuthorityCommand(['revoke', 'authority', '--credential', 'a', '--subject', 'did:web:x'], run.io)).toBe(2)
    expect(await runAuthorityCommand(['frobnicate'], run.io)).toBe(2)
    const plain = io()
    expect(
      await runCredentialsCommand(
        ['issue', '--issuer', 'authority/private-key.jwk', '--subject', 'did:web:x', '--type', 'MembershipCredential', '--no-status'],
        plain.io,
      ),
    ).toBe(0)
    expect((decodeJwt(plain.out.join('').trim()) as { vc: Record<string, unknown> }).vc.credentialStatus).toBeUndefined()
  })

  it('adds no status in a folder that publishes no lists, until `authority publish` starts them', async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-'))
    await runCredentialsCommand(['authority', 'init', 'authority'], io().io)
    rmSync(join(dir, 'authority', 'status'), { recursive: true })
    const statusOf = async () => {
      const run = io()
      expect(
        await runCredentialsCommand(['issue', '--issuer', 'authority/private-key.jwk', '--subject', 'did:web:x', '--type', 'MembershipCredential'], run.io),
      ).toBe(0)
      return (decodeJwt(run.out.join('').trim()) as { vc: Record<string, unknown> }).vc.credentialStatus
    }
    expect(await statusOf()).toBeUndefined()
    expect(await runAuthorityCommand(['publish', 'authority'], io().io)).toBe(0)
    expect(published('suspension', 0)).toBe(false)
    expect(await statusOf()).toHaveLength(2)
  })
})
