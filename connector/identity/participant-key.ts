import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { calculateJwkThumbprint } from 'jose'

/** The did:web identifier of a connector reachable at host:port (the colon is percent-encoded). */
export const didWebFor = (host: string, port: number) => `did:web:${host}${port === 443 ? '' : `%3A${port}`}`

/**
 * Creates a participant's Ed25519 signing key as a private JWK file readable by its owner only.
 * The key id is the JWK thumbprint, so it never collides when keys are rotated.
 */
export async function createParticipantKey(dir: string): Promise<{ fileName: string; keyId: string }> {
  const { privateKey } = generateKeyPairSync('ed25519')
  const jwk = privateKey.export({ format: 'jwk' })
  const keyId = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! })
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const fileName = 'private-key.jwk'
  writeFileSync(join(dir, fileName), `${JSON.stringify({ ...jwk, kid: keyId, alg: 'EdDSA' }, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  return { fileName, keyId }
}
