import { z } from 'zod'

/**
 * The management API's OpenAPI 3.1 document, generated from the same zod schemas the routes parse
 * with. Each area registers its operations next to its routes.
 */
export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete'
  /** OpenAPI path under /management/v1, with `{param}` placeholders. */
  path: string
  summary: string
  tags: string[]
  params?: z.ZodObject
  query?: z.ZodObject
  body?: z.ZodType
  responses: Record<number, { description: string; schema?: z.ZodType }>
}

export interface OpenApiRegistry {
  add(operation: Operation): void
  document(serverUrl: string): Record<string, unknown>
}

const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
    requestId: z.string().optional(),
  }),
})

export function createOpenApiRegistry(info: { title: string; version: string }): OpenApiRegistry {
  const operations: Operation[] = []
  return {
    add: (operation) => void operations.push(operation),
    document(serverUrl) {
      const paths: Record<string, Record<string, unknown>> = {}
      for (const op of operations) {
        const parameters = [...parametersOf(op.params, 'path'), ...parametersOf(op.query, 'query')]
        const responses: Record<string, unknown> = {}
        for (const [status, response] of Object.entries(op.responses)) {
          responses[status] = {
            description: response.description,
            ...(response.schema ? { content: { 'application/json': { schema: jsonSchema(response.schema) } } } : {}),
          }
        }
        responses['401'] = { description: 'missing or wrong management API key', content: { 'application/json': { schema: jsonSchema(ErrorBody) } } }
        responses.default ??= { description: 'error', content: { 'application/json': { schema: jsonSchema(ErrorBody) } } }
        ;(paths[op.path] ??= {})[op.method] = {
          summary: op.summary,
          tags: op.tags,
          ...(parameters.length > 0 ? { parameters } : {}),
          ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(op.body) } } } } : {}),
          responses,
        }
      }
      return {
        openapi: '3.1.0',
        info,
        servers: [{ url: serverUrl }],
        security: [{ managementKey: [] }],
        components: { securitySchemes: { managementKey: { type: 'http', scheme: 'bearer', description: 'the management API key' } } },
        paths,
      }
    },
  }
}

function jsonSchema(schema: z.ZodType) {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as Record<string, unknown>
  return rest
}

function parametersOf(schema: z.ZodObject | undefined, location: 'path' | 'query') {
  if (!schema) return []
  return Object.entries(schema.shape).map(([name, field]) => ({
    name,
    in: location,
    required: location === 'path' || !(field as z.ZodType).safeParse(undefined).success,
    schema: jsonSchema(field as z.ZodType),
  }))
}
