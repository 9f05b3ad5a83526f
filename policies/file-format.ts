/**
 * The stewards' policy file format (YAML). The zod schema below describes its structure and is the
 * source of the published JSON Schema (policy-file.schema.json) editors complete from; the
 * compiler checks the same structure by hand to give messages with a line and a suggestion, and
 * then checks meaning (operands, operators, values) against the operand registry.
 */
import { z } from 'zod'
import { knownActions } from './vocabularies/actions.ts'
import { operators, scopes } from './types.ts'

export const topLevelKeys = [
  '$schema',
  'id',
  'title',
  'description',
  'abstract',
  'extends',
  'with',
  'parameters',
  'conflict',
  'profile',
  'scopes',
  'permissions',
  'prohibitions',
  'obligations',
] as const
export const ruleKeys = ['action', 'constraints', 'duties', 'remedies', 'assignee', 'note'] as const
export const dutyKeys = ['action', 'constraints', 'note'] as const
export const atomicKeys = ['leftOperand', 'operator', 'rightOperand', 'unit', 'scopes'] as const
export const logicalKeys = ['and', 'or', 'xone', 'andSequence'] as const
export const parameterKeys = ['description', 'default'] as const

const Scalar = z.union([z.string(), z.number(), z.boolean()])
const Value = z.union([Scalar, z.array(Scalar)]).describe('A value, a list of values, or `${parameter}`')
const Scopes = z.array(z.enum(scopes as unknown as [string, ...string[]])).min(1)

type ConstraintShape =
  | { leftOperand: string; operator: string; rightOperand: unknown; unit?: string; scopes?: string[] }
  | { and: ConstraintShape[] }
  | { or: ConstraintShape[] }
  | { xone: ConstraintShape[] }
  | { andSequence: ConstraintShape[] }

export const PolicyConstraint: z.ZodType<ConstraintShape> = z.lazy(() =>
  z.union([
    z.strictObject({
      leftOperand: z
        .string()
        .describe(
          'An operand of the registry: purpose, spatial, dateTime, elapsedTime, count, recipient, industry, membership, credential.<Type>.<claim>, or one added by configuration',
        ),
      operator: z.enum(operators as unknown as [string, ...string[]]),
      rightOperand: Value,
      unit: z.string().optional(),
      scopes: Scopes.optional().describe("Where this constraint decides, instead of its operand's scopes (docs/data-steward-guide.md)"),
    }),
    z.strictObject({ and: z.array(PolicyConstraint).min(1) }),
    z.strictObject({ or: z.array(PolicyConstraint).min(1) }),
    z.strictObject({ xone: z.array(PolicyConstraint).min(1) }),
    z.strictObject({ andSequence: z.array(PolicyConstraint).min(1) }),
  ]),
)

const Action = z.string().describe(`An ODRL action: ${knownActions().join(', ')}`)

export const PolicyDuty = z.strictObject({
  action: Action,
  constraints: z.array(PolicyConstraint).optional(),
  note: z.string().optional(),
})

export const PolicyRule = z.strictObject({
  action: Action,
  constraints: z.array(PolicyConstraint).optional(),
  duties: z.array(PolicyDuty).optional().describe('Permissions only: what the requester must do'),
  remedies: z.array(PolicyDuty).optional().describe('Prohibitions only: what must be done if the prohibition is broken'),
  assignee: z.string().optional().describe('Only this participant (normally left out: offers are for anyone who meets the constraints)'),
  note: z.string().optional(),
})

export const PolicyFile = z.strictObject({
  $schema: z.string().optional(),
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)
    .optional()
    .describe('The id datasets name this policy by (default: the file name)'),
  title: z.string().min(1).optional().describe('One line, shown in the catalog (default: the id)'),
  description: z.string().optional(),
  abstract: z.boolean().optional().describe('A baseline or template only: never offered by itself'),
  extends: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe('Baseline policies whose rules this one includes'),
  with: z.record(z.string(), Value).optional().describe('Values for the parameters of the extended policies'),
  parameters: z
    .record(z.string(), z.strictObject({ description: z.string().optional(), default: Value.optional() }))
    .optional()
    .describe('Template parameters, used in values as `${name}`'),
  conflict: z.enum(['perm', 'prohibit', 'invalid']).optional().describe('When a permission and a prohibition both apply (default: invalid, which refuses)'),
  profile: z.union([z.string(), z.array(z.string())]).optional(),
  scopes: z
    .record(z.string(), Scopes)
    .optional()
    .describe("Where the constraints on an operand decide, instead of the operand's scopes, e.g. `{ dateTime: [negotiation, transfer, monitor] }`"),
  permissions: z.array(PolicyRule).optional(),
  prohibitions: z.array(PolicyRule).optional(),
  obligations: z.array(PolicyDuty).optional(),
})
export type PolicyFile = z.infer<typeof PolicyFile>

/** The JSON Schema of the file format, for editors. */
export function policyFileJsonSchema(): Record<string, unknown> {
  return {
    ...(z.toJSONSchema(PolicyFile, { target: 'draft-2020-12' }) as Record<string, unknown>),
    $id: 'https://w3id.org/passerelle/policy-file.schema.json',
    title: 'Passerelle policy file',
  }
}
