import { FHIR_VERSION } from './resources.ts';

/**
 * The CapabilityStatement served at /fhir/metadata (http://hl7.org/fhir/R4/capabilitystatement.html):
 * what this read-only server answers, kept beside the search parsing it describes (search.ts).
 */
export function capabilityStatement(fhirBase: string, software: { name: string; version: string }, date: string) {
  const searchParam = (name: string, type: 'token' | 'date' | 'reference', documentation: string) => ({ name, type, documentation });
  const common = [searchParam('_id', 'token', 'The resource id'), searchParam('patient.identifier', 'token', 'The patient identifier: [system|]value; system urn:oid:<issuer OID> or urn:yingyun:issuer:<Issuer of Patient ID>')];
  return {
    resourceType: 'CapabilityStatement' as const,
    status: 'active',
    date,
    publisher: 'Yingyun 影云',
    kind: 'instance',
    software,
    implementation: { description: 'Yingyun regional imaging cloud: FHIR R4 read access to studies and signed reports', url: fhirBase },
    fhirVersion: FHIR_VERSION,
    format: ['application/fhir+json'],
    rest: [
      {
        mode: 'server',
        security: { description: 'Authorization: Bearer <Yingyun API token>, or a signed-in session; each user sees the studies their institution (and, for a reading centre, its region) may see, as for QIDO-RS' },
        resource: [
          {
            type: 'ImagingStudy',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              ...common,
              searchParam('identifier', 'token', 'The Study Instance UID: urn:dicom:uid|urn:oid:<uid>'),
              searchParam('started', 'date', 'The study date: eq, ge, le, gt, lt; YYYY, YYYY-MM or YYYY-MM-DD'),
              searchParam('modality', 'token', 'A modality of the study (DICOM code, system http://dicom.nema.org/resources/ontology/DCM)'),
            ],
          },
          {
            type: 'DiagnosticReport',
            // Each signed version (初诊, 审核, every amendment) is a version of the resource.
            interaction: [{ code: 'read' }, { code: 'vread' }, { code: 'search-type' }],
            versioning: 'versioned',
            readHistory: false,
            searchParam: [
              ...common,
              searchParam('study', 'reference', 'The study reported: ImagingStudy/<Study Instance UID>'),
              searchParam('date', 'date', 'The study date (the report\'s effective time)'),
              { name: 'status', type: 'token', documentation: 'preliminary (初诊), final (审核), amended (更正)' },
            ],
          },
        ],
      },
    ],
  };
}
