import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fileRangeStream } from './file-stream.ts'

let dir: string
let path: string
const content = randomBytes(10_000)
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'passerelle-stream-'))
  path = join(dir, 'data.bin')
  writeFileSync(path, content)
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** Reads a web stream to its end, returning the chunks. */
async function chunksOf(stream: ReadableStream<Uint8Array>) {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk)
  return chunks
}

function closes() {
  const calls: Array<{ sent: number; error?: unknown }> = []
  return { calls, onClose: (sent: number, error?: unknown) => calls.push({ sent, error }) }
}

describe('fileRangeStream', () => {
  it('streams exactly the bytes of the range in chunks of the given size, then reports them once', async () => {
    const { calls, onClose } = closes()
    const chunks = await chunksOf(fileRangeStream(path, { start: 100, end: 8_099 }, onClose, 3_000))
    expect(chunks.map((c) => c.byteLength)).toEqual([3_000, 3_000, 2_000])
    expect(Buffer.concat(chunks).equals(content.subarray(100, 8_100))).toBe(true)
    expect(calls).toEqual([{ sent: 8_000, error: undefined }])
  })

  it('streams a one-byte range', async () => {
    const { onClose } = closes()
    expect(Buffer.concat(await chunksOf(fileRangeStream(path, { start: 9_999, end: 9_999 }, onClose))).equals(content.subarray(9_999))).toBe(true)
  })

  it('reports what was sent when the consumer cancels part-way', async () => {
    const { calls, onClose } = closes()
    const reader = fileRangeStream(path, { start: 0, end: 9_999 }, onClose, 1_000).getReader()
    expect((await reader.read()).value?.byteLength).toBe(1_000)
    await reader.cancel(new Error('client went away'))
    // One chunk read, and at most one read ahead.
    expect(calls).toHaveLength(1)
    expect(calls[0]!.sent).toBeGreaterThanOrEqual(1_000)
    expect(calls[0]!.sent).toBeLessThanOrEqual(2_000)
  })

  it('errors when the file is shorter than the range (it changed under us), and reports the failure', async () => {
    const { calls, onClose } = closes()
    await expect(chunksOf(fileRangeStream(path, { start: 0, end: 19_999 }, onClose, 4_096))).rejects.toThrow('the file ended 10000 bytes short of the range')
    expect(calls).toHaveLength(1)
    expect(calls[0]).toMatchObject({ sent: 10_000, error: expect.any(Error) })
  })

  it('errors when the file has gone', async () => {
    const { calls, onClose } = closes()
    rmSync(path)
    await expect(chunksOf(fileRangeStream(path, { start: 0, end: 9 }, onClose))).rejects.toThrow(/ENOENT/)
    expect(calls).toMatchObject([{ sent: 0, error: expect.any(Error) }])
  })
})
