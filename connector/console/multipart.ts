/**
 * A multipart/form-data body read as it streams: the text fields (each bounded) up to the first
 * part that carries a file, whose bytes are then handed on as a stream, never held whole. Forms
 * that use it put their file input last: fields after the file are not read.
 */
export interface MultipartForm {
  fields: Record<string, string>
  file?: { field: string; filename: string; stream: ReadableStream<Uint8Array> }
}

export class MultipartError extends Error {}

export async function readMultipart(body: ReadableStream<Uint8Array>, contentType: string, maxFieldsBytes: number): Promise<MultipartForm> {
  const boundary = /boundary="?([^";]{1,70})"?/i.exec(contentType)?.[1]
  if (!boundary) throw new MultipartError('a multipart form without its boundary')
  const delimiter = Buffer.from(`\r\n--${boundary}`)
  const reader = body.getReader()
  // The body starts with the delimiter without its line break: put one in front so every part looks alike.
  let buffer = Buffer.from('\r\n')
  let read = 0
  const more = async () => {
    const { done, value } = await reader.read()
    if (done) throw new MultipartError('the form ended before its last boundary')
    buffer = Buffer.concat([buffer, value])
  }
  const fields: Record<string, string> = {}
  for (;;) {
    while (buffer.length < delimiter.length + 2) await more()
    if (!buffer.subarray(0, delimiter.length).equals(delimiter)) throw new MultipartError('a multipart form that is not well formed')
    const after = buffer.subarray(delimiter.length, delimiter.length + 2).toString('latin1')
    if (after === '--') {
      await reader.cancel().catch(() => undefined)
      return { fields }
    }
    let headersEnd = buffer.indexOf('\r\n\r\n', delimiter.length)
    while (headersEnd < 0) {
      if (buffer.length > 4096) throw new MultipartError('part headers too long')
      await more()
      headersEnd = buffer.indexOf('\r\n\r\n', delimiter.length)
    }
    const headers = buffer.subarray(delimiter.length + 2, headersEnd).toString('utf8')
    buffer = buffer.subarray(headersEnd + 4)
    const disposition = /content-disposition:[^\r\n]*/i.exec(headers)?.[0] ?? ''
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1] ?? ''
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1]
    if (filename) return { fields, file: { field: name, filename, stream: partStream(reader, () => buffer, delimiter) } }
    // A text field (or a file input left empty): read up to the next delimiter, within the bound.
    let end = buffer.indexOf(delimiter)
    while (end < 0) {
      if (read + buffer.length > maxFieldsBytes) throw new MultipartError('form fields too large')
      await more()
      end = buffer.indexOf(delimiter)
    }
    read += end
    if (read > maxFieldsBytes) throw new MultipartError('form fields too large')
    if (filename === undefined) fields[name] = buffer.subarray(0, end).toString('utf8')
    buffer = buffer.subarray(end)
  }
}

/** The bytes of the current part up to the next delimiter (a delimiter's length is held back until it is known not to start one). */
function partStream(reader: ReadableStreamDefaultReader<Uint8Array>, start: () => Buffer, delimiter: Buffer): ReadableStream<Uint8Array> {
  let buffer = start()
  let ended = false
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (ended) return controller.close()
        const end = buffer.indexOf(delimiter)
        if (end >= 0) {
          ended = true
          if (end > 0) controller.enqueue(new Uint8Array(buffer.subarray(0, end)))
          await reader.cancel().catch(() => undefined)
          return controller.close()
        }
        const safe = buffer.length - delimiter.length
        if (safe > 0) {
          controller.enqueue(new Uint8Array(buffer.subarray(0, safe)))
          buffer = buffer.subarray(safe)
          return
        }
        const { done, value } = await reader.read()
        if (done) return controller.error(new MultipartError('the form ended inside its file'))
        buffer = Buffer.concat([buffer, value])
      }
    },
    async cancel() {
      await reader.cancel().catch(() => undefined)
    },
  })
}
