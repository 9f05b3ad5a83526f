// The help texts of these commands, apart from the commands themselves: the dispatcher prints
// them without loading the command's modules (connector/cli/commands.ts).

export const credentialsHelp = `Usage: passerelle credentials <command>

  issue --issuer KEYFILE --subject DID --type TYPE [--claim k=v]... [--issuer-did DID] [--valid-days N] [--no-status] [--profile P]
        Signs a verifiable credential (VC JWT) as a data-space authority and prints it, in the DCP
        profile P: vc11-sl2021/jwt (VC data model 1.1) or vc20-bssl/jwt (VC data model 2.0, validFrom
        and validUntil); by default the authority folder's profile (see init), else vc11. The issuer's
        DID is --issuer-did, else the id of the did.json beside KEYFILE. When KEYFILE is in an
        authority folder that publishes status lists (see passerelle authority publish), the
        credential gets a revocation and a suspension status (W3C Bitstring Status List) unless
        --no-status, and the folder's lists are republished.
  list | add (JWT | --file FILE) | remove ID   [--config FILE] [--url URL] [--key KEY]
        The credentials a running connector holds (through its management API).
  authority init DIR [--host HOST] [--port N] [--dev-only] [--profile P]
        Creates an authority: DIR/private-key.jwk and DIR/did.json (did:web for HOST:PORT). --dev-only
        marks the key as published (examples, seeds): never trust such an authority for real.
        --profile vc20-bssl/jwt issues its credentials and status lists in VC data model 2.0 (kept
        as "profile" in DIR/status/state.json; default vc11-sl2021/jwt).
  authority serve DIR
        Serves DIR/did.json at the authority's did:web address, its status lists at /status/revocation
        and /status/suspension, and DIR/registry.json (the data space's participant list, when there
        is one) at /registry.json, until interrupted. Development only.
  (revoke, suspend and reinstate: see passerelle authority --help)`

export const authorityHelp = `Usage: passerelle authority <command>

  revoke DIR (--credential ID | --subject DID)
        Revokes credentials the authority in DIR issued (for good: the specification makes a
        revocation permanent), named by the credential's id or by its subject (every credential of
        that DID), and republishes DIR's status lists.
  suspend DIR (--credential ID | --subject DID)
        Suspends them (reversible with reinstate) and republishes.
  reinstate DIR (--credential ID | --subject DID)
        Lifts their suspension and republishes. A revoked credential cannot be reinstated.
  publish DIR
        Signs and writes DIR's status lists again (DIR/status/revocation.jwt and suspension.jwt);
        an authority folder made before status lists existed starts publishing them this way.
  init DIR [--host HOST] [--port N] [--dev-only] [--profile P] | serve DIR
        As passerelle credentials authority init|serve (init also publishes empty status lists).`

export const keysHelp = `Usage: passerelle keys <command> [--config FILE]

  list                 the participant's keys and their state now: signing, published (verifies, does not
                       sign), pending (published, signs from its time), retired (no longer published)
  rotate [--overlap D] add a new key: published at once, signing after D, and the key that signs now
                       retired D later (default identity.rotationOverlapMs; D like 90s, 5m, 1h or ms)
  retire KID           stop publishing a key now (refused for the only key that may sign)

The running connector reads the key schedule again within seconds: no restart. Choose an overlap no
shorter than the time peers take to read our DID document again (30 s for Passerelle peers).`
