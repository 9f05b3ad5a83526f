import { describe, expect, it } from 'vitest'
import { didWebDocumentPath, didWebDocumentUrl, didWebForUrl, parseDidWeb } from './did-web.ts'

describe('did:web identifiers', () => {
  it('derives the identifier of a base URL, encoding the port', () => {
    expect(didWebForUrl('http://127.0.0.1:8181')).toBe('did:web:127.0.0.1%3A8181')
    expect(didWebForUrl('https://data.example.org/')).toBe('did:web:data.example.org')
    expect(didWebForUrl('https://example.org:8443/users/alice')).toBe('did:web:example.org%3A8443:users:alice')
  })

  it('maps identifiers to HTTPS document addresses', () => {
    expect(didWebDocumentUrl('did:web:example.org').toString()).toBe('https://example.org/.well-known/did.json')
    expect(didWebDocumentUrl('did:web:example.org%3A8443:users:alice').toString()).toBe('https://example.org:8443/users/alice/did.json')
    expect(didWebDocumentPath('did:web:example.org:users:alice')).toBe('/users/alice/did.json')
  })

  it('uses plain HTTP only for loopback hosts, and only when allowed', () => {
    expect(didWebDocumentUrl('did:web:127.0.0.1%3A8181', { allowInsecureLoopback: true }).toString()).toBe('http://127.0.0.1:8181/.well-known/did.json')
    expect(didWebDocumentUrl('did:web:localhost%3A8181', { allowInsecureLoopback: true }).protocol).toBe('http:')
    expect(didWebDocumentUrl('did:web:127.0.0.1%3A8181').protocol).toBe('https:')
    expect(didWebDocumentUrl('did:web:example.org', { allowInsecureLoopback: true }).protocol).toBe('https:')
  })

  it('refuses identifiers that smuggle another host, credentials or a path', () => {
    for (const did of [
      'did:web:evil.example%2Fpath',
      'did:web:user%40evil.example',
      'did:web:example.org:..:x',
      'did:web:',
      'did:key:z6Mk',
      'did:web:a%ZZ',
      'did:web:example.org%3A99999',
    ]) {
      expect(() => parseDidWeb(did), did).toThrow(/did:web|not a did:web/)
    }
  })
})
