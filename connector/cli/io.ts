/** What a CLI command writes to and where it runs; injected so commands are testable in-process. */
export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  cwd: string
  env: Record<string, string | undefined>
}

export const processIo = (): CliIo => ({
  stdout: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  stderr: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  cwd: process.cwd(),
  env: process.env,
})

/** A command's outcome when it cannot go on: printed as one line, no stack trace. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message)
  }
}
