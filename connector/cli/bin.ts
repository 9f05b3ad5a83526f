// The `passerelle` executable (bundled to dist/passerelle.js).
import { processIo } from './io.ts'
import { runCli } from './main.ts'

runCli(process.argv.slice(2), processIo()).then((code) => {
  // -1: `start` is running; the process ends when a signal has stopped it.
  if (code !== -1) process.exitCode = code
})
