import type { DeadLetter, DestinationQueue, DicomwebNode, RoutingRule, SendProgress } from '../../../archive/db/routing-repository.ts';
import type { DicomPeer } from '../api/admin-models.ts';
import type { MessageKey } from '../i18n/messages.ts';
import type { FieldError, FormFields, FormResult } from './admin.ts';

export type { DeadLetter, DestinationQueue, DicomwebNode, RoutingRule, SendProgress };

/** Where a rule or a send goes, as the archive's API names it. */
export type DestinationBody = { dicomPeer: string } | { dicomwebNode: string };

export interface RoutingRuleBody {
  name: string;
  sourceInstitution?: string;
  callingAeTitle?: string;
  modalities: string[];
  studyDescription?: string;
  destination: DestinationBody;
}

export interface DicomwebNodeBody {
  name: string;
  url: string;
  bearerToken?: string;
}

/** A destination choice in a select: `peer:AE` or `node:name`. */
export interface DestinationOption {
  value: string;
  label: string;
}

/** The nodes one may send to: DICOM peers with an address (the archive refuses the others), then DICOMweb nodes. */
export function destinationOptions(peers: readonly DicomPeer[], nodes: readonly DicomwebNode[]): DestinationOption[] {
  return [
    ...peers.filter((peer) => peer.host && peer.port).map((peer) => ({ value: `peer:${peer.aeTitle}`, label: `${peer.aeTitle} (${peer.host}:${peer.port})` })),
    ...nodes.map((node) => ({ value: `node:${node.name}`, label: `${node.name} (DICOMweb)` })),
  ];
}

export function destinationBody(choice: string): DestinationBody | undefined {
  const [kind, ...rest] = choice.split(':');
  const name = rest.join(':');
  if (!name) return undefined;
  if (kind === 'peer') return { dicomPeer: name };
  if (kind === 'node') return { dicomwebNode: name };
  return undefined;
}

function result<Body>(errors: FieldError[], body: Body): FormResult<Body> {
  return errors.length ? { ok: false, errors } : { ok: true, body };
}

/** The rule form: a name and a destination are required; every criterion left empty matches anything. */
export function routingRuleBody(fields: FormFields): FormResult<RoutingRuleBody> {
  const text = (field: string) => (fields[field] ?? '').trim();
  const errors: FieldError[] = [];
  const check = (field: string, valid: boolean, problem: MessageKey) => {
    if (!valid) errors.push({ field, problem });
  };
  const name = text('name');
  check('name', name.length >= 1 && name.length <= 128, 'admin.invalid.name');
  const destination = destinationBody(text('destination'));
  check('destination', destination !== undefined, 'routing.invalid.destination');
  const modalities = text('modalities').split(/[\s,，、]+/).filter(Boolean).map((modality) => modality.toUpperCase());
  check('modalities', modalities.every((modality) => /^[A-Z0-9]{1,16}$/.test(modality)), 'routing.invalid.modalities');
  const optional = (field: string) => text(field) || undefined;
  return result(errors, {
    name,
    modalities,
    destination: destination!,
    ...(optional('sourceInstitution') ? { sourceInstitution: optional('sourceInstitution') } : {}),
    ...(optional('callingAeTitle') ? { callingAeTitle: optional('callingAeTitle') } : {}),
    ...(optional('studyDescription') ? { studyDescription: optional('studyDescription') } : {}),
  });
}

export function dicomwebNodeBody(fields: FormFields): FormResult<DicomwebNodeBody> {
  const text = (field: string) => (fields[field] ?? '').trim();
  const errors: FieldError[] = [];
  const name = text('name');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) errors.push({ field: 'name', problem: 'admin.invalid.code' });
  const url = text('url');
  if (!/^https?:\/\/\S+$/.test(url)) errors.push({ field: 'url', problem: 'routing.invalid.url' });
  const bearerToken = text('bearerToken');
  return result(errors, { name, url, ...(bearerToken ? { bearerToken } : {}) });
}

/** What a rule asks, in a line: the criteria set, in the order of the form. */
export function ruleCriteria(rule: RoutingRule, institutionCode: (id: string) => string | undefined): string[] {
  return [
    rule.sourceInstitutionId ? institutionCode(rule.sourceInstitutionId) ?? `#${rule.sourceInstitutionId}` : undefined,
    rule.callingAeTitle ?? undefined,
    rule.modalities.length ? rule.modalities.join('/') : undefined,
    rule.studyDescription ?? undefined,
    rule.attribute ? `(${rule.attribute.tag.slice(0, 4)},${rule.attribute.tag.slice(4)}) = ${rule.attribute.pattern}` : undefined,
  ].filter((criterion): criterion is string => criterion !== undefined);
}

/** How long the oldest item has waited, in whole minutes (0 for none or under a minute). */
export function waitedMinutes(oldestQueuedAt: string | null, now: Date): number {
  if (!oldestQueuedAt) return 0;
  return Math.max(0, Math.floor((now.getTime() - new Date(oldestQueuedAt).getTime()) / 60_000));
}

/** A send is over when every instance is sent or given up (dead letters). */
export function sendFinished(progress: SendProgress): boolean {
  return progress.sent + progress.failed >= progress.total;
}
