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
  doctor: {
    summary: 'check a participant: configuration, file modes, database, keys and credentials, DID document, clock, peers',
    load: async () => (await import('./doctor-command.ts')).runDoctorCommand,
  },
  backup: {
    summary: "copy the connector's database while it runs (SQLite online backup, or pg_dump)",
    load: async () => (await import('./backup-command.ts')).runBackupCommand,
  },
  restore: {
    summary: "put a backup in place of a stopped connector's database",
    load: async () => (await import('./backup-command.ts')).runRestoreCommand,
  },
  credentials: {
    summary: 'issue (as a data-space authority), hold, list and remove verifiable credentials',
    load: async () => (await import('../identity/cli.ts')).runCredentialsCommand,
  },
  authority: {
    summary: "a data-space authority's status lists: revoke, suspend and reinstate the credentials it issued",
    load: async () => (await import('../identity/cli.ts')).runAuthorityCommand,
  },
  keys: {
    summary: "rotate the participant's signing keys without downtime: list, rotate, retire",
    load: async () => (await import('../identity/keys-cli.ts')).runKeysCommand,
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
  dataset: {
    summary: 'write a dataset file with its size, checksum, media type and dates filled in (add FILE|FOLDER|URL, add --update FILE)',
    load: async () => (await import('../catalog/dataset-add.ts')).runDatasetCommand,
  },
  policy: {
    summary: "the data steward's tools: lint, explain, eval and test policy files, list operands",
    load: async () => (await import('../../policies/index.ts')).runPolicyCommand,
  },
  audit: {
    summary: 'prove the audit chain (verify, also of an exported file) and export it as JSON lines',
    load: async () => (await import('../audit/cli.ts')).runAuditCommand,
  },
  version: {
    summary: 'print the version and the protocol versions spoken',
    load: async () => (await import('./version-command.ts')).runVersionCommand,
  },
  negotiations: {
    summary: "list this connector's negotiations, or show one with its timeline (table or --json)",
    load: async () => (await import('./records-command.ts')).recordsCommand('negotiations'),
  },
  agreements: {
    summary: "list this connector's agreements with their policy, or show one with its duties (table or --json)",
    load: async () => (await import('./records-command.ts')).recordsCommand('agreements'),
  },
  transfers: {
    summary: "list this connector's transfers, or show one with its timeline (table or --json)",
    load: async () => (await import('./records-command.ts')).recordsCommand('transfers'),
  },
  federation: {
    summary: 'the peers this connector crawls and how fresh each is (peers), or crawl now (crawl [PEER])',
    load: async () => (await import('../federation/federation-command.ts')).runFederationCommand,
  },
  search: {
    summary: 'search the datasets of every peer (the federated catalog) and print them with their terms',
    load: async () => (await import('../federation/search-command.ts')).runSearchCommand,
  },
}
