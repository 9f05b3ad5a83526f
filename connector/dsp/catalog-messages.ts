import { z } from 'zod'
import { DspContext } from './context.ts'

/**
 * DSP 2025-1 catalog messages, derived from the published schemas in spec/dsp-2025-1/catalog/, read
 * in their canonical compact form (see `json-ld.ts`). The `filter` entries are checked by the
 * catalog's own filter reader (`catalog/filter.ts`): the schema only says it is an array.
 */
export const CatalogRequestMessage = z.looseObject({
  '@context': DspContext,
  '@type': z.literal('CatalogRequestMessage'),
  filter: z.array(z.unknown()).optional(),
})
export type CatalogRequestMessage = z.infer<typeof CatalogRequestMessage>

/** Sent by a client that knows a dataset's id (the HTTPS binding uses `GET …/catalog/datasets/:id` instead). */
export const DatasetRequestMessage = z.looseObject({
  '@context': DspContext,
  '@type': z.literal('DatasetRequestMessage'),
  dataset: z.string().min(1).max(2048),
})
export type DatasetRequestMessage = z.infer<typeof DatasetRequestMessage>

export const CatalogError = z.looseObject({
  '@context': DspContext,
  '@type': z.literal('CatalogError'),
  code: z.string().optional(),
  reason: z.array(z.unknown()).optional(),
})
export type CatalogError = z.infer<typeof CatalogError>
