// Bundles the CLI and connector into dist/ (fast cold starts; modules an area needs only on demand
// stay in their own chunks). Dependencies stay in node_modules.
import { build } from 'esbuild'
import { rmSync } from 'node:fs'

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true })
await build({
  entryPoints: { passerelle: 'connector/cli/bin.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
  absWorkingDir: new URL('..', import.meta.url).pathname,
})
