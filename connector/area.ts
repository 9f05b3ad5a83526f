import type { Hono } from 'hono'
import type { Ctx } from './context.ts'
import type { AppEnv } from './http/env.ts'
import type { ErrorRenderers } from './http/error-response.ts'
import type { OpenApiRegistry } from './management/openapi.ts'

/**
 * A functional area of the connector (catalog, negotiation, transfer, identity, federation…):
 * its HTTP routes and its background work. An area is built once, with its services, by the
 * composition root (`composition.ts`); the app and the runtime walk the list it gives.
 * This module is a leaf: areas import it, it imports no area.
 */
export interface Area {
  name: string
  routes?(mount: Mounts, ctx: Ctx): void
  /** Background work (dispatcher, crawler, monitor); started after the server listens. */
  start?(ctx: Ctx): Promise<Service> | Service
}

export interface Service {
  stop(): Promise<void>
}

export interface Mounts {
  /** Routes at the server root (e.g. /.well-known/did.json). */
  root: Hono<AppEnv>
  /** Routes under the DSP base (`/dsp/2025-1`). */
  dsp: Hono<AppEnv>
  /** Routes under `/management/v1`, behind the API key. */
  management: Hono<AppEnv>
  openapi: OpenApiRegistry
  errors: ErrorRenderers
}
