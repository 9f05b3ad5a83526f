import { packageVersion } from '../version.ts'
import { versionHelp } from './command-help.ts'
import type { CliIo } from './io.ts'

export async function runVersionCommand(args: string[], io: CliIo): Promise<number> {
  if (args.includes('--help')) {
    io.stdout(versionHelp)
    return 0
  }
  io.stdout(`passerelle ${packageVersion} (Dataspace Protocol 2025-1, Node.js ${process.versions.node})`)
  return 0
}
