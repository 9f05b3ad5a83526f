import { z } from 'zod'
import type { Area } from '../area.ts'
import { packageVersion } from '../version.ts'

export const ParticipantInfo = z.object({
  participantId: z.string(),
  name: z.string(),
  dspUrl: z.string(),
  version: z.string(),
  database: z.enum(['sqlite', 'postgres']),
})
export type ParticipantInfo = z.infer<typeof ParticipantInfo>

/** `GET /management/v1/participant`: who this connector is and where peers reach it. */
export const participantArea: Area = {
  name: 'participant',
  routes({ management, openapi }, ctx) {
    openapi.add({
      method: 'get',
      path: '/participant',
      summary: 'This participant: id, name, DSP address, version',
      tags: ['participant'],
      responses: { 200: { description: 'the participant', schema: ParticipantInfo } },
    })
    management.get('/participant', (c) =>
      c.json({
        participantId: ctx.config.participant.id,
        name: ctx.config.participant.name,
        dspUrl: ctx.config.dspUrl,
        version: packageVersion,
        database: ctx.store.dialect,
      } satisfies ParticipantInfo),
    )
  },
}
