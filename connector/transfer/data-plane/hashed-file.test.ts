import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { writeHashedFile } from './hashed-file.ts'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'passerelle-hashed-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const sizeOf = (path: string) => {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

describe('writeHashedFile', () => {
  it('writes every chunk in order and reports the byte count and sha256 of the whole', async () => {
    // Uneven chunks, as a socket or a web stream hands them over.
    const chunks = Array.from({ length: 300 }, (_, i) => randomBytes(1 + ((i * 7919) % 70_000)))
    const whole = Buffer.concat(chunks)
    const path = join(dir, 'out.bin')
    const written = await writeHashedFile(Readable.from(chunks), path, 256 * 1024)
    expect(written).toEqual({ bytes: whole.length, sha256: createHash('sha256').update(whole).digest('hex') })
    expect(readFileSync(path).equals(whole)).toBe(true)
  })

  it('writes an empty stream as an empty file', async () => {
    const path = join(dir, 'empty.bin')
    expect(await writeHashedFile(Readable.from([]), path)).toEqual({ bytes: 0, sha256: createHash('sha256').digest('hex') })
    expect(statSync(path).size).toBe(0)
  })

  it('pauses a source that runs ahead of the disk, so memory stays bounded', async () => {
    const path = join(dir, 'paced.bin')
    const chunk = randomBytes(64 * 1024)
    let produced = 0
    let furthestAhead = 0
    // Without back-pressure this generator would run to its end before the first write completes.
    function* source() {
      for (let i = 0; i < 512; i++) {
        furthestAhead = Math.max(furthestAhead, produced - sizeOf(path))
        produced += chunk.length
        yield chunk
      }
    }
    const written = await writeHashedFile(Readable.from(source()), path, 256 * 1024)
    expect(written.bytes).toBe(32 * 1024 * 1024)
    // The queue, one write under way and the source's own small buffer; far below the 32 MiB.
    expect(furthestAhead).toBeLessThan(4 * 1024 * 1024)
  })

  it('rejects with the source error, after closing the file', async () => {
    const path = join(dir, 'broken.bin')
    async function* source() {
      yield randomBytes(100_000)
      throw new Error('connection reset')
    }
    await expect(writeHashedFile(Readable.from(source()), path)).rejects.toThrow('connection reset')
    // Closed: the caller can remove it at once.
    rmSync(path, { force: true })
  })

  it('rejects a source that closes before its end', async () => {
    const source = new Readable({ read() {} })
    source.push(randomBytes(1000))
    const writing = writeHashedFile(source, join(dir, 'cut.bin'))
    setTimeout(() => source.destroy(), 10)
    await expect(writing).rejects.toThrow('the stream closed before its end')
  })

  it('rejects when the file cannot be created, and stops the source', async () => {
    const source = Readable.from([randomBytes(1000), randomBytes(1000)])
    await expect(writeHashedFile(source, join(dir, 'missing', 'out.bin'))).rejects.toThrow(/ENOENT/)
    expect(source.destroyed).toBe(true)
  })
})
