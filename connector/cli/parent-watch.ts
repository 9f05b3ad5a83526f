/**
 * Stops the connector when the program that started it goes away, for wrappers that do not pass
 * signals on. `npm start`, `npm exec` and `npx` run the command under `sh -c`: a SIGTERM sent to
 * npm reaches that shell, which dies without telling its child, and the connector would run on as
 * an orphan adopted by init. Such a parent is recognised by the environment npm gives its scripts
 * (`npm_lifecycle_event`); a connector started directly (systemd, a container, a shell with
 * `exec`) is never watched, so `nohup` and friends keep working.
 */
export function watchParent(env: Record<string, string | undefined>, onGone: () => void, intervalMs = 500): (() => void) | undefined {
  if (!env.npm_lifecycle_event) return undefined
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(timer)
    onGone()
  }, intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
