import { createHash } from 'node:crypto'

/**
 * What the console serves besides its pages: one stylesheet and one small module that keeps a
 * page showing work under way up to date. Both are written here (no third-party code), served
 * from /console/assets/ under the Content-Security-Policy `'self'`, the module with its
 * Subresource Integrity hash. Pages read fine without the module.
 */
export const stylesheet = `
:root { --ink: #1b1f24; --muted: #4a5360; --line: #c9d1d9; --accent: #0b5cad; --bg: #ffffff; --soft: #f3f6f9;
  --ok: #1a6b32; --bad: #a4161a; --warn: #7a4d00; font-family: system-ui, sans-serif; color: var(--ink); background: var(--bg); }
body { margin: 0; line-height: 1.5; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; z-index: 2; }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; justify-content: space-between; padding: .75rem 1.5rem; border-bottom: 1px solid var(--line); background: var(--soft); }
header .brand { font-weight: 700; font-size: 1.1rem; color: var(--ink); text-decoration: none; }
nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 1rem; margin: 0; padding: 0; }
nav a[aria-current="page"] { font-weight: 700; color: var(--ink); }
.tools { display: flex; gap: .75rem; align-items: center; }
.tools form { display: flex; gap: .25rem; align-items: center; margin: 0; }
main { padding: 1rem 1.5rem 3rem; max-width: 72rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .95rem; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
th { background: var(--soft); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .5rem 0 1rem; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; }
.card { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem; }
.card h2 { margin-top: 0; }
dl.stacked { grid-template-columns: 1fr; gap: 0; }
dl.stacked dd { margin-bottom: .5rem; }
.state { display: inline-block; padding: 0 .4rem; border-radius: .25rem; font-weight: 600; font-size: .85rem; border: 1px solid currentColor; }
.state-FINALIZED, .state-COMPLETED, .state-ok, .state-valid, .state-fulfilled { color: var(--ok); }
.state-TERMINATED, .state-unavailable, .state-expired, .state-violated { color: var(--bad); }
.state-REQUESTED, .state-OFFERED, .state-ACCEPTED, .state-AGREED, .state-VERIFIED, .state-STARTED, .state-SUSPENDED, .state-pending, .state-acknowledged { color: var(--warn); }
.reason { color: var(--bad); }
.notice { border-left: 4px solid var(--accent); background: var(--soft); padding: .5rem .75rem; }
.problem { border-left: 4px solid var(--bad); background: #fdf0f0; padding: .5rem .75rem; }
.field-error { color: var(--bad); font-weight: 600; }
form.inline { display: inline; }
label { font-weight: 600; }
input, select, button { font: inherit; padding: .3rem .5rem; }
button { background: var(--accent); color: #fff; border: 1px solid var(--accent); border-radius: .25rem; cursor: pointer; }
button.secondary { background: var(--bg); color: var(--accent); }
.filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; margin-bottom: .5rem; }
.filters div { display: flex; flex-direction: column; }
.pager { display: flex; gap: 1rem; align-items: center; }
.hit { border-bottom: 1px solid var(--line); padding: .75rem 0; }
.hit h2 { margin: 0 0 .25rem; }
.muted { color: var(--muted); }
code, .id { font-family: ui-monospace, monospace; font-size: .9em; overflow-wrap: anywhere; }
progress { width: 20rem; max-width: 100%; }
pre.plain { white-space: pre-wrap; background: var(--soft); padding: .75rem; border-radius: .25rem; font-family: inherit; }
ul.trace { list-style: none; padding-left: 1.25rem; border-left: 2px solid var(--line); }
ul.trace li { margin: .2rem 0; }
ul.plain { list-style: none; margin: 0; padding: 0; }
.state-satisfied { color: var(--ok); }
.state-violated, .state-unknown { color: var(--bad); }
.state-deferred { color: var(--muted); }
`

export const liveScript = `// Keeps a page that shows work under way up to date. A page that names an event stream
// (data-events: a transfer) gets its progress from the server as it changes, and is read again
// once the work settles; other live pages are read again every two seconds until they settle.
const main = document.querySelector('main[data-live]')
// Reads the page again and takes its main region; answers whether it still marks itself live.
const refresh = async () => {
  const response = await window.fetch(window.location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } })
  if (!response.ok) return true
  const next = new DOMParser().parseFromString(await response.text(), 'text/html').querySelector('main')
  if (!next) return true
  main.innerHTML = next.innerHTML
  if (next.hasAttribute('data-live')) return true
  main.removeAttribute('data-live')
  return false
}
const tick = async () => {
  try {
    if (!(await refresh())) return
  } catch {}
  setTimeout(tick, 2000)
}
const follow = (url) => {
  const source = new EventSource(url)
  source.addEventListener('progress', (event) => {
    const progress = JSON.parse(event.data)
    for (const element of main.querySelectorAll('[data-field]')) {
      const value = progress[element.dataset.field]
      if (typeof value === 'string') element.textContent = value
    }
    const state = main.querySelector('[data-field="state"]')
    if (state) state.className = 'state state-' + progress.state
    const bar = main.querySelector('progress')
    if (bar && typeof progress.value === 'number') {
      if (typeof progress.max === 'number') bar.max = progress.max
      bar.value = progress.value
    }
  })
  source.addEventListener('done', () => {
    source.close()
    tick()
  })
  // A stream that cannot be (re)opened: back to reading the page.
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) setTimeout(tick, 2000)
  })
}
if (main?.dataset.events) follow(main.dataset.events)
else if (main) setTimeout(tick, 2000)
`

export const liveScriptIntegrity = `sha384-${createHash('sha384').update(liveScript).digest('base64')}`
