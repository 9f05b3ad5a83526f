// The help texts of these commands, apart from the commands themselves: the dispatcher prints
// them without loading the command's modules (connector/cli/commands.ts).

export const startHelp = `Usage: passerelle start [--config FILE] [--port N] [--host HOST]

Runs the connector until SIGTERM or SIGINT (then it stops accepting requests, answers those in
flight with Connection: close, closes idle connections, closes the database and exits 0). Started
by npm (npm start, npm exec, npx), it also stops that way when npm goes away. A SQLite database
file serves one process: a second one started on it exits 2. Under a supervisor, run the connector
itself (or a shell script ending in \`exec passerelle start\`), not npm, so the signal reaches it.

Options:
  --config FILE   participant configuration (default: ./passerelle.yaml, else PASSERELLE_CONFIG,
                  else the bundled seed participant)
  --port N        listen on this port (overrides server.port and PASSERELLE_PORT)
  --host HOST     listen on this address (overrides server.host and PASSERELLE_HOST)

Environment: PASSERELLE_HOST, PASSERELLE_PORT, PASSERELLE_PUBLIC_URL, PASSERELLE_DATABASE_URL,
PASSERELLE_MANAGEMENT_KEY, PASSERELLE_DATA_DIR, PASSERELLE_LOG_LEVEL, and the standard OTEL_* variables.`

export const initHelp = `Usage: passerelle init DIR [--name NAME] [--host HOST] [--port N]

Creates a new participant folder DIR with:
  passerelle.yaml            the configuration (participant id, server, a fresh management API key)
  identity/private-key.jwk   a new Ed25519 key (file mode 0600; keep it secret, back it up)
  datasets/ policies/        empty folders for the data steward's dataset and policy files
  files/                     the files root: the only place distributions may name local files
The connector creates data/ (mode 0700, database 0600) when it first starts.
The participant id is a did:web identifier for HOST:PORT (default 127.0.0.1:8181).
DIR must not already hold a participant.`

export const doctorHelp = `Usage: passerelle doctor [--config FILE] [--offline]

Checks a participant folder without starting the connector, and prints each finding with what to do:
  - the configuration is valid and the identity keys can be read;
  - the data folder is 0700, the database and its -wal/-shm files, the private keys and a
    configuration holding the management key are 0600, all owned by the user running the command;
  - the files root exists, and no distribution names a file outside it or a private place;
  - the database answers and its schema version is one this version can run (without migrating);
  - held credentials have not expired (a warning two weeks before);
  - unless --offline: the DID document answers at the address peers read it from, the peers of
    federation.peers answer, and this machine's clock agrees with those servers within 30 s.
Warnings (warn) are worth knowing but not wrong: a stopped connector does not answer for its DID.
Exits 1 when something is wrong, 0 when all is well.`

export const backupHelp = `Usage: passerelle backup [--config FILE] [--output FILE]

Copies the connector's database to a file, while the connector runs:
  - SQLite: SQLite's online backup (one consistent copy, the connector keeps working);
  - PostgreSQL: pg_dump --format=custom (the PostgreSQL client programs must be installed;
    without them the command prints what to run).
The file is written 0600: it holds the data plane's token secret. Keep a copy of the participant
folder too (configuration, keys, dataset and policy files): the database does not hold them.

Options:
  --config FILE   participant configuration (default: ./passerelle.yaml, else PASSERELLE_CONFIG)
  --output FILE   where to write (default: ./passerelle-backup-<time>.db, or .pgdump)`

export const restoreHelp = `Usage: passerelle restore BACKUP [--config FILE] [--force]

Puts a backup made by passerelle backup in place of the connector's database. Stop the connector
first (every replica, for PostgreSQL).
  - SQLite: refused while a connector has the database open, for a file that is not a Passerelle
    database or was made by a newer version; an existing database is replaced only with --force
    and is then kept beside it (renamed *.before-restore-<time>).
  - PostgreSQL: pg_restore --clean --if-exists --single-transaction into the configured database
    (always replaces what is there; --force is required).
Start the connector afterwards: migrations bring an older backup up to this version.`

export type RecordKind = 'negotiations' | 'agreements' | 'transfers'

const describe: Record<RecordKind, string> = {
  negotiations: "Lists this connector's contract negotiations (as consumer and as provider), or shows one with its timeline.",
  agreements: "Lists this connector's agreements, with the provider's policy by id and title, or shows one with its duties.",
  transfers: "Lists this connector's transfers, or shows one with its timeline.",
}

export const recordsHelp = (kind: RecordKind) => `Usage: passerelle ${kind} list [--state STATE] [--json] [connection options]
       passerelle ${kind} show ID [--json] [connection options]

${describe[kind]}

Options:
  --json            print the management API's answer as JSON
${kind === 'agreements' ? '' : '  --state STATE     list only those in this state (e.g. FINALIZED, TERMINATED, STARTED)\n'}  --limit N         at most N rows (default 50)
  --config FILE     the participant configuration (to find the connector and its management key)
  --url URL         the connector's public URL (or PASSERELLE_URL)
  --key KEY         the management API key (or PASSERELLE_MANAGEMENT_KEY)`

export const versionHelp = 'Usage: passerelle version\n\nPrints the Passerelle version, the Dataspace Protocol versions it speaks and the Node.js version.'
