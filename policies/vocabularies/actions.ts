/**
 * ODRL 2.2 actions with their `includedIn` parent, exactly as the ODRL 2.2 vocabulary
 * (spec/odrl-2.2/ODRL22.ttl) states them; a test reads that file and checks every relation both
 * ways. `use` and `transfer` are the roots, so a permission to `use` covers `read`, and a
 * prohibition of `use` forbids `read` too. The vocabulary states no `implies` relation.
 * Actions the vocabulary marks deprecated (`write`, `copy`, `pay`, …) are not understood: a policy
 * using one is invalid, and lint names the replacement.
 */
const parents: Record<string, string | null> = {
  use: null,
  transfer: null,
  // under transfer
  give: 'transfer',
  sell: 'transfer',
  // under use
  acceptTracking: 'use',
  aggregate: 'use',
  annotate: 'use',
  anonymize: 'use',
  archive: 'use',
  attribute: 'use',
  compensate: 'use',
  concurrentUse: 'use',
  delete: 'use',
  derive: 'use',
  digitize: 'use',
  distribute: 'use',
  ensureExclusivity: 'use',
  execute: 'use',
  grantUse: 'use',
  include: 'use',
  index: 'use',
  inform: 'use',
  install: 'use',
  modify: 'use',
  move: 'use',
  nextPolicy: 'use',
  obtainConsent: 'use',
  play: 'use',
  present: 'use',
  print: 'use',
  read: 'use',
  reproduce: 'use',
  reviewPolicy: 'use',
  stream: 'use',
  synchronize: 'use',
  textToSpeech: 'use',
  transform: 'use',
  translate: 'use',
  uninstall: 'use',
  watermark: 'use',
  // narrower ones
  display: 'play',
  extract: 'reproduce',
}

/** Deprecated ODRL 2.2 actions and the action the vocabulary says replaces them (`skos:exactMatch`), if any. */
export const deprecatedActions: Record<string, string | undefined> = {
  append: 'modify',
  appendTo: 'modify',
  copy: 'reproduce',
  export: 'transform',
  lease: undefined,
  license: 'grantUse',
  lend: undefined,
  pay: 'compensate',
  preview: undefined,
  secondaryUse: undefined,
  write: 'modify',
  writeTo: 'modify',
  adHocShare: undefined,
  extractChar: undefined,
  extractPage: undefined,
  extractWord: undefined,
  attachPolicy: undefined,
  attachSource: undefined,
  shareAlike: undefined,
  commercialize: undefined,
  share: undefined,
}

/**
 * A requested action by its current name: a deprecated one the vocabulary says is exactly another
 * (`write` is `modify`) is that one; others are unchanged (and unknown ones match nothing).
 */
export function currentAction(action: string): string {
  const short = shortAction(action)
  return (Object.hasOwn(deprecatedActions, short) ? deprecatedActions[short] : undefined) ?? short
}

/** Every `includedIn` relation, child → parent, for tests and documentation. */
export const actionParents = (): Record<string, string | null> => ({ ...parents })

export const odrlNamespace = 'http://www.w3.org/ns/odrl/2/'

export const knownActions = (): string[] => Object.keys(parents)

// Own keys only: `constructor` or `toString` from a peer is no action.
export const isKnownAction = (action: string): boolean => Object.hasOwn(parents, action)

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
    current = Object.hasOwn(parents, current) ? parents[current] : undefined
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
