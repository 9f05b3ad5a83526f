/**
 * Import rules of the project, checked by `npm run lint` (scripts/check-imports.js).
 * Tests, test support and benchmarks may reach inside modules; the rules on doors apply to the
 * code that runs.
 */
const tests = '(\\.test\\.ts$|^test/|^bench/)'

/**
 * Known violations: each needs a change of logic in its module, not of its imports. Listed here so
 * that the rules hold for everything else; remove an entry when its module is fixed.
 */
const knownViolations = {
  // Outbound HTTP outside the HTTP client (connector/http/peer-client.ts).
  outboundHttp: [
    // Upstream sources are read with the global fetch and pushes sent with node:http(s); both belong on the peer client (open, upload).
    '^connector/transfer/data-plane/data-plane\\.ts$',
    // The CLI calls the operator's own connector with the global fetch; it needs a client for the management API.
    '^connector/cli/management-client\\.ts$',
    '^connector/transfer/resumable-download\\.ts$',
  ],
  // Tables read or written outside a repository (through `store.tables`).
  tables: [
    // The outbox's own queries: a dispatch repository.
    '^connector/dispatch/dispatcher\\.ts$',
    // Reads negotiation's agreements and negotiations; should go through the negotiation repository.
    '^connector/transfer/adapters\\.ts$',
    // The obligation repository lives here, and reads negotiation's tables.
    '^connector/transfer/obligations\\.ts$',
  ],
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import circles: a type that two modules share lives in a leaf module both import.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'libraries-stay-independent',
      severity: 'error',
      comment: 'catalog/ and policies/ are libraries: they never import the connector.',
      from: { path: '^(catalog|policies)/', pathNot: tests },
      to: { path: '^connector/' },
    },
    {
      name: 'libraries-through-their-index',
      severity: 'error',
      comment:
        "The connector uses catalog/ and policies/ through their index.ts, never their inner modules; the CLI's dispatcher also reads policies/cli-help.ts (help texts only, no imports), so that `policy --help` does not load the policy engine.",
      from: { path: '^connector/', pathNot: tests },
      to: { path: '^(catalog|policies)/', pathNot: ['^(catalog|policies)/index\\.ts$', '^policies/cli-help\\.ts$'] },
    },
    {
      name: 'only-repositories-touch-tables',
      severity: 'error',
      comment: 'Table definitions are read by repositories (files named *repository.ts) and the store (connector/store/) only.',
      from: { path: '^connector/', pathNot: ['repository\\.ts$', '^connector/store/', tests] },
      to: { path: '^connector/store/(tables/|schema)' },
    },
    {
      name: 'outbound-http-through-the-client',
      severity: 'error',
      comment: 'Outbound HTTP goes through connector/http/peer-client.ts (egress policy, limits, trace context).',
      from: { path: '^connector/', pathNot: ['^connector/http/peer-client\\.ts$', tests, ...knownViolations.outboundHttp] },
      to: { path: '^(undici|node:https|https)$', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
  knownViolations,
  tests,
}
