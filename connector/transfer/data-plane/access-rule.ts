/**
 * What counts as an access under an agreement (a policy's `count` operand): one download of the
 * dataset. The rule, also in docs/operator-guide.md ("Data plane: what counts as an access"):
 *
 * - Pull of a file: every granted GET adds its length to the bytes granted on its transfer. It is a
 *   new download (and counts) when those bytes would exceed one whole file per download already
 *   counted on this transfer; otherwise it continues one (a Range request resuming a download, or
 *   the parts of one file fetched in parallel ranges, in any order). Two whole GETs are two
 *   downloads; `bytes=0-99` then `bytes=100-` is one.
 * - A download cut short (the client went away, a read failed) gives back the bytes it did not
 *   send, so resuming it with a Range is not a new download; its count stays, as the access log
 *   says. The bytes that were in flight when the connection broke (sent, never received) are asked
 *   again: a Range starting after byte 0 may fetch up to an eighth of the file (at most 8 MiB) twice
 *   without counting. A
 *   resume made before the provider noticed the cut, or after a crash, counts (never the reverse).
 * - Pull from an upstream HTTP source: the same rule, decided once the upstream has answered, with
 *   the size and length its answer states (`Content-Range`, or `Content-Length` of a whole answer).
 *   What the client asked for does not matter, only what would be sent: a Range the upstream
 *   ignores is a whole download. An answer that states no size (a multipart or chunked one) counts.
 * - Pull of a folder as a tar: the same rule as a file, with the archive's length from the listing
 *   (folder-archive.ts, `tarLayout`). A zip answers no Range: each GET of one is a new download.
 * - Push: one access per transfer, counted on the first attempt; retries send the same copy.
 * - Presigned GET of an S3 object: one access, counted when the URL is handed out, granted the
 *   object's size; what the storage then serves is not seen by the connector.
 * - HEAD and 304 answers are checked (HEAD) but never count.
 */

/** Bytes an answer of `length` bytes is granted: at least one, so that empty files count too. */
export const grantedUnits = (length: number) => Math.max(1, length)

/** Bytes a resumed download may ask again without counting: what was in flight when it broke. */
export const resumeSlack = (size: number) => Math.min(8 * 1024 * 1024, Math.floor(size / 8))

/** Whether a pull of `length` bytes of a file of `size` bytes starts a new download on this transfer. */
export function isNewDownload(transfer: { accessCount: number; bytesGranted: number }, access: { size: number; length: number; start?: number }): boolean {
  const slack = transfer.accessCount > 0 && (access.start ?? 0) > 0 ? resumeSlack(access.size) : 0
  return transfer.bytesGranted + grantedUnits(access.length) > transfer.accessCount * grantedUnits(access.size) + slack
}

/**
 * The size of the dataset and the length of an upstream answer, as its headers state them;
 * undefined when they do not (the access then counts as a new download).
 */
export function upstreamExtent(status: number, headers: Headers): { size: number; length: number; start: number } | undefined {
  const declared = headers.get('content-length')
  const length = declared !== null && /^\d+$/.test(declared) ? Number(declared) : undefined
  if (status === 200) return length === undefined ? undefined : { size: length, length, start: 0 }
  if (status !== 206) return undefined
  const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers.get('content-range') ?? '')
  if (!range) return undefined
  const [start, end, size] = [Number(range[1]), Number(range[2]), Number(range[3])]
  if (end < start || end >= size || (length !== undefined && length !== end - start + 1)) return undefined
  return { size, length: end - start + 1, start }
}
