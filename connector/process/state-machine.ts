/**
 * The process kernel's state machines, as data: a list of edges per protocol, each "in one of
 * `from`, a message of `kind` sent by `sender` moves the process to `to`", as the DSP specification
 * draws its negotiation and transfer state machines. `null` in `from` stands for "no process yet"
 * (the messages that open one). One pure `transition` serves a message we receive and one we are
 * about to send: both sides of a connector enforce the same rules.
 */
export type Role = 'provider' | 'consumer'
export type Direction = 'inbound' | 'outbound'

export interface Edge<S extends string, K extends string> {
  kind: K
  sender: Role | 'either'
  from: readonly (S | null)[]
  to: S
}

export type Transition<S extends string> = { ok: true; from: S | null; to: S } | { ok: false; from: S | null; refusal: Refusal }

/** Why a transition is refused; the protocol module words it. */
export type Refusal = 'wrong-sender' | 'terminal' | 'needs-process' | 'wrong-state'

export interface StateMachine<S extends string, K extends string> {
  edges: readonly Edge<S, K>[]
  terminal: readonly S[]
  isTerminal(state: S): boolean
  /** Who sends `kind` (both roles for `either`). */
  senders(kind: K): Role[]
  /** May `sender` send `kind` to a process in `state`, and which state follows. */
  step(state: S | null, sender: Role, kind: K): Transition<S>
  /** As `step`, seen from our side: `role` is ours, the direction says who sends. */
  transition(input: { role: Role; state: S | null; kind: K; direction: Direction }): Transition<S>
  /** Per role: which kinds it receives and sends (docs and tests). */
  roleTable(role: Role): { receives: K[]; sends: K[] }
}

export function stateMachine<S extends string, K extends string>(
  kinds: readonly K[],
  edges: readonly Edge<S, K>[],
  terminal: readonly S[],
): StateMachine<S, K> {
  const sends = (edge: Edge<S, K>, role: Role) => edge.sender === 'either' || edge.sender === role
  const senders = (kind: K): Role[] => (['provider', 'consumer'] as const).filter((role) => edges.some((edge) => edge.kind === kind && sends(edge, role)))
  const isTerminal = (state: S) => terminal.includes(state)
  const step = (state: S | null, sender: Role, kind: K): Transition<S> => {
    const candidates = edges.filter((edge) => edge.kind === kind && sends(edge, sender))
    if (candidates.length === 0) return { ok: false, from: state, refusal: 'wrong-sender' }
    if (state !== null && isTerminal(state)) return { ok: false, from: state, refusal: 'terminal' }
    const edge = candidates.find((candidate) => candidate.from.includes(state))
    if (!edge) return { ok: false, from: state, refusal: state === null ? 'needs-process' : 'wrong-state' }
    return { ok: true, from: state, to: edge.to }
  }
  return {
    edges,
    terminal,
    isTerminal,
    senders,
    step,
    transition: ({ role, state, kind, direction }) => step(state, direction === 'outbound' ? role : role === 'provider' ? 'consumer' : 'provider', kind),
    roleTable: (role) => ({
      receives: kinds.filter((kind) => senders(kind).some((sender) => sender !== role)),
      sends: kinds.filter((kind) => senders(kind).includes(role)),
    }),
  }
}
