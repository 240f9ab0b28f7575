/**
 * The part of FHIR R4 (4.0.1) that Yingyun serves, as TypeScript types: only the elements it
 * writes. Shared by the mapping, the routes and the tests; the official R4 JSON schema is what the
 * tests hold these resources to.
 */
export const FHIR_JSON = 'application/fhir+json';
export const FHIR_VERSION = '4.0.1';

/** Identifier systems and code systems the resources use. */
export const SYSTEM = {
  dicomUid: 'urn:dicom:uid',
  /** A DICOM code (modalities): the DICOM Controlled Terminology, PS3.16. */
  dicom: 'http://dicom.nema.org/resources/ontology/DCM',
  /** A SOP Class UID, written as urn:oid:… (R4 ImagingStudy.series.instance.sopClass). */
  uri: 'urn:ietf:rfc:3986',
  identifierType: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  endpointConnectionType: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type',
  loinc: 'http://loinc.org',
  diagnosticServiceSection: 'http://terminology.hl7.org/CodeSystem/v2-0074',
  /** Ours: the HR mark (互认标识) on an ImagingStudy, a complex extension (docs/conformance.md, FHIR). */
  hrMarkExtension: 'urn:yingyun:fhir:StructureDefinition:hr-mark',
} as const;

export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}

export interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}

export interface Identifier {
  type?: CodeableConcept;
  system?: string;
  value: string;
}

export interface Reference {
  reference?: string;
  identifier?: Identifier;
  display?: string;
}

export interface Attachment {
  contentType: string;
  language?: string;
  /** Base64, for a form carried inline. */
  data?: string;
  url?: string;
  title?: string;
  creation?: string;
}

export interface Endpoint {
  resourceType: 'Endpoint';
  id: string;
  status: 'active';
  connectionType: Coding;
  payloadType: CodeableConcept[];
  payloadMimeType?: string[];
  address: string;
}

export interface ImagingStudyInstance {
  uid: string;
  sopClass: Coding;
  number?: number;
}

export interface ImagingStudySeries {
  uid: string;
  number?: number;
  modality: Coding;
  description?: string;
  numberOfInstances: number;
  bodySite?: Coding;
  started?: string;
  instance?: ImagingStudyInstance[];
}

/** A FHIR extension: simple (one value[x]) or complex (nested extensions). */
export interface Extension {
  url: string;
  valueBoolean?: boolean;
  valueString?: string;
  valueCode?: string;
  valueDate?: string;
  extension?: Extension[];
}

export interface ImagingStudy {
  resourceType: 'ImagingStudy';
  id: string;
  extension?: Extension[];
  contained?: Endpoint[];
  identifier: Identifier[];
  status: 'available';
  modality?: Coding[];
  subject: Reference;
  started?: string;
  referrer?: Reference;
  endpoint?: Reference[];
  numberOfSeries: number;
  numberOfInstances: number;
  description?: string;
  series?: ImagingStudySeries[];
}

export type DiagnosticReportStatus = 'preliminary' | 'final' | 'amended' | 'corrected';

export interface DiagnosticReport {
  resourceType: 'DiagnosticReport';
  id: string;
  meta?: { versionId?: string; lastUpdated?: string };
  identifier?: Identifier[];
  status: DiagnosticReportStatus;
  category?: CodeableConcept[];
  code: CodeableConcept;
  subject: Reference;
  effectiveDateTime?: string;
  issued?: string;
  performer?: Reference[];
  resultsInterpreter?: Reference[];
  imagingStudy?: Reference[];
  conclusion?: string;
  presentedForm?: Attachment[];
}

export type Resource = ImagingStudy | DiagnosticReport;

export interface Bundle<R extends Resource = Resource> {
  resourceType: 'Bundle';
  type: 'searchset';
  total?: number;
  link: { relation: string; url: string }[];
  entry: { fullUrl: string; resource: R; search: { mode: 'match' } }[];
}

export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';
/** The few IssueType codes Yingyun's refusals map to (R4 ValueSet issue-type). */
export type IssueType = 'invalid' | 'not-supported' | 'login' | 'forbidden' | 'not-found' | 'exception' | 'transient' | 'throttled' | 'processing';

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: { severity: IssueSeverity; code: IssueType; diagnostics?: string; details?: CodeableConcept }[];
}
