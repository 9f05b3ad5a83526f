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

/**
 * The DSP 2024-1 JSON Schemas (spec/dsp-2024-1, as published), loaded by `$id` under
 * `https://w3id.org/dspace/2024/1/`. `name` is the path after that prefix, e.g.
 * `negotiation/contract-request-message-schema.json`.
 */
const root2024 = fromRoot('spec/dsp-2024-1')
let ajv2024: InstanceType<typeof Ajv2019> | undefined
function validator2024() {
  if (ajv2024) return ajv2024
  ajv2024 = new Ajv2019({ strict: false, allErrors: true })
  ;(addFormats as unknown as (a: unknown) => void)(ajv2024)
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) return name === 'example' ? [] : files(path)
      return name.endsWith('schema.json') ? [path] : []
    })
  for (const file of files(root2024)) {
    // The published operator list spells `lteq` as `odrl:term-lteq` (see spec/dsp-2024-1/SOURCE.md).
    const schema = JSON.parse(readFileSync(file, 'utf8').replace('"odrl:term-lteq"', '"odrl:lteq"'))
    if (schema.$id) ajv2024.addSchema(schema)
  }
  return ajv2024
}

export function dsp2024SchemaErrors(name: string, value: unknown): string[] {
  const id = `https://w3id.org/dspace/2024/1/${name}`
  const validate = validator2024().getSchema(id)
  if (!validate) throw new Error(`no DSP 2024-1 schema ${id}`)
  if (validate(value)) return []
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)
}

/** The 2024-1 schema for a 2024-1 `@type` (`dspace:ContractRequestMessage`, `dcat:Catalog`, …). */
export function dsp2024SchemaOf(type: string): string {
  const name = type.replace(/^(dspace|dcat):/, '')
  const file = name.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()
  const area = name.startsWith('Transfer') ? 'transfer' : name.startsWith('Catalog') || name.startsWith('Dataset') ? 'catalog' : 'negotiation'
  return `${area}/${file}-schema.json`
}

export function expectDsp2024Valid(value: unknown) {
  const type = (value as { '@type'?: string })?.['@type'] ?? ''
  const name = dsp2024SchemaOf(type)
  const errors = dsp2024SchemaErrors(name, value)
  if (errors.length > 0) throw new Error(`not valid against 2024-1 ${name}:\n  ${errors.join('\n  ')}\n${JSON.stringify(value, null, 2)}`)
}
