// The help texts of these commands, apart from the commands themselves: the dispatcher prints
// them without loading the command's modules (connector/cli/commands.ts).

export const federationHelp = `Usage: passerelle federation peers [--json] [connection options]
       passerelle federation crawl [PEER] [--wait] [--timeout SEC] [--json] [connection options]

peers   lists the peers this connector crawls: status, datasets held, when each was last crawled,
        and for a failing peer since when and its last error
crawl   crawls PEER (its id or DSP URL) now, or every active peer; with --wait, waits until each
        crawl has ended and prints its outcome (exit 1 if one failed)

Options:
  --wait            wait for the crawls to end
  --timeout SEC     with --wait: give up after SEC seconds (default 60)
  --json            print JSON (the management API's peers, each with its freshness)
  --config FILE     the participant configuration (to find the connector and its management key)
  --url URL         the connector's public URL (or PASSERELLE_URL)
  --key KEY         the management API key (or PASSERELLE_MANAGEMENT_KEY)`

export const searchHelp = `Usage: passerelle search [WORDS…] [options]

Searches the datasets of every peer (the federated catalog of a running connector) and prints
peer, dataset, title and the terms of the offer in plain language, then how fresh each peer's
entries are ("crawled 3 min ago"); a peer whose crawls fail is named with its last error.
\`passerelle federation crawl\` crawls again now.

Options:
  --peer ID|URL          only this peer
  --theme TEXT           theme contains TEXT
  --license TEXT         license contains TEXT
  --spatial TEXT         spatial coverage contains TEXT
  --format TEXT          a distribution format contains TEXT
  --action ACTION        some offer permits ACTION (use, read, …)
  --from DATE --to DATE  temporal coverage overlaps [DATE, DATE]
  --modified-since DATE  modified at or after DATE
  --limit N --offset N   paging (default 20, 0)
  --cursor CURSOR        the next page, as the previous page said
  --json                 print the page as JSON (with \`peers\`: the freshness of each peer in it, and of failing ones)
  --hit N                print hit N (1-based, of this page) as JSON, the input of \`passerelle negotiate --hit\`
  --url URL --key KEY    the connector (default: from the participant's configuration)
  --config FILE          the participant's configuration file`
