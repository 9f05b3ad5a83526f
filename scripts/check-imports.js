// Checks the import rules of .dependency-cruiser.cjs, and the doors that imports cannot show:
// outbound HTTP (the global fetch, node:http requests) and tables reached through `store.tables`.
//   node scripts/check-imports.js            violations, one a line; exit 1 when there is one
//   node scripts/check-imports.js --summary  also the size of the import graph
// The API keeps the scans below and the rules in one run (the 17.x line supports Node 20; 18.x needs 22).
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cruise } from 'dependency-cruiser'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'

const root = fileURLToPath(new URL('..', import.meta.url))
process.chdir(root)
const config = createRequire(import.meta.url)('../.dependency-cruiser.cjs')
const roots = ['connector', 'catalog', 'policies', 'test', 'bench', 'seeds', 'examples', 'scripts']

const result = await cruise(
  roots,
  { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden }, outputType: 'json' },
  {},
  { tsConfig: extractTSConfig(config.options.tsConfig.fileName) },
)
const report = JSON.parse(result.output)
const problems = report.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.cycle ? v.cycle.map((c) => c.name ?? c).join(' → ') : v.to}`)

// What imports do not show. Comments are left out; strings are not (none of these spellings is in one).
const tests = new RegExp(config.tests)
const known = (list) => list.map((pattern) => new RegExp(pattern))
const scans = [
  {
    rule: 'outbound-http-through-the-client',
    what: 'the global fetch',
    pattern: /(?<![\w$.'"`])fetch\b(?!\s*[?:,)}]|\s*=)(?<!typeof fetch)/,
    allowed: [/^connector\/http\/peer-client\.ts$/, ...known(config.knownViolations.outboundHttp)],
  },
  {
    rule: 'outbound-http-through-the-client',
    what: 'a node:http request',
    pattern: /import\s*\{[^}]*\b(request|get)\b[^}]*\}\s*from\s*'node:https?'|import\s+(\*\s+as\s+)?\w+\s+from\s*'node:https?'/,
    allowed: [/^connector\/http\/peer-client\.ts$/, ...known(config.knownViolations.outboundHttp)],
  },
  {
    rule: 'only-repositories-touch-tables',
    what: 'store.tables',
    pattern: /\.tables\b/,
    allowed: [/repository\.ts$/, /^connector\/store\//, ...known(config.knownViolations.tables)],
  },
]

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* files(path)
    else if (entry.name.endsWith('.ts')) yield relative(root, path)
  }
}

const withoutComments = (text) => text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|\s)\/\/.*$/gm, '$1')

for (const file of files('connector')) {
  if (tests.test(file)) continue
  const lines = withoutComments(readFileSync(file, 'utf8')).split('\n')
  for (const scan of scans) {
    if (scan.allowed.some((allowed) => allowed.test(file))) continue
    lines.forEach((line, index) => {
      if (scan.pattern.test(line)) problems.push(`${scan.rule}: ${file}:${index + 1} uses ${scan.what}`)
    })
  }
}

for (const problem of problems) console.log(problem)
if (process.argv.includes('--summary')) {
  const { totalCruised, totalDependenciesCruised } = report.summary
  const circular = report.modules.filter((m) => m.dependencies.some((d) => d.circular)).length
  console.log(`${totalCruised} modules, ${totalDependenciesCruised} imports, ${circular} modules in an import circle`)
}
console.log(problems.length === 0 ? 'imports: no violations' : `imports: ${problems.length} violation(s)`)
process.exitCode = problems.length === 0 ? 0 : 1
