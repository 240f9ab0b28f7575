import { isIP } from 'node:net';
import { DOMImplementation, XMLSerializer, type Element } from '@xmldom/xmldom';
import type { AuditEventRecord, AuditEventType } from './audit-event.ts';

/**
 * One audit event as a DICOM audit message (PS3.15 A.5, the RFC 3881 schema as DICOM maintains it,
 * which IHE ATNA repositories take in). Field choices follow the message tables of A.5.3; where the
 * trail records more than a table has room for, the rest goes where the schema allows
 * implementation-defined content: ParticipantObjectDetail (a type and a base64 value).
 *
 * Keys of `detail` read here: `reason` (why it failed), `query` (the query text), `route` (the
 * resource asked for), `deidentified` (export), `username` and `change` (admin-change), and `target`
 * ('dicom-peer' when an admin-change edits a DICOM peer rather than a user).
 */
export function toDicomAuditMessage(event: AuditEventRecord, source: { auditSourceId: string; enterpriseSiteId?: string }): string {
  const kind = MESSAGE_KINDS[event.eventType];
  const document = new DOMImplementation().createDocument(null, 'AuditMessage', null);
  const message = document.documentElement!; // created with the document, by name

  const identification = element(message, 'EventIdentification', {
    EventActionCode: event.action,
    EventDateTime: event.occurredAt.toISOString(),
    EventOutcomeIndicator: String(event.outcome),
  });
  coded(identification, 'EventID', kind.eventId);
  const typeCode = kind.eventTypeCode?.(event);
  if (typeCode) coded(identification, 'EventTypeCode', typeCode);
  const reason = detailText(event, 'reason');
  if (reason !== undefined) textElement(identification, 'EventOutcomeDescription', reason);

  // UserID is mandatory: an anonymous caller is known by its address, failing that by nothing.
  const actor = element(message, 'ActiveParticipant', {
    UserID: event.userName ?? event.sourceAddress ?? 'unknown',
    UserIsRequestor: String(kind.actorIsRequestor),
    NetworkAccessPointID: event.sourceAddress ?? undefined,
    NetworkAccessPointTypeCode: event.sourceAddress === null ? undefined : isIP(event.sourceAddress) ? '2' : '1',
  });
  if (kind.actorRole) coded(actor, 'RoleIDCode', kind.actorRole);
  // The user's role in Yingyun's access control is what RoleIDCode means in RFC 3881; it has no
  // standard code, so it goes under a private coding scheme ('99' prefix, as DICOM private schemes are named).
  if (event.userRole !== null) coded(actor, 'RoleIDCode', { code: event.userRole, scheme: '99YINGYUN', meaning: event.userRole });

  if (kind.archive) {
    const archive = element(message, 'ActiveParticipant', { UserID: source.auditSourceId, UserIsRequestor: 'false' });
    if (kind.archive.role) coded(archive, 'RoleIDCode', kind.archive.role);
  }

  const auditSource = element(message, 'AuditSourceIdentification', {
    AuditSourceID: source.auditSourceId,
    AuditEnterpriseSiteID: source.enterpriseSiteId,
  });
  element(auditSource, 'AuditSourceTypeCode', { 'csd-code': APPLICATION_SERVER_PROCESS });

  const subject = kind.subject?.(event);
  const objects = [...(subject ? [subject] : []), ...patientAndStudies(event)];
  for (const object of objects) {
    const objectElement = element(message, 'ParticipantObjectIdentification', {
      ParticipantObjectID: object.id,
      ParticipantObjectTypeCode: object.typeCode,
      ParticipantObjectTypeCodeRole: object.typeCodeRole,
    });
    coded(objectElement, 'ParticipantObjectIDTypeCode', object.idTypeCode);
    if ('query' in object.label) textElement(objectElement, 'ParticipantObjectQuery', base64(object.label.query));
    else textElement(objectElement, 'ParticipantObjectName', object.label.name);
    // PS3.15 has no PurposeOfUse element (IHE's XUA extension adds a coded one, and ours is free
    // text): the stated purpose goes with every object it justified touching.
    const details = event.purpose === null ? object.details : [...object.details, { type: 'PurposeOfUse', value: event.purpose }];
    for (const detail of details) element(objectElement, 'ParticipantObjectDetail', { type: detail.type, value: base64(detail.value) });
  }

  // Compact, without indentation: ATNA carries each message as one syslog record.
  return XML_DECLARATION + new XMLSerializer().serializeToString(document, { requireWellFormed: true });
}

/** A coded value (the schema's CodedValueType): originalText is the code meaning. */
interface Code {
  code: string;
  scheme: string;
  meaning: string;
}

interface ParticipantObject {
  id: string;
  typeCode: '1' | '2';
  typeCodeRole: string;
  idTypeCode: Code;
  /** The schema requires one of the two on every object. */
  label: { name: string } | { query: string };
  details: { type: string; value: string }[];
}

/** How one kind of event is told (PS3.15 A.5.3). */
interface MessageKind {
  eventId: Code;
  eventTypeCode?: (event: AuditEventRecord) => Code;
  /** The role the user (or calling AE) plays, for the messages that name one. */
  actorRole?: Code;
  /** False where the table says so: the performers in a Security Alert, the node in a Network Entry. */
  actorIsRequestor: boolean;
  /** The archive's own part, as the process that answered, received, reported or authenticated. */
  archive: { role?: Code } | null;
  /** The object the message is about besides the patient and the studies. */
  subject?: (event: AuditEventRecord) => ParticipantObject | null;
}

const dcm = (code: string, meaning: string): Code => ({ code, scheme: 'DCM', meaning });
const rfc3881 = (code: string, meaning: string): Code => ({ code, scheme: 'RFC-3881', meaning });

const SOURCE_ROLE = dcm('110153', 'Source Role ID');
const DESTINATION_ROLE = dcm('110152', 'Destination Role ID');
const USER_AUTHENTICATION = dcm('110114', 'User Authentication');
const SECURITY_ALERT = dcm('110113', 'Security Alert');
const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
const APPLICATION_SERVER_PROCESS = '4';
const SECURITY_RESOURCE = '13';
/** There is one audit trail per archive; AuditSourceID says which archive. */
const AUDIT_TRAIL_URI = 'urn:yingyun:audit-trail';

const MESSAGE_KINDS: Record<AuditEventType, MessageKind> = {
  login: { eventId: USER_AUTHENTICATION, eventTypeCode: () => dcm('110122', 'Login'), actorIsRequestor: true, archive: {} },
  logout: { eventId: USER_AUTHENTICATION, eventTypeCode: () => dcm('110123', 'Logout'), actorIsRequestor: true, archive: {} },
  query: {
    eventId: dcm('110112', 'Query'),
    actorRole: SOURCE_ROLE,
    actorIsRequestor: true,
    archive: { role: DESTINATION_ROLE },
    subject: queryObject,
  },
  'instances-accessed': { eventId: dcm('110103', 'DICOM Instances Accessed'), actorIsRequestor: true, archive: {} },
  // Both the person and the process exporting are Source; the export destination (media participant)
  // is not in the record.
  export: { eventId: dcm('110106', 'Export'), actorRole: SOURCE_ROLE, actorIsRequestor: true, archive: { role: SOURCE_ROLE } },
  'procedure-record': { eventId: dcm('110111', 'Procedure Record'), actorIsRequestor: true, archive: {} },
  'instances-stored': {
    eventId: dcm('110104', 'DICOM Instances Transferred'),
    actorRole: SOURCE_ROLE,
    actorIsRequestor: true,
    archive: { role: DESTINATION_ROLE },
  },
  // A Network Entry describes only the node that entered.
  'association-accepted': { eventId: dcm('110108', 'Network Entry'), eventTypeCode: () => dcm('110124', 'Attach'), actorIsRequestor: false, archive: null },
  'association-rejected': {
    eventId: SECURITY_ALERT,
    eventTypeCode: () => dcm('110126', 'Node Authentication'),
    actorIsRequestor: false,
    archive: {},
    subject: (event) => {
      const node = event.sourceAddress ?? event.userName;
      return node === null ? null : alertSubject(event, node, dcm('110182', 'Node ID'), event.userName ?? node);
    },
  },
  'access-denied': {
    eventId: SECURITY_ALERT,
    eventTypeCode: () => dcm('110132', 'Use of Restricted Function'),
    actorIsRequestor: false,
    archive: {},
    subject: (event) => {
      const route = detailText(event, 'route');
      return route === undefined ? null : alertSubject(event, route, rfc3881('12', 'URI'), route);
    },
  },
  'admin-change': {
    eventId: SECURITY_ALERT,
    eventTypeCode: (event) =>
      event.detail.target === 'dicom-peer' ? dcm('110128', 'Network Configuration') : dcm('110137', 'User Security Attributes Changed'),
    actorIsRequestor: false,
    archive: {},
    subject: (event) => {
      const username = detailText(event, 'username');
      return username === undefined ? null : alertSubject(event, username, rfc3881('11', 'User Identifier'), username);
    },
  },
  'audit-log-used': {
    eventId: dcm('110101', 'Audit Log Used'),
    actorIsRequestor: true,
    archive: {},
    subject: () => ({
      id: AUDIT_TRAIL_URI,
      typeCode: '2',
      typeCodeRole: SECURITY_RESOURCE,
      idTypeCode: rfc3881('12', 'URI'),
      label: { name: 'Security Audit Log' },
      details: [],
    }),
  },
};

/** The query as issued, base64 as the schema asks; a DICOMweb query is not a DICOM data set, so it is named by its URI. */
function queryObject(event: AuditEventRecord): ParticipantObject | null {
  const query = detailText(event, 'query');
  if (query === undefined) return null;
  return {
    id: detailText(event, 'route') ?? query,
    typeCode: '2',
    typeCodeRole: '3',
    idTypeCode: rfc3881('12', 'URI'),
    label: { query },
    details: [],
  };
}

/** A Security Alert's subject must carry an 'Alert Description' in free text. */
function alertSubject(event: AuditEventRecord, id: string, idTypeCode: Code, name: string): ParticipantObject {
  const description = detailText(event, 'reason') ?? detailText(event, 'change') ?? event.eventType;
  return { id, typeCode: '2', typeCodeRole: SECURITY_RESOURCE, idTypeCode, label: { name }, details: [{ type: 'Alert Description', value: description }] };
}

function patientAndStudies(event: AuditEventRecord): ParticipantObject[] {
  const objects: ParticipantObject[] = [];
  if (event.patientId !== null) {
    objects.push({
      id: event.patientId,
      typeCode: '1',
      typeCodeRole: '1',
      idTypeCode: rfc3881('2', 'Patient Number'),
      label: { name: event.patientName ?? event.patientId },
      details: [],
    });
  }
  // PS3.15 has an Anonymized element for this, but it may only appear beside the study's SOP classes
  // and instance counts, which the record does not hold.
  const deidentified = event.detail.deidentified;
  const studyDetails = typeof deidentified === 'boolean' ? [{ type: 'Anonymized', value: String(deidentified) }] : [];
  for (const studyInstanceUid of event.studyUids) {
    objects.push({
      id: studyInstanceUid,
      typeCode: '2',
      typeCodeRole: '3',
      idTypeCode: dcm('110180', 'Study Instance UID'),
      // The record has no study description; the schema still wants a name.
      label: { name: studyInstanceUid },
      details: studyDetails,
    });
  }
  return objects;
}

// An element always has an owner document; the DOM types allow null only because a Document is a Node too.
function element(parent: Element, name: string, attributes: Record<string, string | undefined> = {}): Element {
  const child = parent.ownerDocument!.createElement(name);
  for (const [attribute, value] of Object.entries(attributes)) if (value !== undefined) child.setAttribute(attribute, xmlCharacters(value));
  parent.appendChild(child);
  return child;
}

function textElement(parent: Element, name: string, text: string): void {
  element(parent, name).appendChild(parent.ownerDocument!.createTextNode(xmlCharacters(text)));
}

function coded(parent: Element, name: string, code: Code): void {
  element(parent, name, { 'csd-code': code.code, codeSystemName: code.scheme, originalText: code.meaning });
}

/**
 * Control characters and lone surrogates from hostile input (a user name typed at the login form)
 * cannot appear in XML 1.0 at all, not even escaped; the serializer would write them and the message
 * would not parse. They become U+FFFD; the hash-chained row keeps the original.
 */
function xmlCharacters(text: string): string {
  return text.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD');
}

function detailText(event: AuditEventRecord, key: string): string | undefined {
  const value = event.detail[key];
  return typeof value === 'string' ? value : undefined;
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
