/** The DSP 2025-1 JSON-LD context every message carries (as the only entry of an array). */
export const dspContextUrl = 'https://w3id.org/dspace/2025/1/context.jsonld'
export const dspContext: string[] = [dspContextUrl]
