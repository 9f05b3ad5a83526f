import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'postgresql',
  schema: './connector/store/schema-postgres.ts',
  out: './connector/store/migrations/postgres',
})
