// The help texts of these commands, apart from the commands themselves: the dispatcher prints
// them without loading the command's modules (connector/cli/commands.ts).

export const negotiateHelp = `Usage: passerelle negotiate <peer-dsp-url> <dataset-id> [options]
       passerelle negotiate --hit FILE [options]

Starts a contract negotiation with a peer connector for one of its datasets.

Options:
  --hit FILE        a federated search hit as JSON (\`passerelle search WORDS --hit N > FILE\`, or - for
                    standard input): peer, dataset and offer come from it
  --offer ID        which of the dataset's offers: the readable id of its policy (e.g. three-downloads)
                    or the offer's @id (default: the first one in the peer's catalog)
  --purpose P       declare the purpose of use (e.g. climate-research), decided by purpose constraints
  --processing-location CODE
                    declare where the data will be processed (ISO 3166, e.g. CA, FR, CA-QC)
  --sector S        declare the sector of your organisation (e.g. research, commercial)
  --peer-id DID     the peer's participant id, when known
  --manual          hold the offer and agreement for approval (management API) instead of deciding alone
  --wait            follow the negotiation and print each state change; exit 0 on FINALIZED, then
                    print the agreement's obligations (duties) and how to fulfil them
  --timeout SEC     with --wait: give up after SEC seconds (default 60)
  --json            print the outcome as JSON (with --wait: the negotiation and the obligations)
  --config FILE     the participant configuration (to find the connector and its management key)
  --url URL         the connector's public URL (or PASSERELLE_URL)
  --key KEY         the management API key (or PASSERELLE_MANAGEMENT_KEY)`
