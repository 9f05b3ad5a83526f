import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createTestStore, dialects } from '../../test/support/stores.ts'
import { federationRepository } from '../federation/repository.ts'
import { egressPolicy } from '../http/egress.ts'
import type { Store } from '../store/store.ts'
import { createLogger } from '../telemetry/logger.ts'
import { assertCallbackAllowed, assertTransferAddresses } from './callback-address.ts'

describe.each(dialects)('callback addresses and push destinations on %s', (dialect) => {
  let store: Store
  let lines: string[]
  const pids = { providerPid: '', consumerPid: 'urn:uuid:c' }
  const member = 'did:web:agency.example'
  beforeEach(async () => {
    store = await createTestStore(dialect)
    lines = []
    // The registry names the member's DSP address.
    await federationRepository(store).addPeer({ id: 'agency', dspUrl: 'https://agency.example:8443/dsp/2025-1', did: member, source: 'registry' }, 0)
  })
  afterEach(() => store.close())

  const deps = (allow: string[] = []) => ({ egress: egressPolicy({ allow }), store, logger: createLogger({ write: (line) => lines.push(line) }) })
  const refusal = (promise: Promise<void>) =>
    promise.then(
      () => undefined,
      (error: Error & { code?: string; details?: unknown }) => ({ code: error.code, message: error.message, details: error.details }),
    )

  it('accepts a callback on the DSP address the registry names for the requester, on any path', async () => {
    await expect(assertCallbackAllowed(deps(), { requester: member, url: 'https://agency.example:8443/dsp/2025-1', pids })).resolves.toBeUndefined()
    await expect(assertCallbackAllowed(deps(), { requester: member, url: 'https://agency.example:8443/callbacks', pids })).resolves.toBeUndefined()
  })

  it("refuses a callback on another port, scheme or host than the member's DSP address, with a generic reason and the detail in the log", async () => {
    for (const url of ['https://agency.example:9000/dsp/2025-1', 'http://agency.example:8443/dsp/2025-1', 'https://evil.example:8443/dsp/2025-1']) {
      expect(await refusal(assertCallbackAllowed(deps(), { requester: member, url, pids }))).toEqual({
        code: 'bad_request',
        message: 'the callback address is not allowed',
        details: pids,
      })
    }
    expect(lines.join('\n')).toContain('is not the DSP address of did:web:agency.example (https://agency.example:8443)')
  })

  it('refuses an internal callback of a requester nobody knows, unless the allow-list names it exactly', async () => {
    const stranger = 'did:web:stranger.example'
    for (const url of [
      'http://127.0.0.1:6379/',
      'http://[::1]:8080/',
      'http://169.254.169.254/latest',
      'http://10.1.2.3/',
      'file:///etc/passwd',
      'http://user:secret@93.184.215.14/',
    ]) {
      expect(await refusal(assertCallbackAllowed(deps(), { requester: stranger, url, pids })), url).toMatchObject({
        code: 'bad_request',
        message: 'the callback address is not allowed',
      })
    }
    await expect(
      assertCallbackAllowed(deps(['127.0.0.1:8383']), { requester: stranger, url: 'http://127.0.0.1:8383/dsp/2025-1', pids }),
    ).resolves.toBeUndefined()
    expect(
      await refusal(assertCallbackAllowed(deps(['127.0.0.1:8383']), { requester: stranger, url: 'http://127.0.0.1:8384/dsp/2025-1', pids })),
    ).toMatchObject({ code: 'bad_request' })
  })

  it('lets a push go to another host than the callback (a data plane apart), never to an internal one', async () => {
    const callbackAddress = 'https://agency.example:8443/dsp/2025-1'
    await expect(
      assertTransferAddresses(deps(), { requester: member, callbackAddress, pushEndpoint: 'https://93.184.215.14/incoming', pids }),
    ).resolves.toBeUndefined()
    for (const pushEndpoint of ['http://127.0.0.1:8443/incoming', 'http://localhost:8443/', 'http://[::ffff:10.0.0.1]/', 'http://100.100.100.200/']) {
      expect(await refusal(assertTransferAddresses(deps(), { requester: member, callbackAddress, pushEndpoint, pids })), pushEndpoint).toMatchObject({
        code: 'bad_request',
        message: 'the push destination is not allowed',
      })
    }
  })
})
