import { describe, expect, it } from 'vitest'
import { MultipartError, readMultipart } from './multipart.ts'

/** A body as a browser sends it, cut into chunks of `size` bytes (so boundaries straddle chunks). */
function body(text: string | Buffer, size: number): ReadableStream<Uint8Array> {
  const bytes = Buffer.from(text)
  return new ReadableStream({
    start(controller) {
      for (let at = 0; at < bytes.length; at += size) controller.enqueue(new Uint8Array(bytes.subarray(at, at + size)))
      controller.close()
    },
  })
}
const type = 'multipart/form-data; boundary=----formBOUNDARY'
const part = (name: string, value: string, filename?: string) =>
  `------formBOUNDARY\r\nContent-Disposition: form-data; name="${name}"${filename !== undefined ? `; filename="${filename}"\r\nContent-Type: text/csv` : ''}\r\n\r\n${value}\r\n`
const end = '------formBOUNDARY--\r\n'

describe('reading a multipart form as it streams', () => {
  // The file's bytes hold what looks like part of a boundary, to be kept as data.
  const content = 'a,b\r\n--not-the-boundary\r\n------formBOUNDAR\r\n1,2\r\n'
  const form = part('csrf', 'token') + part('titleEn', 'Buoy readings é') + part('upload', content, 'buoys.csv') + end

  for (const size of [1, 3, 7, 64, 100_000])
    it(`gives the fields, then the file's exact bytes (chunks of ${size} bytes)`, async () => {
      const read = await readMultipart(body(form, size), type, 16 * 1024)
      expect(read.fields).toEqual({ csrf: 'token', titleEn: 'Buoy readings é' })
      expect(read.file?.filename).toBe('buoys.csv')
      expect(await new Response(read.file!.stream).text()).toBe(content)
    })

  it('skips a file input left empty, and reads a form without a file', async () => {
    const read = await readMultipart(body(part('csrf', 't') + part('upload', '', '') + end, 5), type, 1024)
    expect(read).toEqual({ fields: { csrf: 't' } })
  })

  it('refuses hostile forms: no boundary, not well formed, cut short, fields over the bound', async () => {
    await expect(readMultipart(body(form, 10), 'multipart/form-data', 1024)).rejects.toThrow(MultipartError)
    await expect(readMultipart(body('garbage that is no form at all', 4), type, 1024)).rejects.toThrow(/not well formed/)
    await expect(readMultipart(body(part('csrf', 't'), 4), type, 1024)).rejects.toThrow(/ended before/)
    await expect(readMultipart(body(part('big', 'x'.repeat(5000)) + end, 100), type, 1024)).rejects.toThrow(/too large/)
    const cut = await readMultipart(body(part('csrf', 't') + part('upload', 'abc', 'a.csv').slice(0, -2), 4), type, 1024)
    await expect(new Response(cut.file!.stream).text()).rejects.toThrow(/ended inside its file/)
  })
})
