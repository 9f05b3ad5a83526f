import { z } from 'zod'

/** The DSP 2025-1 JSON-LD context every message carries (as the only entry of an array). */
export const dspContextUrl = 'https://w3id.org/dspace/2025/1/context.jsonld'
export const dspContext: string[] = [dspContextUrl]

/** A message's `@context`: an array holding the DSP context, as the published schema requires. */
export const DspContext = z
  .array(z.string())
  .refine((context) => context.includes(dspContextUrl), { message: `@context must be an array containing ${dspContextUrl}` })

/** A process id (`providerPid`, `consumerPid`). */
export const Pid = z.string().min(1).max(512)
