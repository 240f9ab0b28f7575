import type { DicomJsonDataset, DicomJsonPersonName } from '../dicom/types.ts';

/**
 * The content tree of a Basic Diagnostic Imaging Report (PS3.16 TID 2000), checked against the
 * template: no DICOM tool checks SR content against its template, so Yingyun checks the SRs it
 * writes (a test does) and those it receives claiming TID 2000 (logged, never refused). The codes
 * are the ones the report SR uses (report-sr.ts builds from these same constants).
 */

export interface Code {
  value: string;
  scheme: string;
  meaning: string;
}

export const SR_CODES = {
  diagnosticImagingReport: { value: '18748-4', scheme: 'LN', meaning: 'Diagnostic imaging report' },
  // Section headings (CID 7001), LOINC since the DCM heading codes 121060–121078 were retired.
  findingsSection: { value: '59776-5', scheme: 'LN', meaning: 'Procedure Findings' },
  impressionSection: { value: '19005-8', scheme: 'LN', meaning: 'Radiology Imaging study [Impression] (narrative)' },
  criticalResultsSection: { value: '73568-8', scheme: 'LN', meaning: 'Communication of critical results' },
  // Report elements inside a section (CID 7002): the odd codes, which remain current.
  finding: { value: '121071', scheme: 'DCM', meaning: 'Finding' },
  impression: { value: '121073', scheme: 'DCM', meaning: 'Impression' },
  // Language (TID 1204) and observer context (TID 1002, 1003).
  language: { value: '121049', scheme: 'DCM', meaning: 'Language of Content Item and Descendants' },
  observerType: { value: '121005', scheme: 'DCM', meaning: 'Observer Type' },
  person: { value: '121006', scheme: 'DCM', meaning: 'Person' },
  personObserverName: { value: '121008', scheme: 'DCM', meaning: 'Person Observer Name' },
  personObserverOrganisation: { value: '121009', scheme: 'DCM', meaning: "Person Observer's Organization Name" },
} as const satisfies Record<string, Code>;

/** The DCM section headings CID 7001 used to hold, retired in favour of LOINC: flagged when found. */
const RETIRED_HEADING_CODES = new Set(['121060', '121062', '121064', '121066', '121068', '121070', '121072', '121074', '121076', '121078']);

export const TAGS = {
  valueType: '0040A040',
  conceptNameCodeSequence: '0040A043',
  relationshipType: '0040A010',
  contentSequence: '0040A730',
  continuityOfContent: '0040A050',
  contentTemplateSequence: '0040A504',
  mappingResource: '00080105',
  templateIdentifier: '0040DB00',
  textValue: '0040A160',
  personName: '0040A123',
  conceptCodeSequence: '0040A168',
  codeValue: '00080100',
  codingSchemeDesignator: '00080102',
  codeMeaning: '00080104',
} as const;

export interface TemplateProblem {
  /** Where: the content item's position, as '1.3.2' (PS3.3 C.17.3 observation paths, root = 1). */
  path: string;
  message: string;
}

/** True when the document says its content follows TID 2000 (DCMR). */
export function claimsTid2000(root: DicomJsonDataset): boolean {
  const template = items(root, TAGS.contentTemplateSequence)[0];
  return template !== undefined && text(template, TAGS.mappingResource) === 'DCMR' && text(template, TAGS.templateIdentifier) === '2000';
}

/** Every way the document's content tree departs from TID 2000; an empty list when it conforms. */
export function checkTid2000(root: DicomJsonDataset): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  if (!claimsTid2000(root)) problem('1', 'Content Template Sequence does not name TID 2000 (DCMR)');
  if (text(root, TAGS.valueType) !== 'CONTAINER') problem('1', 'the root content item must be a CONTAINER');
  const title = conceptName(root);
  if (!title) problem('1', 'the root has no Concept Name (the document title, CID 7000)');
  if (!text(root, TAGS.continuityOfContent)) problem('1', 'the root has no Continuity of Content');

  const children = items(root, TAGS.contentSequence);
  let sections = 0;
  let observerNames = 0;
  let personObserver = true;
  children.forEach((child, index) => {
    const path = `1.${index + 1}`;
    const relationship = text(child, TAGS.relationshipType);
    const valueType = text(child, TAGS.valueType);
    const name = conceptName(child);
    if (!name) return void problem(path, 'a content item without a Concept Name');
    if (relationship === 'HAS CONCEPT MOD') {
      if (valueType !== 'CODE') problem(path, 'a concept modifier of the report must be a CODE (language, procedure reported)');
    } else if (relationship === 'HAS OBS CONTEXT') {
      if (same(name, SR_CODES.observerType) && !same(codeValue(child), SR_CODES.person)) personObserver = false;
      if (same(name, SR_CODES.personObserverName)) {
        if (valueType !== 'PNAME' || !personNameValue(child)) problem(path, 'Person Observer Name must be a PNAME with a name');
        else observerNames++;
      }
    } else if (relationship === 'CONTAINS') {
      if (valueType !== 'CONTAINER') return void problem(path, `a report may contain only section CONTAINERs here, not ${valueType}`);
      sections++;
      checkSection(child, path, problem);
    } else {
      problem(path, `relationship ${relationship ?? '(none)'} is not allowed from the report's root`);
    }
  });
  if (sections === 0) problem('1', 'the report has no section (TID 2000 requires at least one CONTAINER heading, CID 7001)');
  if (personObserver && observerNames === 0) problem('1', 'the observation context names no Person Observer Name (TID 1003, mandatory for a person observer)');
  return problems;
}

function checkSection(section: DicomJsonDataset, path: string, problem: (path: string, message: string) => void): void {
  const heading = conceptName(section)!;
  if (heading.scheme === 'DCM' && RETIRED_HEADING_CODES.has(heading.value)) problem(path, `heading (${heading.value}, DCM) is a retired code: use the LOINC heading of CID 7001`);
  const content = items(section, TAGS.contentSequence);
  if (content.length === 0) problem(path, `section "${heading.meaning}" is empty`);
  content.forEach((item, index) => {
    const itemPath = `${path}.${index + 1}`;
    const relationship = text(item, TAGS.relationshipType);
    const valueType = text(item, TAGS.valueType);
    if (!conceptName(item)) return void problem(itemPath, 'a content item without a Concept Name');
    if (relationship === 'HAS OBS CONTEXT') return;
    if (relationship !== 'CONTAINS') return void problem(itemPath, `relationship ${relationship ?? '(none)'} is not allowed inside a section`);
    if (valueType === 'CONTAINER') return void checkSection(item, itemPath, problem);
    if (valueType === 'TEXT' && !text(item, TAGS.textValue)?.trim()) problem(itemPath, 'a TEXT item without text');
    if (valueType === 'CODE' && !codeValue(item)) problem(itemPath, 'a CODE item without a Concept Code');
    if (!['TEXT', 'CODE', 'NUM', 'IMAGE', 'COMPOSITE', 'WAVEFORM', 'SCOORD', 'SCOORD3D', 'TCOORD', 'UIDREF', 'DATE', 'TIME', 'DATETIME', 'PNAME'].includes(valueType ?? '')) {
      problem(itemPath, `value type ${valueType ?? '(none)'} is not allowed in a report section`);
    }
  });
}

function items(dataset: DicomJsonDataset, tag: string): DicomJsonDataset[] {
  return (dataset[tag]?.Value ?? []).filter((item): item is DicomJsonDataset => item !== null && typeof item === 'object');
}

function text(dataset: DicomJsonDataset, tag: string): string | undefined {
  const value = dataset[tag]?.Value?.[0];
  return typeof value === 'string' ? value.trim() : typeof value === 'number' ? String(value) : undefined;
}

function code(item: DicomJsonDataset | undefined): Code | undefined {
  if (!item) return undefined;
  const value = text(item, TAGS.codeValue);
  const scheme = text(item, TAGS.codingSchemeDesignator);
  return value && scheme ? { value, scheme, meaning: text(item, TAGS.codeMeaning) ?? '' } : undefined;
}

function conceptName(item: DicomJsonDataset): Code | undefined {
  return code(items(item, TAGS.conceptNameCodeSequence)[0]);
}

function codeValue(item: DicomJsonDataset): Code | undefined {
  return code(items(item, TAGS.conceptCodeSequence)[0]);
}

function personNameValue(item: DicomJsonDataset): string | undefined {
  const value = item[TAGS.personName]?.Value?.[0] as DicomJsonPersonName | string | undefined;
  if (typeof value === 'string') return value || undefined;
  return value?.Alphabetic || value?.Ideographic || undefined;
}

function same(a: Code | undefined, b: Code): boolean {
  return a !== undefined && a.value === b.value && a.scheme === b.scheme;
}
