import { defineConfig } from 'drizzle-kit'

export default defineConfig({
  dialect: 'sqlite',
  schema: './connector/store/schema-sqlite.ts',
  out: './connector/store/migrations/sqlite',
})
