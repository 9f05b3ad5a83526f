import { configFileName } from '../cli/participant-config.ts'

// The help texts of these commands, apart from the commands themselves: the dispatcher prints
// them without loading the command's modules (connector/cli/commands.ts).

export const catalogHelp = `Usage: passerelle catalog <command>

  validate [DIR]
        Checks the dataset files of the participant folder DIR (default: the current folder):
        syntax, fields, policy references, local files with their byte size and sha256 (only
        files under the files root, catalog.filesDir, and never a key, the configuration or the
        database, symbolic links followed).
        Prints one line per problem (file:line: field: message); exits 1 when there is any.
  show [--config FILE] [--as PARTICIPANT_ID] [--credential TYPE]... [--json]
        What a given peer would see in this participant's catalog (files and API datasets,
        filtered by the visibility policies), without a running connector.`

export const datasetHelp = `Usage: passerelle dataset <command>

  add FILE|FOLDER|URL --policy ID [--policy ID]... [--id ID] [--title TEXT] [--description TEXT]
      [--license IRI] [--contact "NAME <EMAIL>"] [--media-type TYPE] [--out FILE] [--force] [--config FILE]
        Writes a dataset file in the participant's datasets folder, with the byte size, sha256,
        media type and dates filled in: a FILE or FOLDER under the files folder (catalog.filesDir;
        a folder is delivered as an archive), or a URL the connector fetches once through its
        egress policy. Publisher, contact point and licence are taken from the newest dataset file
        when not given. The result is checked like \`catalog validate\` does, then written to
        --out FILE (a .yaml file in the datasets folder; default: named after the source); an
        existing file is only replaced with --force. A running connector publishes it by itself.
  add --update FILE.yaml [--config FILE]
        Measures the distributions of a dataset file again (byte size and sha256 of its files and
        URLs) and, when they changed, writes them with today's date as modified.

  The participant folder is the one of --config FILE, else PASSERELLE_CONFIG, else ./${configFileName}.`
