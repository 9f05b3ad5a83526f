// Entry point for drizzle-kit, which reads tables from named exports. Keep the list in step with
// `schema.ts` (a test checks it).
import { postgresSchema } from './schema.ts'

export const {
  settings,
  transfers,
  transferEvents,
  dataAccesses,
  heldCredentials,
  seenTokens,
  peerCredentialStatuses,
  catalogDatasets,
  catalogState,
  catalogGroups,
  catalogPolicyRefs,
  catalogPolicyCounts,
  catalogFileRefs,
  catalogDepartures,
  negotiations,
  negotiationEvents,
  agreements,
  dispatches,
  federationPeers,
  federatedDatasets,
  agreementUsage,
  agreementObligations,
  obligationEvents,
  auditRecords,
  auditHead,
  auditCheckpoints,
} = postgresSchema
