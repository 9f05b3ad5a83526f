import { PasserelleError } from '../errors.ts'

/**
 * The one JSON parser for bytes that come from outside (request bodies, peers' answers, DID
 * documents, credentials, JWT payloads). A scan of the text checks the limits before `JSON.parse`
 * builds anything, so a value that passes can be stored, compared and serialised without deep
 * recursion, and nothing oversized ever reaches a schema or the database.
 */
export interface JsonLimits {
  /** UTF-8 bytes of the whole text (413 when exceeded). */
  maxBytes: number
  /** Nesting of arrays and objects. */
  maxDepth: number
  /** Characters of one string or key, as written. */
  maxStringLength: number
  /** Characters of an identifier (the value of `@id`, `consumerPid` and the like). */
  maxIdLength: number
  /** Elements of one array, or members of one object. */
  maxItems: number
}

export const defaultJsonLimits: JsonLimits = {
  maxBytes: 1024 * 1024,
  // The deepest DSP message (an offer with nested logical constraints) is about 15 levels.
  maxDepth: 32,
  maxStringLength: 64 * 1024,
  maxIdLength: 2048,
  maxItems: 10_000,
}

/** Peers' answers may list more (a catalog page); their size is bounded by the response limit. */
export const peerAnswerMaxItems = 100_000

/** Keys whose string values are identifiers: short, whatever the message. */
export const identifierKeys: ReadonlySet<string> = new Set([
  '@id',
  '@type',
  'id',
  'uid',
  'consumerPid',
  'providerPid',
  'agreementId',
  'datasetId',
  'offerId',
  'target',
  'assigner',
  'assignee',
])

export type JsonLimit = 'size' | 'depth' | 'string' | 'identifier' | 'items' | 'number' | 'duplicate' | 'character' | 'syntax'

/** A text refused by the parser: `limit` says which rule, `path` where (e.g. `offer.permission.0`). */
export class JsonLimitError extends PasserelleError {
  constructor(
    readonly limit: JsonLimit,
    message: string,
    readonly path = '',
  ) {
    super(limit === 'size' ? 'payload_too_large' : 'bad_request', message, { limit, ...(path ? { path } : {}) })
    this.name = 'JsonLimitError'
  }
}

/**
 * Parses `text` as `JSON.parse` does, or throws a `JsonLimitError`. `what` names the text in
 * messages ("the request body", "did:web:example.com's DID document").
 */
export function parseBoundedJson(text: string, options: Partial<JsonLimits> & { what?: string } = {}): unknown {
  const limits = { ...defaultJsonLimits, ...options }
  const what = options.what ?? 'the JSON text'
  checkJsonLimits(text, limits, what)
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new JsonLimitError('syntax', `${what} is not valid JSON: ${(error as Error).message}`)
  }
}

interface Frame {
  object: boolean
  items: number
  /** Object: the current member's key; array: unused (the index is `items - 1`). */
  key?: string
  keys?: Set<string>
}

/**
 * Walks the text once, without recursion, keeping a stack of the open arrays and objects. Syntax is
 * left to `JSON.parse`: on a malformed text the scan stops and the parser reports the error.
 */
export function checkJsonLimits(text: string, limits: JsonLimits, what = 'the JSON text'): void {
  // A UTF-16 length within a third of the limit cannot exceed it in UTF-8; only longer texts are measured.
  if (text.length * 3 > limits.maxBytes && Buffer.byteLength(text, 'utf8') > limits.maxBytes) {
    throw new JsonLimitError('size', `${what} is larger than the limit of ${limits.maxBytes} bytes`)
  }
  const stack: Frame[] = []
  let expectKey = false
  let identifierValue = false
  /** `frames`: how many open values the path goes through (all by default; one less names the container). */
  const refuse = (limit: JsonLimit, message: string, frames = stack.length): never => {
    const path = pathOf(stack.slice(0, frames))
    throw new JsonLimitError(limit, `${what}${path ? ` at ${path}` : ''}: ${message}`, path)
  }
  const countItem = () => {
    const top = stack[stack.length - 1]
    if (top && !top.object && ++top.items > limits.maxItems) refuse('items', `an array has more than ${limits.maxItems} elements`, stack.length - 1)
  }
  const n = text.length
  let i = 0
  /** The next backslash at or after the string being read (found once, not per string). */
  let backslash = -1
  while (i < n) {
    const ch = text.charCodeAt(i)
    if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      countItem()
      if (stack.length >= limits.maxDepth) refuse('depth', `nested deeper than ${limits.maxDepth} levels`)
      const object = ch === 0x7b
      stack.push(object ? { object, items: 0, keys: new Set() } : { object, items: 0 })
      expectKey = object
      identifierValue = false
      i++
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      if (stack.pop() === undefined) return
      expectKey = false
      i++
    } else if (ch === 0x2c /* , */) {
      expectKey = stack[stack.length - 1]?.object ?? false
      i++
    } else if (ch === 0x22 /* " */) {
      // The closing quote is the first one not escaped; indexOf is much faster than a loop here.
      let j = i + 1
      let escaped = false
      for (;;) {
        const quote = text.indexOf('"', j)
        if (quote < 0) return
        if (backslash < j) backslash = text.indexOf('\\', j) >>> 0 // -1 becomes 2^32 - 1: none ahead
        if (backslash > quote) {
          j = quote
          break
        }
        escaped = true
        j = backslash + 2
      }
      const length = j - i - 1
      // Only an escape can write these: NUL (PostgreSQL refuses it in text) and a lone surrogate (no
      // UTF-8 for it: what is stored or sent on would differ from what was read).
      if (escaped && unstorableEscape.test(text.slice(i, j + 1))) {
        const decoded = decodedString(text.slice(i, j + 1))
        if (decoded !== undefined && unstorable.test(decoded)) refuse('character', 'a text holds a NUL character or a lone UTF-16 surrogate')
      }
      const top = stack[stack.length - 1]
      if (expectKey && top?.object) {
        if (length > limits.maxStringLength) refuse('string', `a key is longer than ${limits.maxStringLength} characters`)
        let key: string
        try {
          key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j)
        } catch {
          return
        }
        if (++top.items > limits.maxItems) refuse('items', `an object has more than ${limits.maxItems} members`, stack.length - 1)
        if (top.keys!.has(key)) {
          top.key = key
          refuse('duplicate', `the key ${JSON.stringify(key.slice(0, 64))} appears twice in one object`)
        }
        top.keys!.add(key)
        top.key = key
        identifierValue = identifierKeys.has(key)
        expectKey = false
      } else {
        countItem()
        if (identifierValue && length > limits.maxIdLength) refuse('identifier', `an identifier is longer than ${limits.maxIdLength} characters`)
        if (length > limits.maxStringLength) refuse('string', `a text is longer than ${limits.maxStringLength} characters`)
        identifierValue = false
      }
      i = j + 1
    } else if (ch === 0x2d /* - */ || (ch >= 0x30 && ch <= 0x39)) {
      let j = i + 1
      while (j < n && isNumberChar(text.charCodeAt(j))) j++
      countItem()
      const token = text.slice(i, j)
      if (Math.abs(Number(token)) === Infinity) refuse('number', `the number ${token.length > 32 ? `${token.slice(0, 32)}…` : token} is out of range`)
      identifierValue = false
      i = j
    } else if (ch === 0x74 /* t */ || ch === 0x66 /* f */ || ch === 0x6e /* n */) {
      countItem()
      identifierValue = false
      i++
      while (i < n && text.charCodeAt(i) >= 0x61 && text.charCodeAt(i) <= 0x7a) i++
    } else i++
  }
}

/** Escapes that may write an unstorable character; `unstorable` then checks the decoded text (a surrogate may be half of a pair). */
const unstorableEscape = /\\u(?:0000|[dD][89a-fA-F])/
const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const decodedString = (literal: string): string | undefined => {
  try {
    return JSON.parse(literal) as string
  } catch {
    return undefined
  }
}

const isNumberChar = (c: number) => (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d

/** `offer.permission.0.constraint`: the keys and indexes of the open values, outermost first. */
function pathOf(stack: Frame[]): string {
  return stack
    .map((frame) => (frame.object ? frame.key : frame.items > 0 ? String(frame.items - 1) : undefined))
    .filter((part): part is string => part !== undefined)
    .map((part) => (part.length > 64 ? `${part.slice(0, 64)}…` : part))
    .join('.')
}
