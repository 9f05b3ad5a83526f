import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { runCredentialsCommand } from './cli.ts'

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
      ['issue', '--issuer', 'authority/private-key.jwk', '--subject', 'did:web:127.0.0.1%3A8181', '--type', 'MembershipCredential', '--claim', 'sector=health', '--claim', 'country=CA'],
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
