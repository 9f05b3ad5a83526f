/**
 * What loading the shipped vocabularies (DPV purposes, ISO 3166 places, sectors) costs a fresh
 * process: wall and CPU time from import to built taxonomies, and the RSS and heap they add after a
 * full garbage collection (`importCpuMs`: the part spent loading the modules and their data); then
 * what the first place look-up adds. Printed as one JSON line; run by the taxonomy section of bench/policy.ts.
 *
 *   node --expose-gc --import tsx bench/taxonomy-load.ts
 */
import '../policies/taxonomy.ts' // the shared code is loaded before measuring: only the vocabularies count

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc')
const cpu = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}
gc()
const before = process.memoryUsage()
const wall = performance.now()
const cpuStart = cpu()
const [{ purposeTaxonomy }, { placeTaxonomy }, { industryTaxonomy }] = await Promise.all([
  import('../policies/vocabularies/purposes.ts'),
  import('../policies/vocabularies/places.ts'),
  import('../policies/vocabularies/industries.ts'),
])
const importCpuMs = cpu() - cpuStart
const concepts = purposeTaxonomy().size + placeTaxonomy().size + industryTaxonomy().size
const ms = performance.now() - wall
const cpuMs = cpu() - cpuStart
gc()
const after = process.memoryUsage()
// The first place look-up pays for the (place, ancestor) closure when it is built on demand.
const firstStart = cpu()
const places = placeTaxonomy()
if (!places.within('FR-75', 'EU')) throw new Error('FR-75 should be within EU')
const firstWithinCpuMs = cpu() - firstStart
gc()
const closed = process.memoryUsage()
console.log(
  JSON.stringify({
    concepts,
    ms,
    cpuMs,
    importCpuMs,
    rssMb: (after.rss - before.rss) / 2 ** 20,
    heapMb: (after.heapUsed - before.heapUsed) / 2 ** 20,
    firstWithinCpuMs,
    rssWithClosureMb: (closed.rss - before.rss) / 2 ** 20,
  }),
)
