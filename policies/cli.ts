export interface PolicyCommandIo {
  stdout: (s: string) => void
  stderr: (s: string) => void
  cwd: string
}

/** `policy lint [FILES]`, `policy explain FILE`, `policy eval FILE --as CONTEXT.yaml`, `policy test [DIR]`. */
export async function runPolicyCommand(_args: string[], io: PolicyCommandIo): Promise<number> {
  io.stderr('policy commands are not implemented yet\n')
  return 2
}
