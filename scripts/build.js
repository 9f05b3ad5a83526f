// Bundles the CLI, the connector and its pure-JavaScript dependencies into dist/: loading one
// bundle is much faster than resolving hundreds of module files at start-up. Native modules and
// packages loaded only on demand stay in node_modules; so do chunks an area needs only later.
import { build } from 'esbuild'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
// One line per step: `npm ci` runs this as the `prepare` script, and a silent minute looks like a hang.
const started = Date.now()
console.log('build: bundling the CLI and the connector into dist/ (esbuild)')
const result = await build({
  entryPoints: { passerelle: 'connector/cli/bin.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: [
    'better-sqlite3',
    'pg',
    'undici', // loaded on the first outbound call; kept as the package ships it
    'jsonld',
    '@opentelemetry/sdk-*',
    '@opentelemetry/exporter-*',
    '@opentelemetry/resources',
    'n3',
    'rdf-validate-shacl',
    'esbuild',
  ],
  // Bundled CommonJS dependencies may call require().
  banner: { js: "import { createRequire as __passerelleCreateRequire } from 'node:module'; const require = __passerelleCreateRequire(import.meta.url);" },
  // The console's pages are server-rendered JSX (hono/jsx).
  jsx: 'automatic',
  jsxImportSource: 'hono/jsx',
  sourcemap: true,
  // PASSERELLE_BUILD_MINIFY=0 builds readable code for CPU profiles (bench/cpu-profile.mjs);
  // the shipped build is minified.
  minify: process.env.PASSERELLE_BUILD_MINIFY !== '0',
  keepNames: true,
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
  metafile: true,
  absWorkingDir: root,
})

// Files are overwritten in place (a process may be starting from dist/ right now); chunks of
// earlier builds are removed afterwards.
const current = new Set(Object.keys(result.metafile.outputs).map((path) => join(root, path)))
const chunks = join(root, 'dist', 'chunks')
for (const name of readdirSync(chunks)) {
  const path = join(chunks, name)
  if (!current.has(path) && !current.has(path.replace(/\.map$/, ''))) rmSync(path, { force: true })
}
console.log(`build: dist/ written (${current.size} files) in ${Date.now() - started} ms`)
