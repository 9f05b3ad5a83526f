// `npm test`: the type check and every test tier, at once. The type check is one single-threaded
// process of about 20 s; the test tiers spend much of their time waiting on connector processes
// and databases, so the two share the cores well. The CLI is built by the tests' global setup
// (test/support/global-setup.ts). Extra arguments go to vitest. Exits non-zero if either fails;
// the type check's errors are printed after the tests' report, under a heading of their own.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = (path) => fileURLToPath(new URL(`../node_modules/${path}`, import.meta.url))
const started = Date.now()
const seconds = () => `${((Date.now() - started) / 1000).toFixed(0)} s`

console.log('test: type check (tsc) and tests (vitest) started together')
const tscOutput = []
const tsc = spawn(process.execPath, [bin('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
tsc.stdout.on('data', (chunk) => tscOutput.push(chunk))
tsc.stderr.on('data', (chunk) => tscOutput.push(chunk))
const typeChecked = new Promise((resolve) => tsc.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))))
void typeChecked.then((code) => console.log(`test: type check ${code === 0 ? 'passed' : 'FAILED'} after ${seconds()}`))

const vitest = spawn(process.execPath, [bin('vitest/vitest.mjs'), 'run', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })
const tested = new Promise((resolve) => vitest.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))))

// Ctrl-C reaches both children through the terminal's process group; a SIGTERM sent to this
// process alone is passed on.
process.once('SIGTERM', () => {
  tsc.kill('SIGTERM')
  vitest.kill('SIGTERM')
})

const [tscCode, vitestCode] = await Promise.all([typeChecked, tested])
if (tscCode !== 0) {
  console.error('\ntest: the type check failed:\n')
  process.stderr.write(Buffer.concat(tscOutput))
}
console.log(
  `test: ${tscCode === 0 && vitestCode === 0 ? 'passed' : 'FAILED'} (type check ${tscCode === 0 ? 'ok' : 'failed'}, tests ${vitestCode === 0 ? 'ok' : 'failed'}) in ${seconds()}`,
)
process.exit(tscCode !== 0 ? tscCode : vitestCode)
