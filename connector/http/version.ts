import type { Config } from '../config/config.ts'

/**
 * `/.well-known/dspace-version`: plain JSON (no `@context`), unauthenticated, one entry per
 * protocol version we speak, with the path of its base relative to our host.
 */
export function versionDocument(config: Config) {
  return {
    protocolVersions: [
      {
        version: '2025-1',
        path: new URL(config.dspUrl).pathname,
        binding: 'HTTPS',
        ...(config.identity.mode === 'dcp'
          ? { identifierType: 'did:web', auth: { protocol: 'DCP', version: '1.0', profile: ['vc11-sl2021/jwt'] } }
          : {}),
      },
    ],
  }
}
