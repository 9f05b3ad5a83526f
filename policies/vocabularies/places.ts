/**
 * Places for the `spatial` operand: ISO 3166-1 alpha-2 countries, ISO 3166-2 subdivisions (`CA-QC`,
 * `FR-75`: part of their country), and groupings (`EU`, `EEA`, …) that countries are part of.
 * Canadian subdivisions are listed in full; elsewhere any well-formed `XX-YYY` code of a listed
 * country is accepted as a subdivision of it.
 */
const countries = (
  'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS ' +
  'BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE ' +
  'EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM ' +
  'HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC ' +
  'LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA ' +
  'NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW ' +
  'SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO ' +
  'TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'
).split(' ')

const canadianSubdivisions = 'AB BC MB NB NL NS NT NU ON PE QC SK YT'.split(' ').map((code) => `CA-${code}`)

const eu = 'AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK'.split(' ')

/** Groupings: each lists its member countries (or other places). */
export const placeGroups: Record<string, { label: string; members: string[] }> = {
  EU: { label: 'the European Union', members: eu },
  EEA: { label: 'the European Economic Area', members: [...eu, 'IS', 'LI', 'NO'] },
  EFTA: { label: 'the European Free Trade Association', members: ['CH', 'IS', 'LI', 'NO'] },
  G7: { label: 'the G7 countries', members: ['CA', 'DE', 'FR', 'GB', 'IT', 'JP', 'US'] },
  'NORTH-AMERICA': { label: 'North America', members: ['CA', 'US', 'MX'] },
}

const countrySet = new Set(countries)
const canadianSet = new Set(canadianSubdivisions)
const subdivisionPattern = /^([A-Z]{2})-[A-Z0-9]{1,3}$/

/** Normalised code (upper case) when the place is known, else undefined. */
export function knownPlace(value: string): string | undefined {
  const code = value.trim().toUpperCase()
  if (countrySet.has(code) || code in placeGroups || canadianSet.has(code)) return code
  const match = subdivisionPattern.exec(code)
  if (match && countrySet.has(match[1]!) && match[1] !== 'CA') return code
  return undefined
}

export const listPlaces = (): string[] => [...Object.keys(placeGroups), ...countries, ...canadianSubdivisions]

const ancestorsCache = new Map<string, Set<string>>()

/** Every place `code` is part of, itself included (`CA-QC` → CA-QC, CA, G7, NORTH-AMERICA). */
export function placeAncestors(code: string): Set<string> {
  let cached = ancestorsCache.get(code)
  if (!cached) {
    cached = computeAncestors(code)
    // Request values are not trusted to be few: the cache is bounded.
    if (ancestorsCache.size < 10_000) ancestorsCache.set(code, cached)
  }
  return cached
}

function computeAncestors(code: string): Set<string> {
  const result = new Set<string>([code])
  const match = subdivisionPattern.exec(code)
  if (match) result.add(match[1]!)
  for (const place of [...result]) {
    for (const [group, { members }] of Object.entries(placeGroups)) {
      if (members.includes(place)) result.add(group)
    }
  }
  return result
}

/** True when `inner` lies within `outer` (or is it). */
export function placeWithin(inner: string, outer: string): boolean {
  return placeAncestors(inner.toUpperCase()).has(outer.toUpperCase())
}

export const placeLabel = (code: string): string => placeGroups[code]?.label ?? code
