import type { Operator, Scope } from './types.ts'

export type OperandType = 'string' | 'number' | 'integer' | 'dateTime' | 'duration' | 'iri' | 'boolean'

/** One left operand the engine understands. */
export interface OperandEntry {
  /** Short name used in policy files (`purpose`). */
  name: string
  /** Full IRI used in ODRL JSON-LD (`odrl:purpose` expanded). */
  iri: string
  label: string
  description: string
  dataType: OperandType
  operators: Operator[]
  /** Allowed right-operand values (a closed vocabulary), when there is one. */
  values?: string[]
  /** Scopes where the operand can be known. Elsewhere its constraints are deferred. */
  scopes: Scope[]
}

/** An operand added by configuration (YAML), read from `context.attributes[name]` or a credential claim. */
export interface OperandConfig {
  name: string
  iri?: string
  label?: string
  description?: string
  dataType: OperandType
  operators?: Operator[]
  values?: string[]
  scopes?: Scope[]
  /** Read the value from a claim of a credential of this type instead of `context.attributes`. */
  credential?: { type: string; claim: string }
}

export interface Registry {
  list(): OperandEntry[]
  /** By short name, by full IRI, or by `odrl:`-prefixed name. */
  get(nameOrIri: string): OperandEntry | undefined
}

export function createRegistry(_extensions: OperandConfig[] = []): Registry {
  throw new Error('not implemented yet')
}

export const defaultRegistry = (): Registry => createRegistry()
