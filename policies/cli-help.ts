// The help texts of `passerelle policy`, apart from the command itself: the dispatcher prints them
// without loading the policy engine (connector/cli/commands.ts).

export const policyHelp: Record<string, string> = {
  '': `Usage: passerelle policy <command>

Commands:
  lint [FILES|DIRS]                 check policy files (default: ./policies)
  explain FILE [--json]             the policy in plain language (--json: the ODRL offer too)
  eval FILE --as CONTEXT.yaml [--json] [--policy ID]
                                    decide one request and show why
  test [DIR]                        run the stewards' *.test.yaml cases (default: ./policies)
  operands [DIR] [NAME]             the left operands policies may use (with DIR's registry.yaml)

Run \`passerelle policy <command> --help\` for details.
`,
  lint: `Usage: passerelle policy lint [FILES|DIRS]

Checks policy files (YAML, or raw ODRL as .json/.jsonld) and prints each problem as
FILE:LINE:COLUMN  FIELD  MESSAGE (suggestion). Folders are read without descending; a folder's
registry.yaml adds operands. Default: ./policies. Exit 0 when clean, 1 with errors.
`,
  explain: `Usage: passerelle policy explain FILE [--json] [--as CONTEXT.yaml [--policy ID]]

Prints the policy in plain language. --json prints { id, title, plainText, odrl } instead.
With --as, also decides that request and prints the decision's trace as a tree.
`,
  eval: `Usage: passerelle policy eval FILE --as CONTEXT.yaml [--json] [--policy ID]

Decides one request against the policy in FILE (or policy ID of a folder) and prints the decision,
its reason, the explanation and the trace. CONTEXT.yaml holds the request:
  scope: negotiation            # catalog | negotiation | transfer | monitor
  action: use
  assignee: did:web:lab.example
  purpose: climate-research
  spatial: CA-QC
  now: 2026-06-01T12:00:00Z     # default: the current time
  credentials:
    - { type: MembershipCredential, issuer: did:web:authority.example, claims: {} }
  agreement: { signedAt: 2026-05-01T00:00:00Z }
  usage: { count: 3 }
Exit 0 when allowed, 1 when refused, 2 on bad input. --json prints the decision as JSON.
`,
  test: `Usage: passerelle policy test [DIR]

Runs the steward-written cases of DIR's *.test.yaml files (default: ./policies):
  policy: research-only
  context: { scope: negotiation, assignee: did:web:lab.example }
  cases:
    - { name: climate research is research, context: { purpose: climate-research }, expect: allow }
    - { name: marketing is refused, context: { purpose: marketing }, expect: deny, reason: not a kind of }
Exit 0 when all pass, 1 when any fails or a file has errors.
`,
  operands: `Usage: passerelle policy operands [DIR] [NAME]

Lists the left operands policies may use: the built-in ones and those DIR's registry.yaml adds
(default DIR: ./policies). With NAME, describes that operand: IRI, type, operators, values and the
scopes where a value is required.
`,
}
