import { realpath } from 'node:fs/promises'
import { isAbsolute, relative, resolve, sep } from 'node:path'

/**
 * Which local files a distribution may name: those under the files root, and never a private place
 * (identity keys, the configuration, the database), even when the files root holds one. The spelled
 * path and the real path (symbolic links resolved) are both checked, at validation and again right
 * before every read, so a link swapped after validation leaks nothing.
 */
export interface FilesRoot {
  /** Absolute; distributions must stay under it. */
  root: string
  /** Places never published, with what they are ("a private identity key"). */
  private: ReadonlyArray<{ path: string; what: string }>
}

export type DistributionFile = { path: string } | { problem: string; missing?: true }

/**
 * Where `file` (as a distribution spells it, relative to the participant folder `base`) really is,
 * or why it may not be published.
 */
export async function locateDistributionFile(files: FilesRoot, base: string, file: string): Promise<DistributionFile> {
  if (file.includes('\0') || isAbsolute(file) || file.split(/[\\/]/).includes('..'))
    return { problem: 'expected a path relative to the participant folder, without ..' }
  const spelled = resolve(base, file)
  const root = resolve(files.root)
  const shownRoot = relative(resolve(base), root) || '.'
  if (!within(root, spelled)) return { problem: `${file} is outside the files folder (${shownRoot}): only files under it can be published` }
  for (const place of files.private) if (sameOrWithin(resolve(place.path), spelled)) return { problem: `${file} is ${place.what}: never published` }
  let rootReal: string
  let real: string
  try {
    rootReal = await realpath(root)
  } catch {
    return { problem: `the files folder ${shownRoot} does not exist`, missing: true }
  }
  try {
    real = await realpath(spelled)
  } catch {
    return { problem: `no such file: ${file}`, missing: true }
  }
  if (!within(rootReal, real)) return { problem: `${file} is a symbolic link that leads outside the files folder (${shownRoot})` }
  for (const place of files.private) {
    const placeReal = await realpath(place.path).catch(() => resolve(place.path))
    if (sameOrWithin(placeReal, real)) return { problem: `${file} leads to ${place.what}: never published` }
  }
  return { path: real }
}

/** Whether `path` is strictly under `folder`. */
export const within = (folder: string, path: string) => {
  const rel = relative(folder, path)
  return rel !== '' && !isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`)
}

const sameOrWithin = (place: string, path: string) => place === path || within(place, path)
