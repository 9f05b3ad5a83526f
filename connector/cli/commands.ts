import { policyHelp } from '../../policies/cli-help.ts'
import { auditHelp } from '../audit/cli-help.ts'
import { catalogHelp, datasetHelp } from '../catalog/cli-help.ts'
import { federationHelp, searchHelp } from '../federation/cli-help.ts'
import { authorityHelp, credentialsHelp, keysHelp } from '../identity/cli-help.ts'
import { negotiateHelp } from '../negotiation/cli-help.ts'
import { transferHelp } from '../transfer/cli-help.ts'
import { backupHelp, doctorHelp, initHelp, recordsHelp, restoreHelp, startHelp, versionHelp } from './command-help.ts'
import type { CliIo } from './io.ts'

/**
 * The `passerelle` commands. Each area's command module is imported only when it is used, so
 * `passerelle start` loads nothing it does not need; help texts are plain strings kept apart from
 * the commands, so `passerelle <command> --help` loads no command at all.
 */
export type CommandRunner = (args: string[], io: CliIo) => Promise<number>

export interface Command {
  summary: string
  /** The help text when `args` ask for nothing else (`--help` or `-h`), else undefined. */
  help: (args: string[]) => string | undefined
  load: () => Promise<CommandRunner>
}

const isHelpFlag = (arg: string | undefined) => arg === '--help' || arg === '-h'
const helpOnly = (text: string) => (args: string[]) => (args.length === 1 && isHelpFlag(args[0]) ? text : undefined)

export const commands: Record<string, Command> = {
  start: {
    summary: 'run the connector (default participant: ./passerelle.yaml, else the bundled seed)',
    help: helpOnly(startHelp),
    load: async () => (await import('./start-command.ts')).runStartCommand,
  },
  init: {
    summary: 'create a new participant folder: configuration, Ed25519 key, did:web identifier',
    help: helpOnly(initHelp),
    load: async () => (await import('./init-command.ts')).runInitCommand,
  },
  doctor: {
    summary: 'check a participant: configuration, file modes, database, keys and credentials, DID document, clock, peers',
    help: helpOnly(doctorHelp),
    load: async () => (await import('./doctor-command.ts')).runDoctorCommand,
  },
  backup: {
    summary: "copy the connector's database while it runs (SQLite online backup, or pg_dump)",
    help: helpOnly(backupHelp),
    load: async () => (await import('./backup-command.ts')).runBackupCommand,
  },
  restore: {
    summary: "put a backup in place of a stopped connector's database",
    help: helpOnly(restoreHelp),
    load: async () => (await import('./backup-command.ts')).runRestoreCommand,
  },
  credentials: {
    summary: 'issue (as a data-space authority), hold, list and remove verifiable credentials',
    help: helpOnly(credentialsHelp),
    load: async () => (await import('../identity/cli.ts')).runCredentialsCommand,
  },
  authority: {
    summary: "a data-space authority's status lists: revoke, suspend and reinstate the credentials it issued",
    help: helpOnly(authorityHelp),
    load: async () => (await import('../identity/cli.ts')).runAuthorityCommand,
  },
  keys: {
    summary: "rotate the participant's signing keys without downtime: list, rotate, retire",
    help: helpOnly(keysHelp),
    load: async () => (await import('../identity/keys-cli.ts')).runKeysCommand,
  },
  negotiate: {
    summary: 'negotiate a contract with a peer for a dataset offer; --wait follows it to the end',
    help: helpOnly(negotiateHelp),
    load: async () => (await import('../negotiation/cli.ts')).runNegotiateCommand,
  },
  transfer: {
    summary: 'transfer the data of an agreement (pull, or --push) with a progress bar and a sha256 check',
    help: helpOnly(transferHelp),
    load: async () => (await import('../transfer/cli.ts')).runTransferCommand,
  },
  catalog: {
    summary: 'check the dataset files (validate [DIR]) or see the catalog as a given peer would (show)',
    help: helpOnly(catalogHelp),
    load: async () => (await import('../catalog/cli.ts')).runCatalogCommand,
  },
  dataset: {
    summary: 'write a dataset file with its size, checksum, media type and dates filled in (add FILE|FOLDER|URL, add --update FILE)',
    help: helpOnly(datasetHelp),
    load: async () => (await import('../catalog/dataset-add.ts')).runDatasetCommand,
  },
  policy: {
    summary: "the data steward's tools: lint, explain, eval and test policy files, list operands",
    // `policy --help` and `policy SUB --help`
    help: (args) =>
      args.length === 1 && isHelpFlag(args[0])
        ? policyHelp['']
        : args.length === 2 && isHelpFlag(args[1]) && Object.hasOwn(policyHelp, args[0]!)
          ? policyHelp[args[0]!]
          : undefined,
    load: async () => (await import('../../policies/index.ts')).runPolicyCommand,
  },
  audit: {
    summary: 'prove the audit chain (verify, also of an exported file) and export it as JSON lines',
    help: helpOnly(auditHelp),
    load: async () => (await import('../audit/cli.ts')).runAuditCommand,
  },
  version: {
    summary: 'print the version and the protocol versions spoken',
    help: helpOnly(versionHelp),
    load: async () => (await import('./version-command.ts')).runVersionCommand,
  },
  negotiations: {
    summary: "list this connector's negotiations, or show one with its timeline (table or --json)",
    help: helpOnly(recordsHelp('negotiations')),
    load: async () => (await import('./records-command.ts')).recordsCommand('negotiations'),
  },
  agreements: {
    summary: "list this connector's agreements with their policy, or show one with its duties (table or --json)",
    help: helpOnly(recordsHelp('agreements')),
    load: async () => (await import('./records-command.ts')).recordsCommand('agreements'),
  },
  transfers: {
    summary: "list this connector's transfers, or show one with its timeline (table or --json)",
    help: helpOnly(recordsHelp('transfers')),
    load: async () => (await import('./records-command.ts')).recordsCommand('transfers'),
  },
  federation: {
    summary: 'the peers this connector crawls and how fresh each is (peers), or crawl now (crawl [PEER])',
    help: helpOnly(federationHelp),
    load: async () => (await import('../federation/federation-command.ts')).runFederationCommand,
  },
  search: {
    summary: 'search the datasets of every peer (the federated catalog) and print them with their terms',
    help: helpOnly(searchHelp),
    load: async () => (await import('../federation/search-command.ts')).runSearchCommand,
  },
}
