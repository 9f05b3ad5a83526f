/** Writes policy-file.schema.json (run after changing file-format.ts; a test checks it is current). */
import { writeFileSync } from 'node:fs'
import { policyFileJsonSchema } from './file-format.ts'

export const schemaText = () => `${JSON.stringify(policyFileJsonSchema(), null, 2)}\n`

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('./policy-file.schema.json', import.meta.url), schemaText())
}
