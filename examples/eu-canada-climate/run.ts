/**
 * `npm run example`: the EU–Canada climate data space, played end to end.
 *
 * A European research centre, a member of the European climate data space, and a Canadian weather
 * and environment agency and a private company, members of the Canadian one, each run a connector
 * (its own process, its own SQLite database, 127.0.0.1); each data space has its own authority,
 * which issues its membership credentials and publishes their status lists. The story: version
 * discovery → the two data spaces → federated search → catalog → negotiation across data spaces with
 * its timeline → transfer with progress and checksum → limits (an embargo, a download limit) →
 * refused negotiations with their reasons → a membership revoked by its authority and the next
 * request refused → an agreement that lapses and a transfer the policy monitor terminates. Exit code
 * 0 only when every step behaved as expected.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DataSpace, dataSpaces, members, runCli, subjectClaims, type DataSpaceId, type Participant } from './support/space.ts'
import { bold, clock, dim, expect, say, shortDid, Story, table, waitFor, yellow } from './support/story.ts'

type Negotiation = {
  id: string
  state: string
  agreementId: string | null
  reason: string | null
  timeline?: Array<{ at: string; kind: string; direction: string; actor: string; toState: string; reason: string | null }>
}
type Transfer = {
  id: string
  state: string
  providerPid: string | null
  reason: string | null
  accessCount: number
  bytesMoved: number
  timeline?: Array<{ at: string; toState: string; cause: string; actor: string; reason: string | null }>
}
type Hit = {
  peer: { name: string | null; participantId: string; dspUrl: string }
  datasetId: string
  title: string
  offers: Array<{ id: string; summary: string }>
}

const space = new DataSpace()
const story = new Story()
/** The policy monitor re-checks running transfers this often in the example (the default is 30 s). */
const monitorIntervalMs = 1000

let exiting = false
function onSignal(signal: NodeJS.Signals) {
  if (exiting) return
  exiting = true
  console.log(`\n${yellow(`${signal}: stopping every process the example started…`)}`)
  void space.stop().finally(() => process.exit(130))
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)
process.on('exit', () => space.killNow())

/** The dataset ids as the shipped dataset files give them. */
function datasetId(p: Participant, file: string): string {
  const text = readFileSync(join(p.dir, 'datasets', `${file}.yaml`), 'utf8')
  const id = /^id:\s*(\S+)/m.exec(text)?.[1]
  if (!id) throw new Error(`${file}.yaml has no id`)
  return id
}
function distributionSha(p: Participant, file: string): string {
  return /sha256:\s*([0-9a-f]{64})/.exec(readFileSync(join(p.dir, 'datasets', `${file}.yaml`), 'utf8'))?.[1] ?? ''
}

/** Starts a negotiation as `consumer` with `provider` for a dataset, and follows it to its end. */
/** `declaredUse`: what the consumer states about its intended use (purpose, place of processing, sector). */
async function negotiate(
  consumer: Participant,
  provider: Participant,
  dataset: string,
  declaredUse?: { purpose?: string; spatial?: string; industry?: string },
): Promise<Negotiation> {
  const started = await consumer.api<Negotiation>('/negotiations', {
    method: 'POST',
    body: { peerUrl: provider.dspUrl, peerId: provider.did, datasetId: dataset, ...(declaredUse ? { declaredUse } : {}) },
  })
  expect(started.status === 201, `POST /management/v1/negotiations to answer 201`, `${started.status} ${JSON.stringify(started.body)}`)
  const { value } = await waitFor(
    async () => (await consumer.api<Negotiation>(`/negotiations/${started.body.id}`)).body,
    (n) => n.state === 'FINALIZED' || n.state === 'TERMINATED',
    30_000,
  )
  return value
}

function printTimeline(n: Negotiation, consumer: Participant) {
  const rows = [
    ['time', 'event', 'by', 'state'],
    ...(n.timeline ?? []).map((e) => [clock(e.at), `${e.direction} ${e.kind}`, e.actor === 'local' ? consumer.name : shortDid(e.actor), e.toState]),
  ]
  say(dim(table(rows)))
}

async function transferAndDownload(consumer: Participant, agreementId: string) {
  const created = await consumer.api<Transfer>('/transfers', { method: 'POST', body: { agreementId, format: 'pull' } })
  expect(created.status === 201, 'POST /management/v1/transfers to answer 201', `${created.status} ${JSON.stringify(created.body)}`)
  const { value, ok } = await waitFor(
    async () => (await consumer.api<Transfer>(`/transfers/${created.body.id}`)).body,
    (t) => t.state === 'STARTED' || t.state === 'TERMINATED',
  )
  expect(ok && value.state === 'STARTED', 'the transfer to be STARTED by the provider', `${value.state}${value.reason ? ` (${value.reason})` : ''}`)
  return value
}

/** Downloads a pull transfer's data through the consumer's connector, printing progress. */
/** The sentence of a management API error (`{ error: { message } }`), not the JSON around it. */
function messageOf(text: string): string {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message
    return typeof message === 'string' ? message : text
  } catch {
    return text
  }
}

async function download(consumer: Participant, transferId: string, showProgress: boolean) {
  const response = await consumer.raw(`/transfers/${transferId}/data`)
  if (response.status !== 200 || !response.body)
    return { status: response.status, text: messageOf(await response.text()), bytes: 0, sha256: '', announced: null as string | null }
  const total = Number(response.headers.get('content-length') ?? 0)
  const hash = createHash('sha256')
  let bytes = 0
  let shown = 0
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk)
    bytes += chunk.byteLength
    const percent = total ? Math.floor((bytes / total) * 100) : 100
    if (showProgress && (percent >= shown + 25 || bytes === total)) {
      shown = percent
      say(dim(`received ${bytes.toLocaleString('en')} of ${total ? total.toLocaleString('en') : '?'} bytes (${percent} %)`))
    }
  }
  return { status: 200, text: '', bytes, sha256: hash.digest('hex'), announced: response.headers.get('x-content-sha256') }
}

const negotiationStep =
  'Negotiation across data spaces: the Canadian agency asks the European institute for the glacier series (members of either data space, with attribution)'

async function main() {
  console.log(bold('The EU–Canada climate data space'))
  say('Two data spaces, European and Canadian, each with its own authority; three members, each with its own connector.')
  say(dim('Preparing the participants in a temporary folder (free ports of 127.0.0.1) and issuing their credentials…'))
  await space.prepare()
  await space.start({ PASSERELLE_MONITOR_INTERVAL_MS: String(monitorIntervalMs) })
  const { institute, agency, company } = space.participants
  say(
    table([
      ['participant', 'did:web identifier', 'connector'],
      ...Object.values(space.authorities).map((a) => [`${a.name} (issues MembershipCredential of ${a.dataSpace})`, a.did, a.url]),
      ...members.map((k) => [space.participants[k].name, space.participants[k].did, space.participants[k].url]),
    ]),
  )

  const ids = {
    glaciers: datasetId(institute, 'alpine-glacier-mass-balance'),
    heatwaves: datasetId(institute, 'european-heatwave-days'),
    storms: datasetId(institute, 'european-windstorm-tracks-2025'),
    precipitation: datasetId(agency, 'prairie-daily-precipitation'),
    seaIce: datasetId(agency, 'hudson-bay-sea-ice'),
    smoke: datasetId(agency, 'wildfire-smoke-forecast'),
  }

  await story.step('Discovery: who are the participants, and which protocol do they speak?', async () => {
    for (const p of members.map((k) => space.participants[k])) {
      // did:web: the identifier names where its DID document is published, with keys and services.
      const didResponse = await fetch(`${p.url}/.well-known/did.json`)
      const did = (await didResponse.json().catch(() => ({}))) as {
        id?: string
        verificationMethod?: unknown[]
        service?: Array<{ type: string; serviceEndpoint: string }>
      }
      say(
        `${p.name}: DID document ${did.id ?? '(none)'} with ${did.verificationMethod?.length ?? 0} key(s); services: ${(did.service ?? []).map((s) => s.type).join(', ') || 'none'}`,
      )
      expect(
        didResponse.status === 200 && did.id === p.did && (did.verificationMethod?.length ?? 0) > 0,
        `${p.url}/.well-known/did.json to publish ${p.did} with a key`,
        `${didResponse.status} ${JSON.stringify(did).slice(0, 200)}`,
      )

      const response = await fetch(`${p.url}/.well-known/dspace-version`)
      const body = (await response.json()) as { protocolVersions?: Array<{ version: string; path: string; binding: string }> }
      const versions = body.protocolVersions ?? []
      say(`${p.name}: ${versions.map((v) => `DSP ${v.version} at ${v.path} (${v.binding})`).join(', ') || JSON.stringify(body)}`)
      expect(
        response.status === 200 && versions.some((v) => v.version === '2025-1' && v.binding === 'HTTPS'),
        `${p.url}/.well-known/dspace-version to list 2025-1 over HTTPS`,
        body,
      )
    }
  })

  await story.step('Two data spaces: each member holds the membership credential of its own data space, from its authority', async () => {
    for (const p of members.map((k) => space.participants[k])) {
      const held = (await p.api<{ credentials: Array<{ types: string[]; issuer: string }> }>('/credentials')).body.credentials ?? []
      const membership = held.find((c) => c.types.includes('MembershipCredential'))
      const memberOf = subjectClaims(readFileSync(join(p.dir, 'credentials', 'membership.jwt'), 'utf8')).memberOf as DataSpaceId
      const authority = space.authorities[memberOf]
      say(`${p.name}: member of ${bold(memberOf)} (${dataSpaces[memberOf]?.name}), credential issued by ${authority?.name ?? membership?.issuer}`)
      expect(
        membership !== undefined && authority !== undefined && membership.issuer === authority.did,
        `${p.name} to hold a MembershipCredential from the authority of ${memberOf}`,
        held,
      )
    }
    say(
      dim(
        'Each connector trusts both authorities, each only for the membership of its own data space (identity.dataSpaces): the European authority cannot make anyone a member of the Canadian data space.',
      ),
    )
  })

  await story.step('Federated search: the Canadian agency looks for glacier data across both data spaces', async () => {
    const peers = (await agency.api<{ peers: Array<{ id: string; name: string | null }> }>('/peers')).body.peers ?? []
    for (const peer of peers) await agency.api(`/peers/${encodeURIComponent(peer.id)}/crawl`, { method: 'POST' })
    const { value, ok } = await waitFor(
      async () => (await agency.api<{ total: number; hits: Hit[] }>('/federated-catalog?q=glacier')).body,
      (page) => (page.hits ?? []).some((h) => h.datasetId === ids.glaciers),
      30_000,
      500,
    )
    say(`GET /management/v1/federated-catalog?q=glacier on the agency's connector: ${value.total ?? 0} hit(s)`)
    for (const hit of value.hits ?? [])
      say(`• ${hit.title} — ${hit.peer.name ?? shortDid(hit.peer.participantId)}\n  ${dim(hit.offers.map((o) => o.summary).join(' | '))}`)
    if (!ok) {
      // Say why: the crawl status of each peer.
      const status =
        (await agency.api<{ peers: Array<{ name: string | null; dspUrl: string; lastError: string | null; datasetCount: number }> }>('/peers')).body.peers ?? []
      expect(false, `the institute's glacier dataset ${ids.glaciers} among the hits`, {
        hits: value.hits,
        peers: status.map((p) => ({ peer: p.name ?? p.dspUrl, datasets: p.datasetCount, lastError: p.lastError })),
      })
    }
  })

  await story.step("Catalog: what the institute offers, as the agency's connector read it", async () => {
    const wanted = [ids.glaciers, ids.heatwaves, ids.storms]
    const { value } = await waitFor(
      async () => (await agency.api<{ hits: Hit[] }>(`/federated-catalog?peer=${encodeURIComponent(institute.dspUrl)}&limit=50`)).body.hits ?? [],
      (hits) => wanted.every((id) => hits.some((h) => h.datasetId === id)),
      15_000,
      500,
    )
    const hits = value
    say(`GET /management/v1/federated-catalog?peer=${institute.dspUrl} on the agency's connector:`)
    for (const hit of hits) say(`• ${bold(hit.title)}\n  ${hit.offers.map((o) => `offer ${dim(o.id)}: ${o.summary}`).join('\n  ')}`)
    for (const id of wanted)
      expect(
        hits.some((h) => h.datasetId === id && h.offers.length > 0),
        `dataset ${id} with an offer in the institute's catalog`,
        hits.map((h) => h.datasetId),
      )
  })

  const glacierAgreement = await story.step(negotiationStep, async () => {
    const n = await negotiate(agency, institute, ids.glaciers)
    const full = (await agency.api<Negotiation>(`/negotiations/${n.id}`)).body
    printTimeline(full, agency)
    expect(n.state === 'FINALIZED' && n.agreementId, 'the negotiation to end FINALIZED with an agreement', `${n.state}${n.reason ? `: ${n.reason}` : ''}`)
    const agreement = (await agency.api<Record<string, any>>(`/agreements/${encodeURIComponent(n.agreementId!)}`)).body
    const duties = JSON.stringify(agreement.permission ?? []).match(/"attribute"|odrl:attribute|\/attribute"/g) ?? []
    say(
      `agreement ${dim(n.agreementId!)} between ${shortDid(agreement.assigner)} (provider) and ${shortDid(agreement.assignee)} (consumer), signed ${agreement.timestamp}`,
    )
    say(`duty in the agreement: ${duties.length > 0 ? 'attribute (credit the institute as the source)' : 'none'}`)
    expect(duties.length > 0, 'the agreement to carry the attribution duty', agreement.permission)
    return n.agreementId!
  })

  await story.step('Transfer: the agency pulls the glacier series; the checksum is verified', async () => {
    const t = await transferAndDownload(agency, glacierAgreement!)
    say(`transfer ${dim(t.id)} STARTED (HTTP pull); downloading through the agency's connector…`)
    const got = await download(agency, t.id, true)
    const published = distributionSha(institute, 'alpine-glacier-mass-balance')
    say(`sha256 received   ${got.sha256}\nsha256 announced  ${got.announced}\nsha256 published  ${published} (in the institute's dataset description)`)
    expect(got.status === 200, 'the download to answer 200', `${got.status} ${got.text}`)
    expect(got.sha256 === published && got.announced === published, 'the received bytes to match the published and announced sha256', {
      received: got.sha256,
      announced: got.announced,
      published,
    })
    const done = await agency.api<Transfer>(`/transfers/${t.id}/complete`, { method: 'POST' })
    expect(done.status === 200, 'the agency to complete the transfer', `${done.status} ${JSON.stringify(done.body)}`)
    const { value, ok } = await waitFor(
      async () => (await agency.api<Transfer>(`/transfers/${t.id}`)).body,
      (v) => v.state === 'COMPLETED',
    )
    say(dim(table([['time', 'state', 'cause'], ...(value.timeline ?? []).map((e) => [clock(e.at), e.toState, e.cause])])))
    expect(ok, 'the transfer to be COMPLETED', value.state)
  }, [negotiationStep])

  await story.step('Download limit: the institute may download the Prairie precipitation series three times, not four', async () => {
    const n = await negotiate(institute, agency, ids.precipitation)
    expect(n.state === 'FINALIZED' && n.agreementId, 'the negotiation to end FINALIZED', `${n.state}${n.reason ? `: ${n.reason}` : ''}`)
    const t = await transferAndDownload(institute, n.agreementId!)
    const published = distributionSha(agency, 'prairie-daily-precipitation')
    for (let i = 1; i <= 3; i++) {
      const got = await download(institute, t.id, false)
      say(
        `download ${i}: ${got.status}${got.status === 200 ? `, ${got.bytes.toLocaleString('en')} bytes, sha256 ${got.sha256 === published ? 'verified' : 'MISMATCH'}` : ` ${got.text}`}`,
      )
      expect(got.status === 200 && got.sha256 === published, `download ${i} to succeed with the published sha256`, `${got.status} ${got.text}`)
    }
    const fourth = await download(institute, t.id, false)
    say(`download 4: ${fourth.status} ${fourth.text}`)
    expect(fourth.status === 403, 'the fourth download to be refused (403) by the count limit', `${fourth.status} ${fourth.text}`)
  })

  await story.step('Embargo: the windstorm tracks of 2025 may be agreed now and used from 1 January 2027', async () => {
    // A date the data is released on does not stop anyone signing today: each access decides it.
    const n = await negotiate(agency, institute, ids.storms)
    say(`negotiation ${n.state}${n.reason ? `: ${n.reason}` : ''}`)
    expect(n.state === 'FINALIZED' && n.agreementId, 'the agreement to be signed before the embargo lifts', `${n.state}: ${n.reason}`)
    const created = await agency.api<Transfer>('/transfers', { method: 'POST', body: { agreementId: n.agreementId, format: 'pull' } })
    expect(created.status === 201, 'POST /management/v1/transfers to answer 201', `${created.status} ${JSON.stringify(created.body)}`)
    const { value } = await waitFor(
      async () => (await agency.api<Transfer>(`/transfers/${created.body.id}`)).body,
      (t) => t.state === 'STARTED' || t.state === 'TERMINATED',
    )
    say(`transfer ${value.state}: ${bold(value.reason ?? '')}`)
    expect(
      value.state === 'TERMINATED' &&
        /date and time/.test(value.reason ?? '') &&
        /2027-01-01/.test(value.reason ?? '') &&
        /embargo-2027/.test(value.reason ?? ''),
      'the transfer refused, its reason naming the embargo date and the policy',
      `${value.state}: ${value.reason}`,
    )
  })

  await story.step('Refusal: the company, a member of the commercial sector, asks for the Hudson Bay sea-ice series', async () => {
    const n = await negotiate(company, agency, ids.seaIce)
    const full = (await company.api<Negotiation>(`/negotiations/${n.id}`)).body
    printTimeline(full, company)
    say(`the agency's connector refused, and said why:\n${bold(n.reason ?? '(no reason given)')}`)
    expect(n.state === 'TERMINATED', 'the negotiation to end TERMINATED', n.state)
    expect(/sector/.test(n.reason ?? '') && /commercial/.test(n.reason ?? ''), "a plain-language reason naming the company's sector, commercial", n.reason)
  })

  await story.step('Declared purpose and place: the agency asks for the heatwave series for climate research in Canada', async () => {
    // The offer requires a research purpose processed in the EU or Canada: the agency declares both
    // with its contract request, and the institute's connector decides on that declaration.
    const declaredUse = { purpose: 'climate-research', spatial: 'CA' }
    say(`the agency declares: purpose ${bold(declaredUse.purpose)}, processing in ${bold(declaredUse.spatial)}`)
    const n = await negotiate(agency, institute, ids.heatwaves, declaredUse)
    say(`negotiation ${n.state}${n.reason ? `: ${n.reason}` : ''}`)
    expect(n.state === 'FINALIZED', 'an agreement: the agency does climate research in Canada', `${n.state}: ${n.reason}`)
  })

  await story.step('Declared commercial purpose: the company asks for the same heatwave series to develop a product', async () => {
    const declaredUse = { purpose: 'product-development', spatial: 'CA' }
    say(`the company declares: purpose ${bold(declaredUse.purpose)}, processing in ${bold(declaredUse.spatial)}`)
    const n = await negotiate(company, institute, ids.heatwaves, declaredUse)
    say(`the institute's connector refused, and said why:\n${bold(n.reason ?? '(no reason given)')}`)
    expect(n.state === 'TERMINATED', 'the negotiation to end TERMINATED', n.state)
    expect(
      /purpose `product-development` is not a kind of `climate-research`/.test(n.reason ?? ''),
      'a plain-language reason naming the declared purpose',
      n.reason,
    )
  })

  await story.step("Revocation: the Canadian authority revokes the company's membership; its next request is refused", async () => {
    const before = await negotiate(company, institute, ids.glaciers)
    say(`the company (Canadian data space) asks the institute (European) for the glacier series: ${before.state}`)
    expect(before.state === 'FINALIZED', 'an agreement across data spaces while the company is a member', `${before.state}: ${before.reason}`)
    const authority = space.authorities['ca-climate']
    const revoked = runCli(['authority', 'revoke', authority.dir, '--subject', company.did])
    say(`passerelle authority revoke <${authority.name}> --subject ${company.did}
${dim(revoked.stdout.trim())}`)
    expect(revoked.status === 0, 'the authority to revoke the credential and publish its status list', revoked.stderr)
    // The institute asks the authority for its status list again once its copy is a second old.
    await new Promise((resolve) => setTimeout(resolve, 1200))
    const after = await negotiate(company, institute, ids.glaciers)
    say(`the company asks again: ${after.state}
${bold(after.reason ?? '(no reason given)')}`)
    expect(
      after.state === 'TERMINATED' && /revoked/.test(after.reason ?? ''),
      'the request refused, its reason saying the credential is revoked',
      `${after.state}: ${after.reason}`,
    )
  })

  await story.step('Expiry: a 20-second trial of the smoke forecast lapses and the policy monitor ends the running transfer', async () => {
    const n = await negotiate(institute, agency, ids.smoke)
    expect(n.state === 'FINALIZED' && n.agreementId, 'the trial to be agreed', `${n.state}${n.reason ? `: ${n.reason}` : ''}`)
    const t = await transferAndDownload(institute, n.agreementId!)
    const first = await download(institute, t.id, true)
    expect(
      first.status === 200 && first.sha256 === distributionSha(agency, 'wildfire-smoke-forecast'),
      'a verified download while the trial runs',
      `${first.status} ${first.text}`,
    )
    say(`transfer ${dim(t.id)} is running; waiting for the agreement to lapse (20 s after signing)…`)
    const { value, ok } = await waitFor(
      async () => (await institute.api<Transfer>(`/transfers/${t.id}`)).body,
      (v) => v.state === 'TERMINATED',
      45_000,
      500,
    )
    say(dim(table([['time', 'state', 'cause', 'reason'], ...(value.timeline ?? []).map((e) => [clock(e.at), e.toState, e.cause, e.reason ?? ''])])))
    expect(ok, 'the policy monitor to terminate the transfer', value.state)
    say(`terminated, with the reason: ${bold(value.reason ?? '')}`)
    const after = await download(institute, t.id, false)
    expect(after.status !== 200, 'no more data after the termination', after.status)
  })
}

let code = 1
try {
  await main()
  if (!exiting) story.summary()
  code = story.passed ? 0 : 1
} catch (error) {
  if (!exiting) console.error(`\nThe example could not run: ${(error as Error).message}`)
  if (!exiting) for (const p of space.processes) if (p.output.length) console.error(dim(`--- last output of ${p.name} ---\n${p.output.slice(-15).join('\n')}`))
} finally {
  if (!exiting) {
    say(dim('\nStopping every process the example started…'))
    await space.stop()
  }
}
// Interrupted: the signal handler stops everything and exits (130); it must not be cut short here.
if (!exiting) process.exit(code)
