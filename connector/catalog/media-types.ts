import { extname } from 'node:path'

/** Media types of the file extensions stewards publish most. */
const mediaTypes: Record<string, string> = {
  '.csv': 'text/csv',
  '.tsv': 'text/tab-separated-values',
  '.txt': 'text/plain',
  '.json': 'application/json',
  '.jsonld': 'application/ld+json',
  '.geojson': 'application/geo+json',
  '.xml': 'application/xml',
  '.nc': 'application/x-netcdf',
  '.parquet': 'application/vnd.apache.parquet',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.pdf': 'application/pdf',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  '.ttl': 'text/turtle',
}
/** The media type a file's name suggests (octet-stream when it says nothing). */
export const mediaTypeOf = (name: string) => mediaTypes[extname(name).toLowerCase()] ?? 'application/octet-stream'
