/**
 * ODRL 2.2 actions (core and common vocabulary) with their `includedIn` parent. `use` and `transfer`
 * are the two roots; every other action is included in one of them, so a permission to `use` covers
 * `read`, and a prohibition of `use` forbids `read` too. `write` is deprecated in ODRL 2.2 (replaced by
 * `modify`) but still appears in policies, so it is kept as a kind of `modify`.
 */
const parents: Record<string, string | null> = {
  use: null,
  transfer: null,
  // under transfer
  give: 'transfer',
  sell: 'transfer',
  // under use
  acceptTracking: 'use', aggregate: 'use', annotate: 'use', anonymize: 'use', archive: 'use',
  attribute: 'use', compensate: 'use', concurrentUse: 'use', delete: 'use', derive: 'use',
  digitize: 'use', display: 'use', distribute: 'use', ensureExclusivity: 'use', execute: 'use',
  extract: 'use', grantUse: 'use', include: 'use', index: 'use', inform: 'use', install: 'use',
  modify: 'use', move: 'use', nextPolicy: 'use', obtainConsent: 'use', play: 'use', present: 'use',
  print: 'use', read: 'use', reproduce: 'use', reviewPolicy: 'use', stream: 'use',
  synchronize: 'use', textToSpeech: 'use', transform: 'use', translate: 'use', uninstall: 'use',
  watermark: 'use',
  // narrower ones
  write: 'modify',
}

export const odrlNamespace = 'http://www.w3.org/ns/odrl/2/'

export const knownActions = (): string[] => Object.keys(parents)

export const isKnownAction = (action: string): boolean => action in parents

/** The action's short name when it is an ODRL IRI or `odrl:` name; otherwise unchanged. */
export function shortAction(action: string): string {
  if (action.startsWith(odrlNamespace)) return action.slice(odrlNamespace.length)
  if (action.startsWith('odrl:')) return action.slice(5)
  return action
}

/** True when `requested` is `granted` or included in it (transitively). Unknown actions match only themselves. */
export function actionIncludedIn(requested: string, granted: string): boolean {
  let current: string | null | undefined = shortAction(requested)
  const target = shortAction(granted)
  for (let depth = 0; current && depth < 8; depth++) {
    if (current === target) return true
    current = parents[current]
  }
  return false
}

/** Compact form in DSP JSON-LD: `use` is a term of the DSP ODRL profile, the rest need the `odrl:` prefix. */
export function compactAction(action: string): string {
  const short = shortAction(action)
  if (short === 'use') return 'use'
  if (isKnownAction(short)) return `odrl:${short}`
  return action
}
