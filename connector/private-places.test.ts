import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from './config/config.ts'
import { distributionFiles, privatePlaces, securePrivatePlaces } from './private-places.ts'

const mode = (path: string) => statSync(path).mode & 0o777

let dirs: string[] = []
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  dirs = []
})

function participant(yaml: string, env: Record<string, string> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'private-places-'))
  dirs.push(root)
  writeFileSync(join(root, 'passerelle.yaml'), `participant: { id: 'did:web:example.org', name: Example }\n${yaml}`, { mode: 0o644 })
  chmodSync(join(root, 'passerelle.yaml'), 0o644)
  return { root, config: loadConfig(join(root, 'passerelle.yaml'), { env }) }
}

describe('private places', () => {
  it('on SQLite: creates the data folder 0700 and an empty database 0600 when missing, and changes nothing else', () => {
    const { root, config } = participant('')
    expect(securePrivatePlaces(config)).toEqual([])
    expect(mode(join(root, 'data'))).toBe(0o700)
    expect(mode(join(root, 'data/passerelle.db'))).toBe(0o600)
    // No management key in the file: its mode is the operator's business.
    expect(mode(join(root, 'passerelle.yaml'))).toBe(0o644)
  })

  it('narrows a loose data folder, database, -wal, -shm and a configuration holding the management key, and says what it changed', () => {
    const { root, config } = participant('management: { apiKey: a-management-key-long-enough }\n')
    mkdirSync(join(root, 'data'), { mode: 0o755 })
    chmodSync(join(root, 'data'), 0o755)
    for (const name of ['passerelle.db', 'passerelle.db-wal', 'passerelle.db-shm']) writeFileSync(join(root, 'data', name), '', { mode: 0o666 })
    for (const name of ['passerelle.db', 'passerelle.db-wal', 'passerelle.db-shm']) chmodSync(join(root, 'data', name), 0o664)
    const changes = securePrivatePlaces(config)
    expect(changes.map(({ path, from, to }) => [path.slice(root.length + 1), from, to])).toEqual([
      ['data', 0o755, 0o700],
      ['data/passerelle.db', 0o664, 0o600],
      ['data/passerelle.db-wal', 0o664, 0o600],
      ['data/passerelle.db-shm', 0o664, 0o600],
      ['passerelle.yaml', 0o644, 0o600],
    ])
    for (const path of ['data/passerelle.db', 'data/passerelle.db-wal', 'data/passerelle.db-shm', 'passerelle.yaml'])
      expect(mode(join(root, path)), path).toBe(0o600)
    // A second start finds nothing to change.
    expect(securePrivatePlaces(config)).toEqual([])
  })

  it('leaves a loose key file alone (loading refuses it) and does not count a key given only by the environment as in the file', () => {
    const { root, config } = participant('', { PASSERELLE_MANAGEMENT_KEY: 'a-management-key-from-the-environment' })
    mkdirSync(join(root, 'identity'))
    writeFileSync(join(root, 'identity/private-key.jwk'), '{}', { mode: 0o644 })
    chmodSync(join(root, 'identity/private-key.jwk'), 0o644)
    expect(securePrivatePlaces(config)).toEqual([])
    expect(mode(join(root, 'identity/private-key.jwk'))).toBe(0o644)
    expect(mode(join(root, 'passerelle.yaml'))).toBe(0o644)
  })

  it('on PostgreSQL: no database file, the data folder still 0700, and nothing of the database among the private places', () => {
    const { root, config } = participant('database: { url: "postgres://postgres@127.0.0.1:5432/x" }\n')
    expect(securePrivatePlaces(config)).toEqual([])
    expect(mode(join(root, 'data'))).toBe(0o700)
    expect(existsSync(join(root, 'data/passerelle.db'))).toBe(false)
    expect(privatePlaces(config).map((p) => p.what)).not.toContain("the database (it holds the data plane's token secret)")
  })

  it('names the files root and every place distributions may never name', () => {
    const { root, config } = participant('identity: { keyFiles: [keys/signing.jwk], credentialFiles: [held/membership.jwt] }\ncatalog: { filesDir: . }\n')
    const files = distributionFiles(config)
    expect(files.root).toBe(root)
    expect(files.private.map((p) => [p.path.slice(root.length + 1), p.what])).toEqual([
      ['data', 'the data folder (database, received data)'],
      ['data/passerelle.db', "the database (it holds the data plane's token secret)"],
      ['data/passerelle.db-wal', "the database's wal file"],
      ['data/passerelle.db-shm', "the database's shm file"],
      ['keys/signing.jwk', 'a private identity key'],
      ['keys', 'the identity folder'],
      ['identity/key-schedule.json', 'the key schedule'],
      ['identity/keys', 'the folder of rotated identity keys'],
      ['passerelle.yaml', 'the configuration'],
      ['held/membership.jwt', 'a held credential'],
    ])
  })
})
