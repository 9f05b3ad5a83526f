import { packageVersion } from '../version.ts'
import type { CliIo } from './io.ts'

export async function runVersionCommand(args: string[], io: CliIo): Promise<number> {
  if (args.includes('--help')) {
    io.stdout('Usage: passerelle version\n\nPrints the Passerelle version, the Dataspace Protocol versions it speaks and the Node.js version.')
    return 0
  }
  io.stdout(`passerelle ${packageVersion} (Dataspace Protocol 2025-1, Node.js ${process.versions.node})`)
  return 0
}
