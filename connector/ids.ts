import { randomUUID } from 'node:crypto'

/** Identifiers are injected so that pids are deterministic in tests. */
export interface IdSource {
  /** A new `urn:uuid:` identifier. */
  next(): string
}

export const randomIds: IdSource = { next: () => `urn:uuid:${randomUUID()}` }
