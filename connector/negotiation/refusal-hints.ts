/**
 * What a consumer can do about a refusal, from the provider's reason: the flag of `passerelle
 * negotiate` that declares what the request did not say, or the credential it did not present.
 * The reason stays as the provider wrote it; a hint is only added when one fits.
 */
const hints: Array<{ when: RegExp; hint: string }> = [
  { when: /does not say what the purpose is/, hint: 'declare your purpose: pass --purpose (e.g. --purpose climate-research)' },
  {
    when: /does not say what the processing location is/,
    hint: 'declare where the data will be processed: pass --processing-location (e.g. --processing-location CA)',
  },
  { when: /does not say what the sector is/, hint: 'declare your sector: pass --sector (e.g. --sector research)' },
  {
    when: /data-space membership `none`|MembershipCredential is required/,
    hint: "present a MembershipCredential from an issuer the provider trusts (the operator's guide, Credentials, says how to hold one)",
  },
  {
    when: /purpose `[^`]+` is not a kind of/,
    hint: 'the purpose you declared is not one this offer allows; `passerelle policy operands purpose` shows the purposes as a tree',
  },
]

export function refusalHints(reason: string | null | undefined): string[] {
  if (!reason) return []
  return hints.filter((h) => h.when.test(reason)).map((h) => h.hint)
}
