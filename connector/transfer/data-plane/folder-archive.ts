import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'

/**
 * A folder as one streamed archive: tar (POSIX ustar, with pax records for long or non-ASCII names
 * and sizes beyond 8 GiB) or zip (stored, no compression; zip64 where sizes or counts need it).
 * Files are read one after the other, a chunk at a time, so memory does not grow with their sizes;
 * each file's sha256 is computed on the way and the archive ends with a manifest entry listing
 * every file's path, size and sha256. Written here (not with a library) because both formats are
 * small and the streaming, bounded-memory shape is what matters.
 */

/** One file of the folder: its path inside the archive (with `/`), size, time, and its bytes. */
export interface ArchiveEntry {
  path: string
  size: number
  modified: Date
  /** Exactly `size` bytes; the archive fails if it yields more or fewer. */
  open(): AsyncIterable<Uint8Array>
}

export type ArchiveFormat = 'tar' | 'zip'

/** The manifest's name inside the archive (the last entry). */
export const manifestName = 'MANIFEST.passerelle.json'

export const archiveMediaType: Record<ArchiveFormat, string> = { tar: 'application/x-tar', zip: 'application/zip' }

/** The manifest: what a consumer checks the unpacked files against. */
export interface ArchiveManifest {
  files: Array<{ path: string; size: number; sha256: string }>
}

/** The archive as a web stream, pulled a chunk at a time (no read-ahead beyond one chunk). */
export function archiveStream(
  entries: AsyncIterable<ArchiveEntry>,
  format: ArchiveFormat,
  onEnd?: (sent: number, error?: unknown) => void,
): ReadableStream<Uint8Array> {
  const chunks = format === 'tar' ? tarChunks(entries) : zipChunks(entries)
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

const manifestBytes = (manifest: ArchiveManifest) => Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`)

// ---------------------------------------------------------------------------------------------
// tar (POSIX.1-2001 pax interchange format over ustar)

const block = 512
const maxOctal11 = 0o77777777777

async function* tarChunks(entries: AsyncIterable<ArchiveEntry>): AsyncGenerator<Uint8Array> {
  const manifest: ArchiveManifest = { files: [] }
  for await (const entry of entries) {
    const path = checkedPath(entry.path)
    yield tarHeaders(path, entry.size, entry.modified)
    let sha256 = ''
    yield* hashedContent(entry, (digest) => (sha256 = digest))
    if (entry.size % block) yield Buffer.alloc(block - (entry.size % block))
    manifest.files.push({ path, size: entry.size, sha256 })
  }
  const body = manifestBytes(manifest)
  yield tarHeaders(manifestName, body.length, new Date())
  yield body
  if (body.length % block) yield Buffer.alloc(block - (body.length % block))
  yield Buffer.alloc(2 * block)
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
