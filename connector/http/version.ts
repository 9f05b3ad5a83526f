import { type Config, dspPaths } from '../config/config.ts'
import { supportedProfiles } from '../../policies/index.ts'
import { credentialProfiles } from '../identity/credential-profiles.ts'

/**
 * `/.well-known/dspace-version`: plain JSON (no `@context`), unauthenticated, one entry per
 * protocol version we speak (`dsp.versions`), with the path of its base relative to our host. One
 * document serves both versions: DSP 2025-1 made it plain JSON, and the 2024-1 readers we know
 * (EDC's among them) read `protocolVersions` only (see docs/adr/0012-dsp-2024-1-beside-2025-1.md). `odrlProfiles` (an
 * addition the schema allows) lists the ODRL profiles our policy engine implements: a policy naming
 * another profile is refused as invalid. `auth.profile` lists the DCP credential profiles we verify.
 */
export function versionDocument(config: Config) {
  return {
    protocolVersions: config.dsp.versions.map((version) => ({
      version,
      path: new URL(config.server.publicUrl).pathname.replace(/\/+$/, '') + dspPaths[version],
      binding: 'HTTPS',
      odrlProfiles: [...supportedProfiles],
      ...(config.identity.mode === 'dcp' ? { identifierType: 'did:web', auth: { protocol: 'DCP', version: '1.0', profile: [...credentialProfiles] } } : {}),
    })),
  }
}
