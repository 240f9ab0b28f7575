import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Administration, AdministrationError, COMMAND_LINE_ACTOR } from '../access/administration.ts';
import { generatePassword } from '../access/passwords.ts';
import { loadConfigOrExit } from '../config.ts';
import { failureReason } from '../failure-reason.ts';
import { createLogger } from '../log.ts';
import { openRuntime } from '../../workers/runtime.ts';
import { PersonRefusal } from '../person/person-service.ts';
import { PriorFetchRefusal } from '../prior-fetch/prior-fetch-service.ts';
import { RoutingRefusal } from '../routing/routing-service.ts';
import { verifyStore } from '../storage/store-verification.ts';

/**
 * `npm run admin -- <thing> <verb> [--options]`: the same administration as the REST API and the
 * admin page, for the server's own console (first set-up, scripts, a locked-out administrator).
 * It acts as a system administrator, and every change is audited as user "cli".
 */
const USAGE = `usage: npm run admin -- <command> [options]
  region list | region add --code C --name N --level province|city|district|county [--parent C]
  institution list | institution add --code C --name N --kind hospital|reading_centre [--region C]
  peer list | peer add --institution C --ae AE [--network CIDR …] [--host H --port P] [--tls] [--charset CS]
  peer remove AE
  user list | user add --username U --name N --role R [--institution C] [--oidc]   (--oidc: no password; signs in through the OIDC provider)
  user set-password U | user disable U | user enable U        (new passwords: YINGYUN_NEW_PASSWORD or generated)
  token list | token create --user U --label L [--days N] | token revoke ID
  audit verify | audit retain          (remove events past YINGYUN_AUDIT_RETENTION_DAYS)
  store verify                         (receipts whose object is missing, objects no receipt names; exit 1 if any)
  store export KEY --to FILE            (one object's bytes, as stored, into a file: an object no receipt names, for npm run import)
  routing list | routing add --name N --to-peer AE|--to-node NAME [--institution C] [--ae PATTERN] [--modality M …]
               [--description PATTERN] [--tag GGGGEEEE --value PATTERN] | routing remove ID
  dicomweb-node list | dicomweb-node add --name N --url URL [--token T] | dicomweb-node remove NAME
  forward queues | forward dead-letters [--destination D] | forward retry [--destination D] [--id ID …]
  send study STUDY_UID --to-peer AE|--to-node NAME [--series UID] | send status ID   (queued; sent/failed of total)
  prior-source list | prior-source set AE [--on-arrival] [--days N] | prior-source remove AE
  prior-fetch study STUDY_UID [--ae AE] | prior-fetch status STUDY_UID   (the person of that study, from every source or AE)`;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    code: { type: 'string' },
    name: { type: 'string' },
    level: { type: 'string' },
    parent: { type: 'string' },
    kind: { type: 'string' },
    region: { type: 'string' },
    institution: { type: 'string' },
    ae: { type: 'string' },
    network: { type: 'string', multiple: true },
    host: { type: 'string' },
    port: { type: 'string' },
    tls: { type: 'boolean' },
    charset: { type: 'string' },
    username: { type: 'string' },
    role: { type: 'string' },
    user: { type: 'string' },
    label: { type: 'string' },
    days: { type: 'string' },
    oidc: { type: 'boolean' },
    'to-peer': { type: 'string' },
    'to-node': { type: 'string' },
    modality: { type: 'string', multiple: true },
    description: { type: 'string' },
    tag: { type: 'string' },
    value: { type: 'string' },
    url: { type: 'string' },
    token: { type: 'string' },
    destination: { type: 'string' },
    'on-arrival': { type: 'boolean' },
    id: { type: 'string', multiple: true },
    series: { type: 'string' },
    to: { type: 'string' },
  },
});
const [thing, verb, argument] = positionals;
if (!thing || !verb) {
  console.error(USAGE);
  process.exit(2);
}

const config = loadConfigOrExit({ YINGYUN_LOG_LEVEL: 'warn', ...process.env });
const runtime = await openRuntime(config, createLogger(config.logLevel), { runWorkers: false }).catch((error: unknown) => {
  console.error(`cannot open the archive: ${failureReason(error)}`);
  process.exit(1);
});
const administration = new Administration(runtime.institutions, runtime.users, runtime.auth, runtime.audit);
const actor = COMMAND_LINE_ACTOR;
const newPassword = () => process.env.YINGYUN_NEW_PASSWORD ?? generatePassword();
const required = (name: string, value: string | undefined): string => {
  if (value === undefined) throw new AdministrationError('invalid', `--${name} is required`);
  return value;
};

const destination = () => {
  if ((values['to-peer'] === undefined) === (values['to-node'] === undefined)) throw new AdministrationError('invalid', 'one of --to-peer AE or --to-node NAME is required');
  return values['to-peer'] !== undefined ? { dicomPeer: values['to-peer'] } : { dicomwebNode: values['to-node']! };
};

const commands: Record<string, () => Promise<unknown>> = {
  'region list': () => administration.listRegions(),
  'region add': () => administration.createRegion(actor, { code: required('code', values.code), name: required('name', values.name), level: required('level', values.level) as never, parentCode: values.parent }),
  'institution list': () => administration.listInstitutions(),
  'institution add': () => administration.createInstitution(actor, { code: required('code', values.code), name: required('name', values.name), kind: required('kind', values.kind) as never, regionCode: values.region }),
  'peer list': () => administration.listPeers(actor),
  'peer add': () =>
    administration.createPeer(actor, {
      institutionCode: required('institution', values.institution),
      aeTitle: required('ae', values.ae),
      allowedNetworks: values.network ?? [],
      host: values.host ?? null,
      port: values.port === undefined ? null : Number(values.port),
      tlsRequired: values.tls ?? false,
      characterSet: values.charset ?? null,
    }),
  'peer remove': () => administration.deletePeer(actor, required('AE title', argument)),
  'user list': () => administration.listUsers(actor),
  'user add': async () => {
    const password = values.oidc ? undefined : newPassword();
    const user = await administration.createUser(actor, { username: required('username', values.username), displayName: required('name', values.name), role: required('role', values.role) as never, institutionCode: values.institution, password });
    return { ...user, ...(password === undefined || process.env.YINGYUN_NEW_PASSWORD ? {} : { password }) };
  },
  'user set-password': async () => {
    const password = newPassword();
    await administration.updateUser(actor, required('user name', argument), { password });
    return process.env.YINGYUN_NEW_PASSWORD ? { changed: argument } : { changed: argument, password };
  },
  'user disable': () => administration.updateUser(actor, required('user name', argument), { disabled: true }),
  'user enable': () => administration.updateUser(actor, required('user name', argument), { disabled: false }),
  'token list': () => administration.listTokens(actor),
  'token create': () => administration.createToken(actor, { username: required('user', values.user), label: required('label', values.label), days: values.days === undefined ? undefined : Number(values.days) }),
  'token revoke': () => administration.revokeToken(actor, required('token id', argument)),
  'audit verify': async () => {
    const result = await runtime.audit.verify();
    if (result.breaks.length > 0) process.exitCode = 1;
    return { intact: result.breaks.length === 0, ...result };
  },
  'routing list': () => runtime.routing.listRules(),
  'routing add': () =>
    runtime.routing.createRule(actor, {
      name: required('name', values.name),
      sourceInstitution: values.institution,
      callingAeTitle: values.ae,
      modalities: values.modality ?? [],
      studyDescription: values.description,
      attribute: values.tag === undefined ? undefined : { tag: values.tag, pattern: required('value', values.value) },
      destination: destination(),
    }),
  'routing remove': () => runtime.routing.deleteRule(actor, required('rule id', argument)),
  'dicomweb-node list': () => runtime.routing.listNodes(),
  'dicomweb-node add': () => runtime.routing.createNode(actor, { name: required('name', values.name), url: required('url', values.url), bearerToken: values.token }),
  'dicomweb-node remove': () => runtime.routing.deleteNode(actor, required('node name', argument)),
  'forward queues': () => runtime.routing.queues(),
  'forward dead-letters': () => runtime.routing.deadLetters(values.destination ?? null),
  'forward retry': () => runtime.routing.retryDead(actor, { ...(values.destination ? { destination: values.destination } : {}), ...(values.id ? { ids: values.id } : {}) }),
  // Queued only: the running archive sends it (or, while it is stopped, once it starts: its reconciler finds the items).
  'send study': () => runtime.routing.send(actor, required('study UID', argument), { destination: destination(), ...(values.series ? { seriesInstanceUid: values.series } : {}) }),
  'send status': () => runtime.routing.sendProgress(required('send id', argument), actor),
  'prior-source list': () => runtime.priorFetch.sources(),
  'prior-source set': async () => runtime.priorFetch.setSource(actor, await peerIdOf(required('AE title', argument)), { onArrival: values['on-arrival'] ?? false, ...(values.days === undefined ? {} : { lookBackDays: Number(values.days) }) }),
  'prior-source remove': async () => runtime.priorFetch.removeSource(actor, await peerIdOf(required('AE title', argument))),
  // Queued only, like a send: the running archive's workers (or its reconciler, for an in-process queue) run it.
  'prior-fetch study': async () => runtime.priorFetch.request(await runtime.persons.personOfStudy(required('study UID', argument)), actor.username, values.ae === undefined ? undefined : await peerIdOf(values.ae)),
  'prior-fetch status': async () => runtime.priorFetch.fetchesOfPerson(await runtime.persons.personOfStudy(required('study UID', argument))),
  'audit retain': async () => ({ removed: await runtime.audit.removeOlderThanDays(config.access.auditRetentionDays) }),
  'store verify': async () => {
    const result = await verifyStore(runtime.jobs.receipts, runtime.store);
    if (!result.consistent) process.exitCode = 1;
    return result;
  },
  // The local store keeps most objects inside its segment logs, not as files: this is how one becomes a file again.
  'store export': async () => {
    const key = required('object key', argument);
    const file = required('to', values.to);
    await writeFile(file, await runtime.store.get(key), { flag: 'wx' });
    return { key, file };
  },
};

async function peerIdOf(aeTitle: string): Promise<string> {
  const peer = await runtime.institutions.findPeerByAeTitle(aeTitle);
  if (!peer) throw new PriorFetchRefusal(404, `no DICOM peer ${aeTitle}`);
  return peer.id;
}

try {
  const command = commands[`${thing} ${verb}`];
  if (!command) {
    console.error(USAGE);
    process.exitCode = 2;
  } else {
    const result = await command();
    if (result !== undefined) console.log(JSON.stringify(result, null, 2));
  }
} catch (error) {
  const refusal = error instanceof RoutingRefusal || error instanceof PriorFetchRefusal || error instanceof PersonRefusal ? error.reason : undefined;
  const refused = error instanceof AdministrationError || refusal !== undefined;
  console.error(error instanceof AdministrationError ? `${error.kind}: ${error.message}` : (refusal ?? failureReason(error)));
  process.exitCode = refused ? 2 : 1;
} finally {
  await runtime.close();
}
