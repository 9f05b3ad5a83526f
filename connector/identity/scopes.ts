import { PasserelleError } from '../errors.ts'

/**
 * DCP scopes name credential types: `<alias>:<CredentialType>:<operation>` (EDC's default alias is
 * `org.eclipse.edc.vc.type`, the DCP specification's examples use `org.eclipse.dspace.dcp.vc.type`).
 * Two-part scopes `<alias>:<CredentialType>` are accepted as `read`.
 */
export const defaultScopeAlias = 'org.eclipse.edc.vc.type'

export const scopeFor = (type: string, alias = defaultScopeAlias) => `${alias}:${type}:read`

/** The credential type a scope asks to read; throws `bad_request` for anything else. */
export function credentialTypeOfScope(scope: string): string {
  const parts = scope.split(':')
  const [alias, type, operation] = parts
  const valid =
    (parts.length === 2 || parts.length === 3) &&
    !!alias &&
    !!type &&
    /^[A-Za-z0-9._-]+$/.test(type) &&
    (parts.length === 2 || operation === 'read' || operation === 'all' || operation === '*')
  if (!valid) throw new PasserelleError('bad_request', `scope ${JSON.stringify(scope.slice(0, 200))} is not <alias>:<CredentialType>:read`)
  return type
}
