import { postgresBuilders, sqliteBuilders, type Builders } from './dialect.ts'
import { settingsTables } from './tables/settings.ts'
import { transferTables } from './tables/transfer.ts'
import { identityTables } from './tables/identity.ts'
import { catalogTables } from './tables/catalog.ts'
import { negotiationTables } from './tables/negotiation.ts'
import { dispatchTables } from './tables/dispatch.ts'
import { federationTables } from './tables/federation.ts'
import { usageTables } from './tables/usage.ts'
import { auditTables } from './tables/audit.ts'

/** Every table of the connector. Each area declares its tables in `tables/<area>.ts`. */
export const defineSchema = (b: Builders) => ({
  ...settingsTables(b),
  ...transferTables(b),
  ...identityTables(b),
  ...catalogTables(b),
  ...negotiationTables(b),
  ...dispatchTables(b),
  ...federationTables(b),
  ...usageTables(b),
  ...auditTables(b),
})

export type Schema = ReturnType<typeof defineSchema>
export const sqliteSchema: Schema = defineSchema(sqliteBuilders)
export const postgresSchema: Schema = defineSchema(postgresBuilders)
