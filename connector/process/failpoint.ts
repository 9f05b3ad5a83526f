/**
 * A testing aid, never set in production: `PASSERELLE_TEST_FAILPOINT=<name>[@<n>]` makes the
 * process kill itself with SIGKILL the n-th time (default the first) it passes the named point, so
 * crash tests can stop a connector at a chosen moment of a flow. The points:
 *
 * - `sent:<DSP @type>`: a message was delivered (the peer answered 2xx) but is not marked delivered yet;
 * - `step:<topic>:<trigger>`: a local step is about to run (its state change is stored, its effect is not);
 *
 * Unset (the normal case), every check is one string comparison against `undefined`.
 */
const setting = process.env.PASSERELLE_TEST_FAILPOINT
const [name, nth] = setting ? (setting.split('@') as [string, string | undefined]) : [undefined, undefined]
let remaining = nth ? Math.max(1, Number.parseInt(nth, 10) || 1) : 1

export function failpoint(point: string) {
  if (name === undefined || point !== name) return
  remaining -= 1
  if (remaining > 0) return
  process.stderr.write(`failpoint ${point}: killing the process\n`)
  process.kill(process.pid, 'SIGKILL')
}
