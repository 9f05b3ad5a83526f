/** The catalog: dataset model, the stewards' files, DSP and DCAT-AP rendering, the index and its queries. */
export * from './dataset.ts'
export * from './dataset-files.ts'
export * from './dsp-render.ts'
export * from './dcat-render.ts'
export * from './filter.ts'
export * from './catalog-index.ts'
export * from './catalog.ts'
