import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError } from '../config/config.ts'
import { systemClock } from '../clock.ts'
import { randomIds } from '../ids.ts'
import { buildDidDocument } from './did-document.ts'
import { didWebDocumentPath, didWebForUrl, parseDidWeb } from './did-web.ts'
import { AuthorityStatusError, openAuthorityStatus, statusFolder } from './authority-status.ts'
import { credentialProfiles, type CredentialProfile } from './credential-profiles.ts'
import { issueCredentialJwt } from './issuer.ts'
import { createKeyFile, loadKeyFile } from './keys.ts'
import { validityPurposes } from './status-list.ts'
import { credentialsHelp, authorityHelp } from './cli-help.ts'

export interface CredentialsCommandIo {
  stdout: (s: string) => void
  stderr: (s: string) => void
  cwd: string
  env?: Record<string, string | undefined>
}

/** `passerelle credentials …`; returns the exit code (0 ok, 1 failed, 2 usage). */
export async function runCredentialsCommand(args: string[], io: CredentialsCommandIo): Promise<number> {
  const [command, ...rest] = args
  try {
    switch (command) {
      case 'issue':
        return await issue(rest, io)
      case 'list':
      case 'add':
      case 'remove':
        return await manage(command, rest, io)
      case 'authority':
        return await authority(rest, io)
      case undefined:
      case 'help':
      case '--help':
        io.stdout(`${credentialsHelp}\n`)
        return command === undefined ? 2 : 0
      default:
        io.stderr(`passerelle credentials: unknown command '${command}'\n${credentialsHelp}\n`)
        return 2
    }
  } catch (error) {
    const code = (error as { code?: string }).code
    const usage = error instanceof ConfigError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    io.stderr(`passerelle credentials ${command}: ${(error as Error).message}\n`)
    return usage || error instanceof UsageProblem ? 2 : 1
  }
}

class UsageProblem extends Error {}

async function issue(args: string[], io: CredentialsCommandIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      issuer: { type: 'string' },
      'issuer-did': { type: 'string' },
      subject: { type: 'string' },
      type: { type: 'string' },
      claim: { type: 'string', multiple: true },
      'valid-days': { type: 'string' },
      'no-status': { type: 'boolean' },
      profile: { type: 'string' },
    },
    strict: true,
  })
  if (!values.issuer || !values.subject || !values.type) throw new UsageProblem('--issuer KEYFILE, --subject DID and --type TYPE are required')
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(values.type))
    throw new UsageProblem(`--type: expected a credential type name such as MembershipCredential, got '${values.type}'`)
  if (!values.subject.startsWith('did:')) throw new UsageProblem(`--subject: expected a DID, got '${values.subject}'`)
  const keyFile = resolve(io.cwd, values.issuer)
  const key = await loadKeyFile(keyFile)
  const issuerDid = values['issuer-did'] ?? readDidBeside(keyFile)
  const claims: Record<string, unknown> = {}
  for (const claim of values.claim ?? []) {
    const at = claim.indexOf('=')
    if (at <= 0) throw new UsageProblem(`--claim: expected key=value, got '${claim}'`)
    const name = claim.slice(0, at)
    if (name === 'id') throw new UsageProblem('--claim: id is the subject; use --subject')
    claims[name] = claim.slice(at + 1)
  }
  const days = values['valid-days'] === undefined ? 365 : Number(values['valid-days'])
  if (!Number.isFinite(days) || days <= 0) throw new UsageProblem(`--valid-days: expected a positive number, got '${values['valid-days']}'`)
  const now = systemClock.now()
  const id = randomIds.next()
  // An authority folder that publishes status lists (created by `authority init`, or `authority publish`).
  const authorityDir = dirname(keyFile)
  const withStatus = !values['no-status'] && existsSync(join(authorityDir, statusFolder, 'state.json')) && didBeside(keyFile) === issuerDid
  const status = withStatus ? openAuthorityStatus(authorityDir, issuerDid, key) : undefined
  const profile = readProfile(values.profile) ?? status?.profile ?? 'vc11-sl2021/jwt'
  const credentialStatus = status?.allocate({ id, subject: values.subject, type: values.type, issuedAt: now })
  const jwt = await issueCredentialJwt({
    issuerDid,
    key,
    subject: values.subject,
    type: values.type,
    claims,
    issuedAt: now,
    expiresAt: new Date(now.getTime() + days * 86_400_000),
    ids: randomIds,
    id,
    ...(credentialStatus ? { credentialStatus } : {}),
    profile,
  })
  await status?.publish(now)
  io.stdout(`${jwt}\n`)
  return 0
}

/** `--profile`: one of the DCP credential profiles. */
function readProfile(value: string | undefined): CredentialProfile | undefined {
  if (value === undefined) return undefined
  if (!(credentialProfiles as readonly string[]).includes(value))
    throw new UsageProblem(`--profile: expected ${credentialProfiles.join(' or ')}, got '${value}'`)
  return value as CredentialProfile
}

function didBeside(keyFile: string): string | undefined {
  const path = join(dirname(keyFile), 'did.json')
  if (!existsSync(path)) return undefined
  const id = (JSON.parse(readFileSync(path, 'utf8')) as { id?: unknown }).id
  return typeof id === 'string' ? id : undefined
}

function readDidBeside(keyFile: string): string {
  const path = join(dirname(keyFile), 'did.json')
  if (!existsSync(path)) throw new UsageProblem(`--issuer-did is required (no did.json beside ${keyFile})`)
  const id = (JSON.parse(readFileSync(path, 'utf8')) as { id?: unknown }).id
  if (typeof id !== 'string') throw new UsageProblem(`${path} has no id`)
  return id
}

async function manage(command: 'list' | 'add' | 'remove', args: string[], io: CredentialsCommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string' }, url: { type: 'string' }, key: { type: 'string' }, file: { type: 'string' } },
    strict: true,
  })
  const { createManagementClient } = await import('../cli/management-client.ts')
  const client = createManagementClient(values, { stdout: io.stdout, stderr: io.stderr, cwd: io.cwd, env: io.env ?? process.env })
  if (command === 'list') {
    const { credentials } = await client.get<{ credentials: Array<{ id: string; types: string[]; issuer: string; expiresAt: string | null }> }>('/credentials')
    if (credentials.length === 0) io.stdout('no credentials held\n')
    for (const c of credentials)
      io.stdout(`${c.id}  ${c.types.filter((t) => t !== 'VerifiableCredential').join(',')}  issuer ${c.issuer}  expires ${c.expiresAt ?? 'never'}\n`)
    return 0
  }
  if (command === 'add') {
    const jwt = (values.file ? readFileSync(resolve(io.cwd, values.file), 'utf8') : positionals[0])?.trim()
    if (!jwt) throw new UsageProblem('expected a VC JWT or --file FILE')
    const added = await client.post<{ id: string; types: string[] }>('/credentials', { credential: jwt })
    io.stdout(`held ${added.id} (${added.types.join(', ')})\n`)
    return 0
  }
  const id = positionals[0]
  if (!id) throw new UsageProblem('expected the id of the credential to remove')
  await client.delete(`/credentials/${encodeURIComponent(id)}`)
  io.stdout(`removed ${id}\n`)
  return 0
}

async function authority(args: string[], io: CredentialsCommandIo): Promise<number> {
  const [command, ...rest] = args
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { host: { type: 'string' }, port: { type: 'string' }, 'dev-only': { type: 'boolean' }, profile: { type: 'string' } },
    strict: true,
  })
  const dirArg = positionals[0]
  if (!dirArg) throw new UsageProblem(`expected a folder (passerelle credentials authority ${command ?? 'init'} DIR)`)
  const dir = resolve(io.cwd, dirArg)
  if (command === 'init') {
    const host = values.host ?? '127.0.0.1'
    const port = Number(values.port ?? 8190)
    if (!/^[A-Za-z0-9.-]+$/.test(host)) throw new UsageProblem(`--host: expected a host name, got '${host}'`)
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageProblem(`--port: expected a port number, got '${values.port}'`)
    if (existsSync(join(dir, 'private-key.jwk'))) throw new UsageProblem(`${dir} already holds an authority key; nothing was changed`)
    const did = didWebForUrl(`http://${host}:${port}`)
    const jwk = await createKeyFile(join(dir, 'private-key.jwk'), 'authority-key-1')
    // A development authority's key is published with the examples: mark it so, which also lets it load whatever its file mode.
    if (values['dev-only']) writeFileSync(join(dir, 'private-key.jwk'), `${JSON.stringify({ ...jwk, devOnly: true }, null, 2)}\n`, { mode: 0o600 })
    const key = await loadKeyFile(join(dir, 'private-key.jwk'))
    writeFileSync(join(dir, 'did.json'), `${JSON.stringify(buildDidDocument({ did, keys: [key] }), null, 2)}\n`)
    // Empty status lists, published from the start: verifiers find them before the first revocation.
    const profile = readProfile(values.profile)
    await openAuthorityStatus(dir, did, key, profile ? { profile } : {}).publish(systemClock.now())
    io.stdout(`Created authority ${did} in ${dir} (key ${jwk.kid}); serve it with: passerelle credentials authority serve ${dir}\n`)
    return 0
  }
  if (command === 'serve') {
    const document = readFileSync(join(dir, 'did.json'), 'utf8')
    const did = (JSON.parse(document) as { id: string }).id
    const { hostname, host } = parseDidWeb(did)
    const port = Number(host.split(':')[1] ?? 443)
    const path = didWebDocumentPath(did)
    // The authority of a data space is where its members find each other: its participant list.
    const registryFile = join(dir, 'registry.json')
    const registry = existsSync(registryFile) ? readFileSync(registryFile, 'utf8') : undefined
    const server = createServer((req, res) => {
      const purpose = validityPurposes.find((p) => req.url === `/${statusFolder}/${p}`)
      if (req.method === 'GET' && purpose) return serveStatusList(join(dir, statusFolder, `${purpose}.jwt`), req.headers['if-none-match'], res)
      const body =
        req.method !== 'GET'
          ? undefined
          : req.url === path || req.url === '/.well-known/did.json'
            ? document
            : req.url === '/registry.json'
              ? registry
              : undefined
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' })
      res.end(body ?? '{"error":"not found"}')
    })
    await new Promise<void>((done, fail) => {
      server.once('error', fail)
      server.listen(Number(values.port ?? port), values.host ?? hostname, () => done())
    })
    io.stdout(`serving ${did} (development only) at http://${values.host ?? hostname}:${values.port ?? port}${path}\n`)
    await new Promise<void>((done) => {
      process.once('SIGTERM', done)
      process.once('SIGINT', done)
    })
    await new Promise<void>((done) => server.close(() => done()))
    return 0
  }
  throw new UsageProblem(`unknown authority command '${command ?? ''}' (init or serve)`)
}

/** A status list as published: read at each request (a revocation republishes it), with an ETag. */
function serveStatusList(file: string, ifNoneMatch: string | undefined, res: import('node:http').ServerResponse) {
  let jwt: string
  try {
    jwt = readFileSync(file, 'utf8').trim()
  } catch {
    res.writeHead(404, { 'content-type': 'application/json' })
    res.end('{"error":"not found"}')
    return
  }
  const etag = `"${createHash('sha256').update(jwt).digest('base64url').slice(0, 27)}"`
  if (ifNoneMatch === etag) {
    res.writeHead(304, { etag })
    res.end()
    return
  }
  res.writeHead(200, { 'content-type': 'application/vc+jwt', etag, 'cache-control': 'no-cache' })
  res.end(jwt)
}

/** `passerelle authority …`; returns the exit code (0 ok, 1 failed, 2 usage). */
export async function runAuthorityCommand(args: string[], io: CredentialsCommandIo): Promise<number> {
  const [command, ...rest] = args
  if (command === 'init' || command === 'serve') return runCredentialsCommand(['authority', ...args], io)
  if (command === undefined || command === 'help' || command === '--help') {
    io.stdout(`${authorityHelp}\n`)
    return command === undefined ? 2 : 0
  }
  if (command !== 'revoke' && command !== 'suspend' && command !== 'reinstate' && command !== 'publish') {
    io.stderr(`passerelle authority: unknown command '${command}'\n${authorityHelp}\n`)
    return 2
  }
  try {
    return await changeStatus(command, rest, io)
  } catch (error) {
    const code = (error as { code?: string }).code
    const usage = error instanceof UsageProblem || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    io.stderr(`passerelle authority ${command}: ${(error as Error).message}\n`)
    return usage ? 2 : 1
  }
}

async function changeStatus(command: 'revoke' | 'suspend' | 'reinstate' | 'publish', args: string[], io: CredentialsCommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { credential: { type: 'string' }, subject: { type: 'string' } },
    strict: true,
  })
  const dirArg = positionals[0]
  if (!dirArg)
    throw new UsageProblem(
      `expected the authority's folder (passerelle authority ${command} DIR${command === 'publish' ? '' : ' --credential ID | --subject DID'})`,
    )
  const dir = resolve(io.cwd, dirArg)
  const key = await loadKeyFile(join(dir, 'private-key.jwk'))
  const did = didBeside(join(dir, 'private-key.jwk'))
  if (!did) throw new UsageProblem(`${dir} is not an authority folder (no did.json)`)
  const status = openAuthorityStatus(dir, did, key)
  if (command === 'publish') {
    await status.publish(systemClock.now())
    io.stdout(`published ${join(dir, statusFolder)}/revocation.jwt and suspension.jwt\n`)
    return 0
  }
  if ((values.credential === undefined) === (values.subject === undefined))
    throw new UsageProblem('name the credentials with --credential ID or --subject DID (one of them)')
  const found = status.find(values.credential !== undefined ? { credential: values.credential } : { subject: values.subject! })
  const named = values.credential !== undefined ? `credential ${values.credential}` : `subject ${values.subject}`
  if (found.length === 0) throw new AuthorityStatusError(`no credential with a status was issued by ${dir} for ${named}; nothing was changed`)
  if (command === 'reinstate') {
    const revoked = found.filter((entry) => status.isSet('revocation', entry.index))
    if (revoked.length > 0)
      throw new AuthorityStatusError(
        `${revoked.map((e) => e.id).join(', ')} ${revoked.length === 1 ? 'is' : 'are'} revoked, which is permanent; nothing was changed`,
      )
  }
  const purpose = command === 'revoke' ? 'revocation' : 'suspension'
  for (const entry of found) status.set(purpose, entry.index, command !== 'reinstate')
  await status.publish(systemClock.now())
  const verb = command === 'revoke' ? 'revoked' : command === 'suspend' ? 'suspended' : 'reinstated'
  for (const entry of found) io.stdout(`${verb} ${entry.id} (${entry.type} of ${entry.subject}, index ${entry.index})\n`)
  return 0
}
