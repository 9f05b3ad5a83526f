import type { Hono } from 'hono'
import type { Ctx } from './context.ts'
import type { AppEnv } from './http/env.ts'
import type { ErrorRenderers } from './http/error-response.ts'
import type { OpenApiRegistry } from './management/openapi.ts'
import { participantArea } from './management/participant-routes.ts'
import { identityArea } from './identity/routes.ts'
import { catalogArea } from './catalog/routes.ts'
import { federationArea } from './federation/area.ts'
import { negotiation } from './negotiation/area.ts'
import { transfer } from './transfer/area.ts'

/**
 * A functional area of the connector (catalog, negotiation, transfer, identity, federation…):
 * its HTTP routes and its background work. The app and the runtime walk this list; adding an area
 * is one line in `areas` below.
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

export const areas: Area[] = [
  participantArea,
  identityArea,
  catalogArea,
  federationArea,
  negotiation,
  transfer,
]
