import { execFileSync } from 'node:child_process'
import { fromRoot } from '../../connector/paths.ts'

/** Tests that start connector processes run the built CLI: build it once per test run (esbuild, fast). */
export default function setup() {
  execFileSync(process.execPath, [fromRoot('scripts/build.js')], { cwd: fromRoot(), stdio: 'inherit' })
}
