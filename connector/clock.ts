/** Time is injected so that expiry and timelines are deterministic in tests. */
export interface Clock {
  now(): Date
}

export const systemClock: Clock = { now: () => new Date() }
