import { PasserelleError } from '../errors.ts'

/**
 * DCP scopes: `<alias>:<discriminator>:<operation>`. The DCP specification defines the aliases
 * `org.eclipse.dspace.dcp.vc.type` (the discriminator is a credential type) and
 * `org.eclipse.dspace.dcp.vc.id` (a credential id); Eclipse EDC before DCP 1.0 wrote
 * `org.eclipse.edc.vc.type`. Operations `read`, `all` and `*` read; a two-part scope
 * `<alias>:<CredentialType>` is read as `read`. A type discriminator may be prefixed by its
 * vocabulary (`https://example.org/ns#MembershipCredential`): the type is the part after `#`.
 */
export const dcpTypeAlias = 'org.eclipse.dspace.dcp.vc.type'
export const dcpIdAlias = 'org.eclipse.dspace.dcp.vc.id'
export const edcTypeAlias = 'org.eclipse.edc.vc.type'
export const defaultScopeAlias = dcpTypeAlias

export const scopeFor = (type: string, alias = defaultScopeAlias) => `${alias}:${type}:read`

export type Scope = { type: string } | { id: string }

const readOperations = ['read', 'all', '*']
const typePattern = /^[A-Za-z0-9._-]{1,200}$/

/**
 * What a scope asks to read; throws `bad_request` for anything else. `typeAliases` are the aliases
 * that name a type (besides DCP's and EDC's, the one this participant is configured to send).
 */
export function parseScope(scope: string, typeAliases: readonly string[] = []): Scope {
  const refuse = (why: string) =>
    new PasserelleError(
      'bad_request',
      `scope ${JSON.stringify(scope.slice(0, 200))} ${why}; expected ${dcpTypeAlias}:<CredentialType>:read or ${dcpIdAlias}:<credential id>:read`,
    )
  // The discriminator lies between the first and the last colon (a credential id may hold colons).
  const first = scope.indexOf(':')
  const last = scope.lastIndexOf(':')
  if (first <= 0) throw refuse('has no alias')
  const alias = scope.slice(0, first)
  const twoPart = first === last
  const discriminator = twoPart ? scope.slice(first + 1) : scope.slice(first + 1, last)
  const operation = twoPart ? 'read' : scope.slice(last + 1)
  if (!readOperations.includes(operation)) throw refuse(`asks for operation ${JSON.stringify(operation.slice(0, 20))}, not read`)
  if (discriminator === '') throw refuse('names no credential')
  if (alias === dcpIdAlias) {
    if (twoPart || discriminator.length > 400 || /\s/.test(discriminator)) throw refuse('is not a credential id scope')
    return { id: discriminator }
  }
  if (alias !== dcpTypeAlias && alias !== edcTypeAlias && !typeAliases.includes(alias))
    throw refuse(`has an unknown alias ${JSON.stringify(alias.slice(0, 60))}`)
  const type = discriminator.slice(discriminator.lastIndexOf('#') + 1)
  if (!typePattern.test(type)) throw refuse('does not name a credential type')
  return { type }
}

/** The credential type a scope asks to read; throws `bad_request` for anything else, an id scope included. */
export function credentialTypeOfScope(scope: string, typeAliases: readonly string[] = []): string {
  const parsed = parseScope(scope, typeAliases)
  if ('type' in parsed) return parsed.type
  throw new PasserelleError('bad_request', `scope ${JSON.stringify(scope.slice(0, 200))} names a credential id, not a type`)
}
