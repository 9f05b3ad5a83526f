import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { Ajv2019 } from 'ajv/dist/2019.js'
import addFormats from 'ajv-formats'
import { fromRoot } from '../../connector/paths.ts'

/**
 * The published DSP 2025-1 JSON Schemas, every one loaded by its `$id`, for checking what the
 * connector sends and answers. Three published transfer schemas write `#definitions/` for
 * `#/definitions/` (see spec/dsp-2025-1/SOURCE.md): we patch that while loading.
 */
const root = fromRoot('spec/dsp-2025-1')

function schemaFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === 'example' ? [] : schemaFiles(path)
    return name.endsWith('-schema.json') ? [path] : []
  })
}

let ajv: InstanceType<typeof Ajv2019> | undefined
function validator() {
  if (ajv) return ajv
  ajv = new Ajv2019({ strict: false, allErrors: true })
  ;(addFormats as unknown as (a: unknown) => void)(ajv)
  for (const file of schemaFiles(root)) {
    const text = readFileSync(file, 'utf8').replaceAll('#definitions/', '#/definitions/')
    ajv.addSchema(JSON.parse(text))
  }
  return ajv
}

/** `name` is the schema's path under spec/dsp-2025-1, e.g. `negotiation/contract-request-message-schema.json`. */
export function dspSchemaErrors(name: string, value: unknown): string[] {
  const id = `https://w3id.org/dspace/2025/1/${name}`
  const validate = validator().getSchema(id)
  if (!validate) throw new Error(`no DSP schema ${id}`)
  if (validate(value)) return []
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)
}

/** Every schema name, for tests that walk them all. */
export const dspSchemaNames = () => schemaFiles(root).map((file) => relative(root, file))

/** vitest helper: `expectDspValid('catalog/catalog-schema.json', body)`. */
export function expectDspValid(name: string, value: unknown) {
  const errors = dspSchemaErrors(name, value)
  if (errors.length > 0) {
    throw new Error(`not valid against ${name}:\n  ${errors.join('\n  ')}\n${JSON.stringify(value, null, 2)}`)
  }
}
