import { commands } from './commands.ts'
import { UsageError, type CliIo } from './io.ts'

const usage = () =>
  [
    'Usage: passerelle <command> [options]',
    '',
    'Commands:',
    ...Object.entries(commands).map(([name, command]) => `  ${name.padEnd(13)} ${command.summary}`),
    '',
    'Run `passerelle <command> --help` for the options of a command.',
  ].join('\n')

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage())
    return name ? 0 : 2
  }
  if (name === '--version' || name === '-v') return runCli(['version'], io)
  const command = commands[name]
  if (!command) {
    io.stderr(`passerelle: unknown command '${name}'\n\n${usage()}`)
    return 2
  }
  const help = command.help(args)
  if (help !== undefined) {
    io.stdout(help)
    return 0
  }
  try {
    return await (await command.load())(args, io)
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`passerelle ${name}: ${error.message}`)
      return error.exitCode
    }
    const code = (error as { code?: string }).code
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      io.stderr(`passerelle ${name}: ${(error as Error).message} (see passerelle ${name} --help)`)
      return 2
    }
    io.stderr(`passerelle ${name}: ${(error as Error).message ?? error}`)
    return 1
  }
}
