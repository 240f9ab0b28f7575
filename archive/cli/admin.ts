import { parseArgs } from 'node:util';
import { Administration, AdministrationError, COMMAND_LINE_ACTOR } from '../access/administration.ts';
import { generatePassword } from '../access/passwords.ts';
import { loadConfigOrExit } from '../config.ts';
import { failureReason } from '../failure-reason.ts';
import { createLogger } from '../log.ts';
import { openRuntime } from '../../workers/runtime.ts';

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
  audit verify | audit retain          (remove events past YINGYUN_AUDIT_RETENTION_DAYS)`;

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
  'audit retain': async () => ({ removed: await runtime.audit.removeOlderThanDays(config.access.auditRetentionDays) }),
};

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
  const refused = error instanceof AdministrationError;
  console.error(refused ? `${error.kind}: ${error.message}` : failureReason(error));
  process.exitCode = refused ? 2 : 1;
} finally {
  await runtime.close();
}
