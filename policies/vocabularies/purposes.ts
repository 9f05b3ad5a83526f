import { conceptsFromData, knownPrefixes, Taxonomy, type TaxonomyData } from '../taxonomy.ts'
import dpvPurposes from './dpv-purposes.json' with { type: 'json' }
import passerellePurposes from './passerelle-purposes.json' with { type: 'json' }

/**
 * The purpose taxonomy shipped by default: the W3C Data Privacy Vocabulary's purposes (DPV 2.2,
 * `https://w3id.org/dpv#…`), plus Passerelle's own (`https://w3id.org/passerelle/ns#…`) for what a
 * climate and AI data space must tell apart and DPV does not name: kinds of scientific research,
 * and training, fine-tuning, evaluating or running an AI model, text and data mining. DPV models
 * "training a model" as a processing operation, not a purpose, hence our own purposes for it.
 *
 * The short names policies have always used (`research`, `climate-research`, `marketing`, …) are
 * aliases of these IRIs, with the same broader purposes as before; training an AI model is not a
 * kind of research (`research-ai-training` is training), so "research yes, model training no" can
 * be written with `isA research` and a prohibition of `isA ai-model-training`.
 */
export const purposeData: readonly TaxonomyData[] = [dpvPurposes as TaxonomyData, passerellePurposes as TaxonomyData]

let shipped: Taxonomy | undefined
export function purposeTaxonomy(): Taxonomy {
  if (!shipped) {
    const built = Taxonomy.build(purposeData.flatMap(conceptsFromData), { prefixes: knownPrefixes })
    if (!built.taxonomy) throw new Error(`the shipped purpose taxonomy is broken: ${built.problems[0]?.message}`)
    shipped = built.taxonomy
  }
  return shipped
}
