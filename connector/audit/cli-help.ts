// The help texts of these commands, apart from the commands themselves: the dispatcher prints
// them without loading the command's modules (connector/cli/commands.ts).

export const auditHelp = `Usage: passerelle audit <verify|export> [options]

  verify [--config FILE] [--file EXPORT]
      Proves the audit chain: every record's digest and hash, each record's link to the one before,
      the chain's head, and every checkpoint's signature (with the participant's keys). Reads the
      participant's database, or an exported file with --file. Names the first record that does not
      hold. Exits 0 when the chain holds, 1 when it is broken.
  export [--config FILE] [--since TIME] [--out FILE]
      Writes the records from TIME on (ISO 8601, default: all) as JSON lines, then the checkpoints
      that vouch for them, to FILE or standard output.`
