// The help texts of these commands, apart from the commands themselves: the dispatcher prints
// them without loading the command's modules (connector/cli/commands.ts).

export const transferHelp = `Usage: passerelle transfer <agreement-id> [options]

Transfers the data of an agreement (this participant is the consumer).

Options:
  --push            the provider pushes into this connector's data folder (default: pull)
  --out FILE        where to write the data (default: <agreement id>.data in the current folder)
  --resume          continue a pull that broke off into the same --out file (kept as FILE.part),
                    then check the whole file's sha256
  --param NAME=VAL  a query parameter for an HTTP API dataset (repeatable; the dataset declares which)
  --path SUFFIX     a path suffix for an HTTP API dataset (the dataset declares which)
  --timeout SEC     give up after SEC seconds without the transfer starting or finishing (default 120)
  --json            print the outcome as JSON (the transfer, where the data is, the agreement's obligations)
  --config FILE     the participant configuration (to find the connector and its management key)
  --url URL         the connector's public URL (or PASSERELLE_URL)
  --key KEY         the management API key (or PASSERELLE_MANAGEMENT_KEY)`
