// Counts a connector process's database statements for bench/negotiation.ts, loaded into it with
// `NODE_OPTIONS=--import <this file>` (pg and better-sqlite3 stay outside the bundle, so patching
// their prototypes here reaches the connector's calls). Per statement text: how many ran and the
// wall time they took (on PostgreSQL a round trip each, lock waits and commit flushes included).
// SIGUSR2 writes the totals so far to $BENCH_STATEMENTS_DIR/<pid>.json; the bench reads the
// difference between two snapshots.
import { renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const require = createRequire(join(process.cwd(), 'package.json'))
const counts = new Map()

/** One name per statement: its text with values and long column lists folded. */
const nameOf = (text) =>
  String(text)
    .replace(/\s+/g, ' ')
    .replace(/\$\d+/g, '?')
    .replace(/\((?:"[^"]+"(?:, )?){4,}\)/g, '(…)')
    .replace(/select (?:"[^"]+"(?:\."[^"]+")?(?:, )?){4,}/gi, 'select … ')
    .replace(/set (?:"[^"]+" = \?(?:, )?){3,}/gi, 'set … ')
    .replace(/(?:\(\?(?:, \?)+\)(?:, )?)+/g, '(?…)')
    .slice(0, 140)

const count = (text, ms) => {
  const name = nameOf(text)
  const entry = counts.get(name) ?? { n: 0, ms: 0 }
  entry.n++
  entry.ms += ms
  counts.set(name, entry)
}

try {
  const pg = require('pg')
  const query = pg.Client.prototype.query
  pg.Client.prototype.query = function (config, values, callback) {
    const text = typeof config === 'string' ? config : config?.text
    const started = performance.now()
    const result = query.call(this, config, values, callback)
    if (text && result && typeof result.then === 'function')
      result.then(
        () => count(text, performance.now() - started),
        () => count(text, performance.now() - started),
      )
    return result
  }
} catch {
  // no pg here
}

try {
  const Database = require('better-sqlite3')
  const probe = new Database(':memory:')
  const statement = Object.getPrototypeOf(probe.prepare('select 1'))
  for (const method of ['run', 'get', 'all']) {
    const original = statement[method]
    statement[method] = function (...args) {
      const started = performance.now()
      try {
        return original.apply(this, args)
      } finally {
        count(this.source, performance.now() - started)
      }
    }
  }
  const exec = Database.prototype.exec
  Database.prototype.exec = function (text) {
    const started = performance.now()
    try {
      return exec.call(this, text)
    } finally {
      count(text, performance.now() - started)
    }
  }
  probe.close()
} catch {
  // no better-sqlite3 here
}

process.on('SIGUSR2', () => {
  const dir = process.env.BENCH_STATEMENTS_DIR
  if (!dir) return
  // Written whole, then renamed: the bench never reads half a file.
  const file = join(dir, `${process.pid}.json`)
  writeFileSync(`${file}.partial`, JSON.stringify(Object.fromEntries(counts)))
  renameSync(`${file}.partial`, file)
})
