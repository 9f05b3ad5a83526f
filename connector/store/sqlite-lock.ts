import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'

/**
 * One connector process per SQLite file: the store's single connection is where transactions are
 * serialised and the outbox is claimed, so a second process on the same file would send everything
 * twice. The lock is a file beside the database (`<db>.lock`) created exclusively and holding the
 * owner's pid; a lock left by a process that no longer runs is taken over.
 */
export class DatabaseInUseError extends Error {
  constructor(
    readonly file: string,
    readonly pid: number,
    readonly lockFile: string,
  ) {
    super(`the database file ${file} is in use by another connector process (pid ${pid}); stop it first (lock file ${lockFile})`)
    this.name = 'DatabaseInUseError'
  }
}

export interface SqliteLock {
  release(): void
}

export function lockSqliteFile(file: string, pid = process.pid): SqliteLock {
  const lockFile = `${file}.lock`
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx', 0o600)
      try {
        writeSync(fd, `${pid}\n`)
      } finally {
        closeSync(fd)
      }
      return { release: () => releaseIfOurs(lockFile, pid) }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw error
    }
    const owner = readOwner(lockFile)
    if (owner === undefined) continue // removed meanwhile: try again
    if (owner !== pid && isRunning(owner)) throw new DatabaseInUseError(file, owner, lockFile)
    takeOver(lockFile, owner, pid, file)
  }
}

/**
 * Moves a stale lock aside before deleting it: a rename is atomic, so of two processes taking over
 * the same stale lock one wins; one that moved a lock just created by a live process puts it back.
 */
function takeOver(lockFile: string, stale: number, pid: number, file: string) {
  const aside = `${lockFile}.${pid}.stale`
  try {
    renameSync(lockFile, aside)
  } catch {
    return // someone else took it over first: the next attempt reads their lock
  }
  const moved = readOwner(aside)
  if (moved === undefined || moved === stale || moved === pid || !isRunning(moved)) {
    unlinkSync(aside)
    return
  }
  try {
    linkSync(aside, lockFile)
  } catch {
    // a third process holds it now; it is running either way
  }
  unlinkSync(aside)
  throw new DatabaseInUseError(file, moved, lockFile)
}

function readOwner(lockFile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(lockFile, 'utf8').trim(), 10)
    // An empty or damaged lock (a crash while writing it) belongs to nobody.
    return Number.isSafeInteger(pid) && pid > 0 ? pid : 0
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function isRunning(pid: number): boolean {
  if (pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function releaseIfOurs(lockFile: string, pid: number) {
  try {
    if (readOwner(lockFile) === pid) unlinkSync(lockFile)
  } catch {
    // already gone: nothing to release
  }
}
