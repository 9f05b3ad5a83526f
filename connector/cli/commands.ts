import type { CliIo } from './io.ts'

/**
 * The `passerelle` commands. Each area's command module is imported only when it is used, so
 * `passerelle start` loads nothing it does not need.
 */
export type CommandRunner = (args: string[], io: CliIo) => Promise<number>

export interface Command {
  summary: string
  load: () => Promise<CommandRunner>
}

export const commands: Record<string, Command> = {
  start: {
    summary: 'run the connector (default participant: ./passerelle.yaml, else the bundled seed)',
    load: async () => (await import('./start-command.ts')).runStartCommand,
  },
  init: {
    summary: 'create a new participant folder: configuration, Ed25519 key, did:web identifier',
    load: async () => (await import('./init-command.ts')).runInitCommand,
  },
  credentials: {
    summary: 'issue (as a data-space authority), hold, list and remove verifiable credentials',
    load: async () => (await import('../identity/cli.ts')).runCredentialsCommand,
  },
  negotiate: {
    summary: 'negotiate a contract with a peer for a dataset offer; --wait follows it to the end',
    load: async () => (await import('../negotiation/cli.ts')).runNegotiateCommand,
  },
  transfer: {
    summary: 'transfer the data of an agreement (pull, or --push) with a progress bar and a sha256 check',
    load: async () => (await import('../transfer/cli.ts')).runTransferCommand,
  },
  catalog: {
    summary: 'check the dataset files (validate [DIR]) or see the catalog as a given peer would (show)',
    load: async () => (await import('../catalog/cli.ts')).runCatalogCommand,
  },
  policy: {
    summary: "the data steward's tools: lint, explain, eval and test policy files, list operands",
    load: async () => (await import('../../policies/cli.ts')).runPolicyCommand,
  },
  version: {
    summary: 'print the version and the protocol versions spoken',
    load: async () => (await import('./version-command.ts')).runVersionCommand,
  },
  search: {
    summary: 'search the datasets of every peer (the federated catalog) and print them with their terms',
    load: async () => (await import('../federation/search-command.ts')).runSearchCommand,
  },
}
