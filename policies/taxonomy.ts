import { closest } from './suggest.ts'

/**
 * A taxonomy: SKOS-like concepts named by IRI, each with broader concepts, a label and short names
 * (aliases such as `climate-research` or `CA-QC`). Policies and requests may name a concept by its
 * IRI, by a prefixed name (`dpv:Marketing`) or by an alias; inside, concepts are compared by IRI.
 *
 * The transitive closure of `broader` is computed once (when the taxonomy is built, or for a shipped
 * table on the first `within`), so that "is `a` a kind of (or within) `b`" is two map look-ups and a
 * set membership test: O(1), no allocation.
 */

/** Where a concept or a reference to one was written (for `file:line:column` messages). */
export interface SourcePosition {
  file: string
  line: number
  column: number
}

export interface ConceptInput {
  /** The concept's IRI. */
  iri: string
  label?: string
  /** Broader concepts: IRIs, prefixed names or aliases. */
  broader?: string[]
  /** Short names (SKOS notations) the concept may be written as. */
  aliases?: string[]
  at?: SourcePosition
  /** Where each broader reference was written, by index in `broader`. */
  broaderAt?: (SourcePosition | undefined)[]
}

export interface TaxonomyProblem extends SourcePosition {
  message: string
  suggestion?: string
}

export interface TaxonomyOptions {
  /** Prefixes accepted in prefixed names (`dpv` → `https://w3id.org/dpv#`). */
  prefixes?: Record<string, string>
  /** Aliases match whatever their case (ISO 3166 codes: `ca-qc` is `CA-QC`). */
  foldCase?: boolean
  /** Largest number of (concept, ancestor) pairs; a taxonomy beyond it is refused. */
  maxRelations?: number
  /** Makes the concepts again when the taxonomy is extended (instead of keeping them in memory). */
  inputs?: () => readonly ConceptInput[]
}

/** The namespaces the shipped vocabularies use, and their usual prefixes. */
export const knownPrefixes: Record<string, string> = {
  dpv: 'https://w3id.org/dpv#',
  loc: 'https://w3id.org/dpv/loc#',
  passerelle: 'https://w3id.org/passerelle/ns#',
}

// About 25 MB of pairs at most: a published vocabulary cannot make a member exhaust its memory.
const defaultMaxRelations = 1_000_000
const prefixedName = /^([A-Za-z][A-Za-z0-9_-]*):([^/].*)$/

export class Taxonomy {
  /** Every way of writing a concept (IRI, alias, prefixed name) → its index. */
  private readonly index: Map<string, number>
  /** (concept, ancestor) pairs, concept itself included, as `concept * size + ancestor`; made by `close` when first needed. */
  private pairs: ReadonlySet<number> | undefined

  private constructor(
    readonly iris: readonly string[],
    readonly labels: readonly string[],
    /** The name a concept is compared by: its first alias, else its IRI. */
    readonly names: readonly string[],
    /** Each concept's short names (one string when it has exactly one). */
    private readonly aliasLists: readonly (string | readonly string[])[],
    private readonly parents: readonly (readonly number[])[],
    index: Map<string, number>,
    pairs: ReadonlySet<number> | undefined,
    private readonly close: () => ReadonlySet<number>,
    private readonly inputs: () => readonly ConceptInput[],
    readonly options: TaxonomyOptions,
    /** IRIs written as this namespace and the concept's short name are not keys of `index`. */
    private readonly namespace?: string,
  ) {
    this.index = index
    this.pairs = pairs
  }

  get size(): number {
    return this.iris.length
  }

  /** The concept's index, from any of its spellings; undefined when unknown. */
  indexOf(term: string): number | undefined {
    const found = this.byKey(term)
    if (found !== undefined) return found
    const match = prefixedName.exec(term)
    if (match) {
      const namespace = this.options.prefixes?.[match[1]!]
      if (namespace !== undefined) return this.byKey(namespace + match[2]!)
    }
    return this.options.foldCase ? this.index.get(term.toUpperCase()) : undefined
  }

  /** A key of the index, or an IRI left out of it because it is the table's namespace and a short name. */
  private byKey(key: string): number | undefined {
    const found = this.index.get(key)
    if (found !== undefined || this.namespace === undefined || !key.startsWith(this.namespace)) return found
    const i = this.index.get(key.slice(this.namespace.length))
    return i !== undefined && this.iris[i] === key ? i : undefined
  }

  /** The concept's IRI, from any of its spellings. */
  iri(term: string): string | undefined {
    const i = this.indexOf(term)
    return i === undefined ? undefined : this.iris[i]
  }

  /** The one name the concept is compared and shown by (see `names`). */
  canonical(term: string): string | undefined {
    const i = this.indexOf(term)
    return i === undefined ? undefined : this.names[i]
  }

  label(term: string): string | undefined {
    const i = this.indexOf(term)
    return i === undefined ? undefined : this.labels[i] || undefined
  }

  /**
   * Whether `narrower` is `broader` or lies under it. Both must be canonical names (what
   * `canonical` returns): the evaluator canonicalises values once, then calls this on its hot path.
   */
  within(narrower: string, broader: string): boolean {
    const a = this.index.get(narrower)
    if (a === undefined) return false
    const b = this.index.get(broader)
    return b !== undefined && (this.pairs ??= this.close()).has(a * this.iris.length + b)
  }

  /** Short names, for listings and spelling suggestions. */
  aliases(): string[] {
    return this.aliasLists.flat()
  }

  /** Prefixed names (`dpv:Marketing`) of the concepts in a namespace with a known prefix. */
  prefixedNames(): string[] {
    const names: string[] = []
    for (const iri of this.iris) {
      for (const [prefix, namespace] of Object.entries(this.options.prefixes ?? {})) {
        if (iri.startsWith(namespace) && iri.length > namespace.length) names.push(`${prefix}:${iri.slice(namespace.length)}`)
      }
    }
    return names
  }

  /** The known concept closest to a misspelt term, written the way the term was (alias, prefixed name or IRI). */
  suggest(term: string): string | undefined {
    const hash = Math.max(term.lastIndexOf('#'), term.lastIndexOf('/'))
    const match = prefixedName.exec(term)
    let namespace: string | undefined
    let local = term
    if (match && this.options.prefixes?.[match[1]!]) {
      namespace = this.options.prefixes[match[1]!]
      local = match[2]!
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(term) && hash > 0) {
      namespace = term.slice(0, hash + 1)
      local = term.slice(hash + 1)
    }
    if (namespace === undefined) return closest(term, this.aliases())
    const locals = this.iris.filter((iri) => iri.startsWith(namespace!)).map((iri) => iri.slice(namespace!.length))
    const near = closest(local, locals)
    if (near === undefined) return undefined
    return match && this.options.prefixes?.[match[1]!] ? `${match[1]}:${near}` : namespace + near
  }

  /** Direct broader concepts' names (for explanations and listings). */
  broaderOf(term: string): string[] {
    const i = this.indexOf(term)
    return i === undefined ? [] : this.parents[i]!.map((p) => this.names[p]!)
  }

  /**
   * A shipped vocabulary already resolved by its code: concepts by index, broader concepts as
   * indexes, one short name each, no cycles. Skips resolving references and merging statements,
   * and the closure waits for the first `within` (start-up needs only the names, for lint and
   * `check`). An IRI that is `namespace` followed by the short name is found through the short
   * name, not indexed again (5,000 fewer keys for the places). Extending it goes through `build` again.
   */
  static fromTable(
    table: { iris: string[]; labels: string[]; aliases: string[]; parents: number[][] },
    options: TaxonomyOptions & { inputs: () => readonly ConceptInput[]; namespace?: string },
  ): Taxonomy {
    const size = table.iris.length
    const { inputs, namespace, ...rest } = options
    const index = new Map<string, number>()
    for (let i = 0; i < size; i++) index.set(table.aliases[i]!, i)
    for (let i = 0; i < size; i++) {
      const iri = table.iris[i]!
      if (
        namespace === undefined ||
        iri.length !== namespace.length + table.aliases[i]!.length ||
        !iri.startsWith(namespace) ||
        !iri.endsWith(table.aliases[i]!)
      )
        index.set(iri, i)
    }
    const close = () => {
      const pairs = new Set<number>()
      const ancestors: number[][] = new Array(size)
      const ancestorsOf = (node: number, depth: number): number[] => {
        let own = ancestors[node]
        if (own) return own
        if (depth > 64) throw new Error(`the shipped vocabulary has a cycle at ${table.iris[node]}`)
        own = [node]
        for (const p of table.parents[node]!) for (const a of ancestorsOf(p, depth + 1)) if (!own.includes(a)) own.push(a)
        ancestors[node] = own
        for (const a of own) pairs.add(node * size + a)
        return own
      }
      for (let i = 0; i < size; i++) ancestorsOf(i, 0)
      return pairs
    }
    return new Taxonomy(
      table.iris,
      table.labels,
      table.aliases,
      table.aliases,
      table.parents,
      index,
      undefined,
      close,
      inputs,
      { ...rest, prefixes: rest.prefixes ?? {} },
      namespace,
    )
  }

  /** Concepts beyond this many would make pair keys leave the exact integers. */
  static readonly maxConcepts = 1_000_000

  /**
   * Builds a taxonomy from concepts (statements about the same IRI are merged, as in RDF).
   * Refuses, with positioned problems, references to unknown concepts, an alias given to two
   * concepts, cycles of `broader`, and taxonomies whose closure would be too large.
   */
  static build(concepts: readonly ConceptInput[], options: TaxonomyOptions = {}): { taxonomy?: Taxonomy; problems: TaxonomyProblem[] } {
    const problems: TaxonomyProblem[] = []
    const prefixes = options.prefixes ?? {}
    const foldAlias = (alias: string) => (options.foldCase ? alias.toUpperCase() : alias)
    const byIri = new Map<string, number>()
    const iris: string[] = []
    const labels: string[] = []
    const aliasLists: string[][] = []
    const firstAt: (SourcePosition | undefined)[] = []
    for (const c of concepts) {
      let i = byIri.get(c.iri)
      if (i === undefined) {
        i = iris.length
        byIri.set(c.iri, i)
        iris.push(c.iri)
        labels.push(c.label ?? '')
        // Exact-size arrays (an empty array grown by push reserves 17 slots; there are 5,000 places).
        aliasLists.push(c.aliases ? [...new Set(c.aliases.map(foldAlias))] : [])
        firstAt.push(c.at)
        continue
      }
      if (!labels[i] && c.label) labels[i] = c.label
      for (const alias of c.aliases ?? []) if (!aliasLists[i]!.includes(foldAlias(alias))) aliasLists[i]!.push(foldAlias(alias))
    }
    // IRIs are keys already; short names join them (a short name is never an IRI of another concept).
    const index = byIri
    for (let i = 0; i < iris.length; i++) {
      for (const alias of aliasLists[i]!) {
        const other = index.get(alias)
        if (other !== undefined && other !== i) {
          const at = firstAt[i] ?? unknownPosition
          problems.push({
            ...at,
            message: `the short name \`${alias}\` is given to both \`${iris[other]}\` and \`${iris[i]}\``,
            suggestion: 'give each concept its own short name',
          })
        } else index.set(alias, i)
      }
    }
    const names = iris.map((iri, i) => aliasLists[i]![0] ?? iri)
    const lookup = (term: string) => {
      const found = index.get(term) ?? (options.foldCase ? index.get(term.toUpperCase()) : undefined)
      if (found !== undefined) return found
      const match = prefixedName.exec(term)
      return match && prefixes[match[1]!] !== undefined ? index.get(prefixes[match[1]!] + match[2]!) : undefined
    }

    // Few broader concepts each: arrays, not sets (5,000 places would mean 5,000 sets to throw away).
    const parents: number[][] = new Array(iris.length).fill(none)
    for (const c of concepts) {
      const i = byIri.get(c.iri)!
      ;(c.broader ?? []).forEach((ref, k) => {
        const p = lookup(ref)
        if (p === undefined) {
          const at = c.broaderAt?.[k] ?? c.at ?? unknownPosition
          const near = nearestReference(
            ref,
            iris,
            [...index.keys()].filter((key) => !key.includes('://')),
          )
          problems.push({
            ...at,
            message: `\`${ref}\` (broader than \`${c.iri}\`) is not a known concept`,
            ...(near ? { suggestion: `did you mean \`${near}\`?` } : {}),
          })
        } else if (p === i) {
          const at = c.broaderAt?.[k] ?? c.at ?? unknownPosition
          problems.push({ ...at, message: `\`${c.iri}\` names itself as broader` })
        } else if (!parents[i]!.includes(p)) parents[i] = [...parents[i]!, p]
      })
    }

    // Closure in topological order (iterative: deep chains do not overflow the stack); a cycle is refused.
    const size = iris.length
    if (size > Taxonomy.maxConcepts) problems.push({ ...unknownPosition, message: `more than ${Taxonomy.maxConcepts} concepts` })
    const state = new Uint8Array(size) // 0 new, 1 on the path, 2 done
    const ancestors: number[][] = new Array(size)
    const seen = new Int32Array(size).fill(-1)
    const pairs = new Set<number>()
    const maxRelations = options.maxRelations ?? defaultMaxRelations
    for (let root = 0; root < size && problems.length === 0; root++) {
      if (state[root] === 2) continue
      const stack: Array<[node: number, next: number]> = [[root, 0]]
      state[root] = 1
      while (stack.length > 0 && problems.length === 0) {
        const top = stack[stack.length - 1]!
        const [node, next] = top
        const list = parents[node]!
        if (next < list.length) {
          top[1]++
          const p = list[next]!
          if (state[p] === 1) {
            const at = firstAt[node] ?? unknownPosition
            problems.push({
              ...at,
              message: `\`${iris[node]}\` and \`${iris[p]}\` are each broader than the other (a cycle of broader concepts)`,
              suggestion: 'remove one of the broader links',
            })
          } else if (state[p] === 0) {
            state[p] = 1
            stack.push([p, 0])
          }
          continue
        }
        const own = [node]
        seen[node] = node
        for (const p of list)
          for (const a of ancestors[p]!)
            if (seen[a] !== node) {
              seen[a] = node
              own.push(a)
            }
        ancestors[node] = own
        for (const a of own) pairs.add(node * size + a)
        if (pairs.size > maxRelations) {
          problems.push({
            ...(firstAt[node] ?? unknownPosition),
            message: `the taxonomy relates more than ${maxRelations} pairs of concepts`,
            suggestion: 'split it or flatten its hierarchy',
          })
        }
        state[node] = 2
        stack.pop()
      }
    }
    if (problems.length > 0) return { problems }
    const inputs = options.inputs ?? (() => concepts)
    const { inputs: _inputs, ...rest } = options
    return { taxonomy: new Taxonomy(iris, labels, names, aliasLists, parents, index, pairs, () => pairs, inputs, { ...rest, prefixes }), problems }
  }

  /** This taxonomy with more concepts (or more statements about its concepts); the original is unchanged. */
  extend(concepts: readonly ConceptInput[]): { taxonomy?: Taxonomy; problems: TaxonomyProblem[] } {
    return Taxonomy.build([...this.inputs(), ...concepts], this.options)
  }
}

const unknownPosition: SourcePosition = { file: '(vocabulary)', line: 1, column: 1 }
const none: number[] = []

/** A misspelt IRI is compared with the IRIs of its namespace; anything else with the short names. */
function nearestReference(ref: string, iris: readonly string[], shortNames: string[]): string | undefined {
  const cut = Math.max(ref.lastIndexOf('#'), ref.lastIndexOf('/'))
  if (!ref.includes('://') || cut < 0) return closest(ref, shortNames)
  const namespace = ref.slice(0, cut + 1)
  const near = closest(
    ref.slice(cut + 1),
    iris.filter((iri) => iri.startsWith(namespace)).map((iri) => iri.slice(namespace.length)),
  )
  return near === undefined ? undefined : namespace + near
}

/**
 * Shipped vocabularies, stored compactly: `[id, label, broader, short names]`. Ids are relative to
 * `namespace` unless absolute; a broader reference is a local id of the same file, an IRI or a short name.
 */
export interface TaxonomyData {
  namespace: string
  concepts: Array<[id: string, label: string, broader?: string[], aliases?: string[]]>
}

export function conceptsFromData(data: TaxonomyData): ConceptInput[] {
  const absolute = (id: string) => (/^[a-z][a-z0-9+.-]*:/i.test(id) ? id : data.namespace + id)
  const ids = new Set(data.concepts.map(([id]) => absolute(id)))
  const reference = (ref: string) => (ids.has(data.namespace + ref) ? data.namespace + ref : ref)
  return data.concepts.map(([id, label, broader, aliases]) => ({
    iri: absolute(id),
    ...(label ? { label } : {}),
    ...(broader && broader.length > 0 ? { broader: broader.map(reference) } : {}),
    ...(aliases ? { aliases } : {}),
  }))
}
