import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, resolveConfig } from './config.ts'

const minimal = { participant: { id: 'did:web:example.org', name: 'Example' } }

function writeConfig(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-config-'))
  const file = join(dir, 'passerelle.yaml')
  writeFileSync(file, text)
  return { dir, file }
}

describe('configuration', () => {
  it('fills defaults and resolves paths against the participant folder', () => {
    const config = resolveConfig(minimal, '/srv/participant', { env: {} })
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8181, bodyLimit: 1048576, publicUrl: 'http://127.0.0.1:8181' })
    expect(config.dataDir).toBe('/srv/participant/data')
    expect(config.database.url).toBe('/srv/participant/data/passerelle.db')
    expect(config.dspUrl).toBe('http://127.0.0.1:8181/dsp/2025-1')
  })

  it('lets environment variables override the file', () => {
    const config = resolveConfig(minimal, '/p', {
      env: {
        PASSERELLE_PORT: '9090',
        PASSERELLE_HOST: '0.0.0.0',
        PASSERELLE_DATABASE_URL: 'postgres://db.example/passerelle',
        PASSERELLE_MANAGEMENT_KEY: 'a-long-enough-management-key',
        PASSERELLE_PUBLIC_URL: 'https://connector.example.org/',
      },
    })
    expect(config.server.port).toBe(9090)
    expect(config.server.host).toBe('0.0.0.0')
    expect(config.database.url).toBe('postgres://db.example/passerelle')
    expect(config.management.apiKey).toBe('a-long-enough-management-key')
    expect(config.dspUrl).toBe('https://connector.example.org/dsp/2025-1')
  })

  it('applies command-line overrides last', () => {
    const config = resolveConfig(minimal, '/p', { env: { PASSERELLE_PORT: '9090' }, overrides: { 'server.port': '7000' } })
    expect(config.server.port).toBe(7000)
  })

  it('names the key, the source and the expectation for a wrong type', () => {
    const { file } = writeConfig('participant: { id: x, name: y }\nserver:\n  port: lots\n')
    expect(() => loadConfig(file, { env: {} })).toThrow(ConfigError)
    expect(() => loadConfig(file, { env: {} })).toThrow(/invalid configuration key server\.port \(.*passerelle\.yaml\): expected number/)
  })

  it('names the environment variable when it is the one at fault', () => {
    expect(() => resolveConfig(minimal, '/p', { env: { PASSERELLE_PORT: 'eighty' } })).toThrow(/server\.port \(environment variable PASSERELLE_PORT\)/)
  })

  it('refuses unknown keys, so a typo never goes unnoticed', () => {
    expect(() => resolveConfig({ ...minimal, sever: {} }, '/p', { env: {} })).toThrow(/unknown key sever/)
    expect(() => resolveConfig({ ...minimal, server: { prot: 1 } }, '/p', { env: {} })).toThrow(/server.*unknown key prot/)
  })

  it('says which key is missing', () => {
    expect(() => resolveConfig({ participant: { id: 'x' } }, '/p', { env: {} })).toThrow(/participant\.name.*missing/)
  })

  it('refuses a short management key', () => {
    expect(() => resolveConfig({ ...minimal, management: { apiKey: 'short' } }, '/p', { env: {} })).toThrow(/management\.apiKey.*at least 16/)
  })

  it('reports YAML syntax errors with their line', () => {
    const { file } = writeConfig('participant:\n  id: x\n  name: [unclosed\n')
    expect(() => loadConfig(file, { env: {} })).toThrow(/passerelle\.yaml:\d+: not valid YAML/)
  })

  it('reports a missing file without a stack of causes', () => {
    expect(() => loadConfig('/nonexistent/passerelle.yaml', { env: {} })).toThrow(/cannot read configuration file .*ENOENT/)
  })

  it('reads the egress allow-list from the file or from a comma-separated variable, and names a bad entry', () => {
    const fromFile = resolveConfig({ ...minimal, egress: { allow: ['127.0.0.1:8381', '10.0.0.0/8'], didHosts: ['example.org'] } }, '/p', { env: {} })
    expect(fromFile.egress).toEqual({ allow: ['127.0.0.1:8381', '10.0.0.0/8'], didHosts: ['example.org'] })
    const fromEnv = resolveConfig(minimal, '/p', {
      env: { PASSERELLE_EGRESS_ALLOW: '127.0.0.1:8381, [::1]:8382', PASSERELLE_EGRESS_DID_HOSTS: '127.0.0.1:8381' },
    })
    expect(fromEnv.egress).toEqual({ allow: ['127.0.0.1:8381', '[::1]:8382'], didHosts: ['127.0.0.1:8381'] })
    expect(resolveConfig(minimal, '/p', { env: {} }).egress).toEqual({ allow: [] })
    expect(() => resolveConfig({ ...minimal, egress: { allow: ['127.0.0.1'] } }, '/p', { env: {} })).toThrow(
      /invalid configuration key egress\.allow\.0 \(configuration\): "127\.0\.0\.1" is neither host:port .* nor a CIDR range/,
    )
    expect(() => resolveConfig(minimal, '/p', { env: { PASSERELLE_EGRESS_ALLOW: '127.0.0.1:8381,10.0.0.0/40' } })).toThrow(
      /egress\.allow\.1 \(environment variable PASSERELLE_EGRESS_ALLOW\): "10\.0\.0\.0\/40" is not a CIDR range/,
    )
    expect(() => resolveConfig({ ...minimal, egress: { didHosts: ['https://x.example'] } }, '/p', { env: {} })).toThrow(/egress\.didHosts\.0.*host name/)
    expect(() => resolveConfig({ ...minimal, egress: { alow: [] } }, '/p', { env: {} })).toThrow(/unknown key alow/)
  })
})
