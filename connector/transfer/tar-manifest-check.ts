import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'

/**
 * Checks a downloaded folder archive (tar) against the manifest it ends with: every file the
 * manifest lists is in the archive with that size and sha256, and nothing else is. A folder's
 * archive has no sha256 of its own announced before it is sent (it is built as it streams), so this
 * is how a pull of a folder is verified. Reads the file once, a chunk at a time; holds one digest per file.
 */
export type TarCheck = { ok: true; files: number } | { ok: false; reason: string }

const manifestName = 'MANIFEST.passerelle.json'
const block = 512
const maxManifestBytes = 256 * 1024 * 1024
const chunkBytes = 1024 * 1024

export async function checkTarManifest(path: string): Promise<TarCheck> {
  const handle = await open(path, 'r')
  try {
    const size = (await handle.stat()).size
    const seen = new Map<string, { size: number; sha256: string }>()
    let manifest: unknown
    let position = 0
    let paxPath: string | undefined
    let paxSize: number | undefined
    const header = Buffer.alloc(block)
    while (position + block <= size) {
      await handle.read(header, 0, block, position)
      position += block
      if (header.every((b) => b === 0)) break
      const field = (start: number, length: number) => header.toString('latin1', start, start + length).replace(/\0.*$/s, '')
      const type = field(156, 1) || '0'
      const octal = field(124, 12).trim()
      const length = paxSize ?? (octal ? Number.parseInt(octal, 8) : 0)
      if (!Number.isFinite(length) || length < 0 || position + length > size)
        return { ok: false, reason: 'the archive is cut short or its headers are damaged' }
      const prefix = field(345, 155)
      const name = paxPath ?? (prefix ? `${prefix}/${field(0, 100)}` : Buffer.from(field(0, 100), 'latin1').toString('utf8'))
      paxPath = undefined
      paxSize = undefined
      if (type === 'x') {
        const records = await readBytes(handle, position, length)
        for (const [key, value] of paxRecords(records.toString('utf8'))) {
          if (key === 'path') paxPath = value
          if (key === 'size') paxSize = Number(value)
        }
      } else if (type === '0' || type === '') {
        if (name === manifestName) {
          if (length > maxManifestBytes) return { ok: false, reason: 'the manifest is larger than any folder this connector would send' }
          try {
            manifest = JSON.parse((await readBytes(handle, position, length)).toString('utf8'))
          } catch {
            return { ok: false, reason: 'the manifest is not JSON' }
          }
        } else seen.set(name, { size: length, sha256: await hashRange(handle, position, length) })
      }
      position += length % block ? length + block - (length % block) : length
    }
    const files = (manifest as { files?: unknown } | undefined)?.files
    if (!Array.isArray(files)) return { ok: false, reason: `the archive has no ${manifestName} to check its files against` }
    for (const entry of files as Array<{ path?: unknown; size?: unknown; sha256?: unknown }>) {
      const got = typeof entry.path === 'string' ? seen.get(entry.path) : undefined
      if (!got) return { ok: false, reason: `the manifest lists ${JSON.stringify(entry.path)}, which the archive does not hold` }
      if (got.size !== entry.size || got.sha256 !== entry.sha256)
        return { ok: false, reason: `${entry.path} does not match the manifest (size ${got.size}, sha256 ${got.sha256})` }
      seen.delete(entry.path as string)
    }
    if (seen.size > 0) return { ok: false, reason: `the archive holds ${JSON.stringify([...seen.keys()][0])}, which the manifest does not list` }
    return { ok: true, files: files.length }
  } finally {
    await handle.close()
  }
}

async function readBytes(handle: import('node:fs/promises').FileHandle, position: number, length: number) {
  const buffer = Buffer.alloc(length)
  await handle.read(buffer, 0, length, position)
  return buffer
}

async function hashRange(handle: import('node:fs/promises').FileHandle, position: number, length: number) {
  const hash = createHash('sha256')
  const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(1, length)))
  for (let done = 0; done < length; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - done), position + done)
    if (bytesRead === 0) break
    hash.update(buffer.subarray(0, bytesRead))
    done += bytesRead
  }
  return hash.digest('hex')
}

/** `"<length> <key>=<value>\n"` records of a pax extended header. */
function paxRecords(text: string): Array<[string, string]> {
  const records: Array<[string, string]> = []
  for (const match of text.matchAll(/(\d+) ([^=]+)=([^\n]*)\n/g)) records.push([match[2]!, match[3]!])
  return records
}
