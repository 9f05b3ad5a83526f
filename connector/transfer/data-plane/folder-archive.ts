import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'

/**
 * A folder as one streamed archive: tar (POSIX ustar, with pax records for long or non-ASCII names
 * and sizes beyond 8 GiB) or zip (stored, no compression; zip64 where sizes or counts need it).
 * Files are read one after the other, a chunk at a time, so memory does not grow with their sizes;
 * each file's sha256 is computed on the way and the archive ends with a manifest entry listing
 * every file's path, size and sha256. Written here (not with a library) because both formats are
 * small and the streaming, bounded-memory shape is what matters.
 *
 * The tar is deterministic: files in the listing's order (by name), each with its own mtime, mode
 * 0644, owner 0; the manifest last, with the latest of the files' mtimes. Its length and a validator
 * follow from the listing alone (`tarLayout`), so a byte range of it can be served (`archiveStream`
 * with a range): files wholly before the range are not sent, only hashed for the manifest (or their
 * cached sha256 used); the stream stops at the range's end.
 */

/** One file of the folder: its path inside the archive (with `/`), size, time, and its bytes. */
export interface ArchiveEntry {
  path: string
  size: number
  modified: Date
  /** Exactly `size` bytes; the archive fails if it yields more or fewer. */
  open(): AsyncIterable<Uint8Array>
  /** Its sha256 without reading it here (a cached digest), for a file a range skips; read and hashed when absent. */
  sha256?(): Promise<string>
}

export type ArchiveFormat = 'tar' | 'zip'

/** The manifest's name inside the archive (the last entry). */
export const manifestName = 'MANIFEST.passerelle.json'

export const archiveMediaType: Record<ArchiveFormat, string> = { tar: 'application/x-tar', zip: 'application/zip' }

/** The manifest: what a consumer checks the unpacked files against. */
export interface ArchiveManifest {
  files: Array<{ path: string; size: number; sha256: string }>
}

/**
 * The archive as a web stream, pulled a chunk at a time (no read-ahead beyond one chunk); a tar may
 * be asked for one byte range of it (inclusive ends, as `tarLayout` measured it).
 */
export function archiveStream(
  entries: AsyncIterable<ArchiveEntry>,
  format: ArchiveFormat,
  onEnd?: (sent: number, error?: unknown) => void,
  range?: { start: number; end: number },
): ReadableStream<Uint8Array> {
  if (range && format !== 'tar') throw new Error('only a tar is served by ranges')
  const chunks = format === 'tar' ? tarChunks(entries, range) : zipChunks(entries)
  let ended = false
  let sent = 0
  const end = (error?: unknown) => {
    if (ended) return
    ended = true
    onEnd?.(sent, error)
  }
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await chunks.next()
          if (done) {
            end()
            controller.close()
          } else {
            sent += value.length
            controller.enqueue(value)
          }
        } catch (error) {
          end(error)
          controller.error(error)
        }
      },
      async cancel(reason) {
        end(reason ?? new Error('the client went away'))
        await chunks.return(undefined)
      },
    },
    { highWaterMark: 0 },
  )
}

/** A file's bytes, checked against its declared size and hashed; resolves the sha256 through `done`. */
async function* hashedContent(entry: ArchiveEntry, done: (sha256: string) => void, crc?: { value: number }): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256')
  let seen = 0
  for await (const chunk of entry.open()) {
    seen += chunk.length
    if (seen > entry.size) throw new Error(`${entry.path} grew while it was being archived`)
    hash.update(chunk)
    if (crc) crc.value = crc32(chunk, crc.value)
    yield chunk
  }
  if (seen !== entry.size) throw new Error(`${entry.path} has ${seen} bytes, not the ${entry.size} it had when listed`)
  done(hash.digest('hex'))
}

function checkedPath(path: string): string {
  if (path === '' || path.startsWith('/') || path.split('/').some((p) => p === '..' || p === '.' || p === '') || path.includes('\0'))
    throw new Error(`refused to archive the path ${JSON.stringify(path)}`)
  return path
}

/**
 * The manifest's text, written entry by entry so that its length is known from the listing (a
 * sha256 is always 64 characters): the same text as `JSON.stringify(manifest, null, 1)` and a newline.
 */
const manifestEntryText = (path: string, size: number, sha256: string) =>
  `  {\n   "path": ${JSON.stringify(path)},\n   "size": ${size},\n   "sha256": "${sha256}"\n  }`
const manifestBytes = (manifest: ArchiveManifest) =>
  Buffer.from(
    manifest.files.length === 0
      ? '{\n "files": []\n}\n'
      : `{\n "files": [\n${manifest.files.map((f) => manifestEntryText(f.path, f.size, f.sha256)).join(',\n')}\n ]\n}\n`,
  )
/** The manifest's length in bytes, from the number of files and the length of their entries' text. */
const manifestLength = (count: number, entriesBytes: number) =>
  count === 0 ? manifestBytes({ files: [] }).length : Buffer.byteLength('{\n "files": [\n') + entriesBytes + 2 * (count - 1) + Buffer.byteLength('\n ]\n}\n')

// ---------------------------------------------------------------------------------------------
// tar (POSIX.1-2001 pax interchange format over ustar)

const block = 512
const maxOctal11 = 0o77777777777

/** The length of a tar of these entries and a validator (ETag) of its listing, without reading a file. */
export async function tarLayout(entries: AsyncIterable<ArchiveEntry>): Promise<{ size: number; etag: string }> {
  const hash = createHash('sha256')
  let size = 0
  let count = 0
  let entriesBytes = 0
  let latest = 0
  for await (const entry of entries) {
    const path = checkedPath(entry.path)
    size += tarHeaders(path, entry.size, entry.modified).length + padded(entry.size)
    entriesBytes += Buffer.byteLength(manifestEntryText(path, entry.size, '0'.repeat(64)))
    count++
    latest = Math.max(latest, entry.modified.getTime())
    hash.update(`${path}\0${entry.size}\0${entry.modified.getTime()}\n`)
  }
  const manifest = manifestLength(count, entriesBytes)
  size += tarHeaders(manifestName, manifest, new Date(latest)).length + padded(manifest) + 2 * block
  return { size, etag: `"tar-${hash.digest('base64url').slice(0, 32)}"` }
}

const padded = (size: number) => (size % block ? size + block - (size % block) : size)

async function* tarChunks(entries: AsyncIterable<ArchiveEntry>, range?: { start: number; end: number }): AsyncGenerator<Uint8Array> {
  const manifest: ArchiveManifest = { files: [] }
  const from = range?.start ?? 0
  const to = range ? range.end + 1 : Number.POSITIVE_INFINITY
  // Where the next byte of the whole archive is; only what falls within [from, to) is yielded.
  let position = 0
  const within = (bytes: Uint8Array): Uint8Array | undefined => {
    const start = position
    position += bytes.length
    if (position <= from || start >= to) return undefined
    return start >= from && position <= to ? bytes : bytes.subarray(Math.max(0, from - start), Math.min(bytes.length, to - start))
  }
  let latest = 0
  for await (const entry of entries) {
    if (position >= to) return
    const path = checkedPath(entry.path)
    latest = Math.max(latest, entry.modified.getTime())
    const header = within(tarHeaders(path, entry.size, entry.modified))
    if (header) yield header
    let sha256 = ''
    if (position + entry.size <= from && entry.sha256) {
      // Wholly before the range: not read, its digest only.
      sha256 = await entry.sha256()
      position += entry.size
    } else
      for await (const chunk of hashedContent(entry, (digest) => (sha256 = digest))) {
        const part = within(chunk)
        if (part) yield part
        // Past the range's end: the rest of this file is not read (the generator's return closes it).
        if (position >= to) return
      }
    const padding = padded(entry.size) - entry.size
    if (padding) {
      const part = within(Buffer.alloc(padding))
      if (part) yield part
    }
    manifest.files.push({ path, size: entry.size, sha256 })
  }
  if (position >= to) return
  const body = manifestBytes(manifest)
  for (const bytes of [
    tarHeaders(manifestName, body.length, new Date(latest)),
    body,
    Buffer.alloc(padded(body.length) - body.length),
    Buffer.alloc(2 * block),
  ]) {
    const part = within(bytes)
    if (part && part.length > 0) yield part
  }
}

/** The header block(s) of one file: a pax extended header first when ustar cannot hold the name or size. */
function tarHeaders(path: string, size: number, modified: Date): Buffer {
  const name = Buffer.from(path, 'utf8')
  const ascii = /^[\x20-\x7e]*$/.test(path)
  const mtime = Math.max(0, Math.floor(modified.getTime() / 1000))
  const records: string[] = []
  if (name.length > 100 || !ascii) records.push(paxRecord('path', path))
  if (size > maxOctal11) records.push(paxRecord('size', String(size)))
  const main = ustarHeader(records.length > 0 ? asciiName(path) : name, size > maxOctal11 ? 0 : size, mtime, '0')
  if (records.length === 0) return main
  const pax = Buffer.from(records.join(''), 'utf8')
  const padding = pax.length % block ? block - (pax.length % block) : 0
  return Buffer.concat([
    ustarHeader(Buffer.from(`PaxHeader/${asciiName(path).toString('latin1')}`.slice(0, 100), 'latin1'), pax.length, mtime, 'x'),
    pax,
    Buffer.alloc(padding),
    main,
  ])
}

/** A short ASCII stand-in for a name a pax record carries (for readers that ignore pax). */
const asciiName = (path: string) => Buffer.from(path.replace(/[^\x20-\x7e]/g, '_').slice(-100), 'latin1')

/** `"<length> <key>=<value>\n"`, where the length counts itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`
  const restBytes = Buffer.byteLength(rest)
  let length = restBytes + 1
  while (String(length).length + restBytes !== length) length = String(length).length + restBytes
  return `${length}${rest}`
}

function ustarHeader(name: Buffer, size: number, mtime: number, type: '0' | 'x'): Buffer {
  const header = Buffer.alloc(block)
  name.copy(header, 0, 0, Math.min(100, name.length))
  header.write('0000644\0', 100, 'latin1')
  header.write('0000000\0', 108, 'latin1')
  header.write('0000000\0', 116, 'latin1')
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1')
  header.write(`${Math.min(mtime, maxOctal11).toString(8).padStart(11, '0')}\0`, 136, 'latin1')
  header.write('        ', 148, 'latin1')
  header.write(type, 156, 'latin1')
  header.write('ustar\0', 257, 'latin1')
  header.write('00', 263, 'latin1')
  let sum = 0
  for (const byte of header) sum += byte
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
  return header
}

// ---------------------------------------------------------------------------------------------
// zip (APPNOTE 6.3.x: stored entries with data descriptors, UTF-8 names, zip64 where needed)

const max32 = 0xffffffff

async function* zipChunks(entries: AsyncIterable<ArchiveEntry>): AsyncGenerator<Uint8Array> {
  const manifest: ArchiveManifest = { files: [] }
  // What the central directory needs of each entry: a few numbers and the name, not the bytes.
  const written: Array<{ name: Buffer; crc: number; size: number; offset: number; time: number; date: number }> = []
  let offset = 0
  async function* one(path: string, size: number, modified: Date, content: AsyncIterable<Uint8Array>, crc: { value: number }) {
    const name = Buffer.from(path, 'utf8')
    const [time, date] = dosTime(modified)
    const zip64 = size >= max32
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(zip64 ? 45 : 20, 4)
    local.writeUInt16LE(0x0808, 6) // sizes in a data descriptor; UTF-8 names
    local.writeUInt16LE(0, 8) // stored
    local.writeUInt16LE(time, 10)
    local.writeUInt16LE(date, 12)
    if (zip64) {
      local.writeUInt32LE(max32, 18)
      local.writeUInt32LE(max32, 22)
    }
    local.writeUInt16LE(name.length, 26)
    const extra = zip64 ? zip64Extra([0, 0]) : Buffer.alloc(0)
    local.writeUInt16LE(extra.length, 28)
    const entry = { name, crc: 0, size, offset, time, date }
    yield Buffer.concat([local, name, extra])
    offset += local.length + name.length + extra.length
    yield* content
    offset += size
    entry.crc = crc.value >>> 0
    const descriptor = Buffer.alloc(zip64 ? 24 : 16)
    descriptor.writeUInt32LE(0x08074b50, 0)
    descriptor.writeUInt32LE(entry.crc, 4)
    if (zip64) {
      descriptor.writeBigUInt64LE(BigInt(size), 8)
      descriptor.writeBigUInt64LE(BigInt(size), 16)
    } else {
      descriptor.writeUInt32LE(size, 8)
      descriptor.writeUInt32LE(size, 12)
    }
    yield descriptor
    offset += descriptor.length
    written.push(entry)
  }
  for await (const entry of entries) {
    const path = checkedPath(entry.path)
    const crc = { value: 0 }
    let sha256 = ''
    yield* one(
      path,
      entry.size,
      entry.modified,
      hashedContent(entry, (digest) => (sha256 = digest), crc),
      crc,
    )
    manifest.files.push({ path, size: entry.size, sha256 })
  }
  const body = manifestBytes(manifest)
  const manifestCrc = { value: crc32(body) }
  yield* one(
    manifestName,
    body.length,
    new Date(),
    (async function* () {
      yield body
    })(),
    manifestCrc,
  )

  const directoryStart = offset
  for (const e of written) {
    const needs = [e.size >= max32 ? e.size : undefined, e.size >= max32 ? e.size : undefined, e.offset >= max32 ? e.offset : undefined].filter(
      (v): v is number => v !== undefined,
    )
    const extra = needs.length > 0 ? zip64Extra(needs) : Buffer.alloc(0)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE((3 << 8) | 45, 4) // made by: Unix, 4.5
    central.writeUInt16LE(needs.length > 0 ? 45 : 20, 6)
    central.writeUInt16LE(0x0808, 8)
    central.writeUInt16LE(0, 10)
    central.writeUInt16LE(e.time, 12)
    central.writeUInt16LE(e.date, 14)
    central.writeUInt32LE(e.crc, 16)
    central.writeUInt32LE(Math.min(e.size, max32), 20)
    central.writeUInt32LE(Math.min(e.size, max32), 24)
    central.writeUInt16LE(e.name.length, 28)
    central.writeUInt16LE(extra.length, 30)
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38) // a regular file, rw-r--r--
    central.writeUInt32LE(Math.min(e.offset, max32), 42)
    yield Buffer.concat([central, e.name, extra])
    offset += central.length + e.name.length + extra.length
  }
  const directorySize = offset - directoryStart
  const count = written.length
  if (count >= 0xffff || directoryStart >= max32 || directorySize >= max32) {
    const record = Buffer.alloc(56)
    record.writeUInt32LE(0x06064b50, 0)
    record.writeBigUInt64LE(44n, 4)
    record.writeUInt16LE(45, 12)
    record.writeUInt16LE(45, 14)
    record.writeBigUInt64LE(BigInt(count), 24)
    record.writeBigUInt64LE(BigInt(count), 32)
    record.writeBigUInt64LE(BigInt(directorySize), 40)
    record.writeBigUInt64LE(BigInt(directoryStart), 48)
    const locator = Buffer.alloc(20)
    locator.writeUInt32LE(0x07064b50, 0)
    locator.writeBigUInt64LE(BigInt(offset), 8)
    locator.writeUInt32LE(1, 16)
    yield Buffer.concat([record, locator])
  }
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(Math.min(count, 0xffff), 8)
  end.writeUInt16LE(Math.min(count, 0xffff), 10)
  end.writeUInt32LE(Math.min(directorySize, max32), 12)
  end.writeUInt32LE(Math.min(directoryStart, max32), 16)
  yield end
}

function zip64Extra(values: number[]): Buffer {
  const extra = Buffer.alloc(4 + 8 * values.length)
  extra.writeUInt16LE(0x0001, 0)
  extra.writeUInt16LE(8 * values.length, 2)
  values.forEach((v, i) => extra.writeBigUInt64LE(BigInt(v), 4 + 8 * i))
  return extra
}

/** MS-DOS time and date (local fields, written as UTC), clamped to 1980. */
function dosTime(at: Date): [number, number] {
  const d = at.getUTCFullYear() < 1980 ? new Date(Date.UTC(1980, 0, 1)) : at
  return [
    (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2),
    ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  ]
}
