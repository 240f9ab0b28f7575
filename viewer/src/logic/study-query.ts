/** What a reader types into the study search. Dates are YYYY-MM-DD as date inputs give them. */
export interface SearchCriteria {
  patientName: string;
  patientId: string;
  accessionNumber: string;
  modality: string;
  dateFrom: string;
  dateTo: string;
  institution: string;
  description: string;
}

export const EMPTY_CRITERIA: SearchCriteria = {
  patientName: '',
  patientId: '',
  accessionNumber: '',
  modality: '',
  dateFrom: '',
  dateTo: '',
  institution: '',
  description: '',
};

/** Columns the list can be sorted by, named by DICOM keyword as QIDO-RS `orderby` takes them: the archive sorts the whole result before paging. */
export const SORT_KEYS = [
  'PatientName',
  'PatientID',
  'StudyDate',
  'ModalitiesInStudy',
  'StudyDescription',
  'InstitutionName',
  'AccessionNumber',
  'NumberOfStudyRelatedSeries',
  'NumberOfStudyRelatedInstances',
] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export const MODALITIES = ['CT', 'MR', 'CR', 'DX', 'US', 'MG', 'XA', 'RF', 'NM', 'PT', 'OT', 'SC'] as const;

/** Matches anywhere in the value, as a search box is expected to, unless the reader wrote wildcards. */
function contains(value: string): string {
  return /[*?]/.test(value) ? value : `*${value}*`;
}

function dicomDate(isoDate: string): string {
  return isoDate.replace(/-/g, '');
}

/**
 * QIDO-RS query parameters for a search. Person names go as typed with fuzzymatching, which the
 * archive matches against every component group (王小东, 小东, Wang, xiaodong all find 王^小东);
 * IDs and accession numbers match exactly or by the reader's wildcards; descriptions and
 * institutions match anywhere.
 */
export function qidoParameters(criteria: SearchCriteria): Record<string, string> {
  const params: Record<string, string> = {};
  const name = criteria.patientName.trim();
  if (name) {
    params.PatientName = name;
    params.fuzzymatching = 'true';
  }
  if (criteria.patientId.trim()) params.PatientID = criteria.patientId.trim();
  if (criteria.accessionNumber.trim()) params.AccessionNumber = criteria.accessionNumber.trim();
  if (criteria.modality.trim()) params.ModalitiesInStudy = criteria.modality.trim().toUpperCase();
  const from = dicomDate(criteria.dateFrom.trim());
  const to = dicomDate(criteria.dateTo.trim());
  if (from || to) params.StudyDate = from === to ? from : `${from}-${to}`;
  if (criteria.institution.trim()) params.InstitutionName = contains(criteria.institution.trim());
  if (criteria.description.trim()) params.StudyDescription = contains(criteria.description.trim());
  return params;
}

/**
 * How many more results the server has beyond this page, from its Warning header (PS3.18
 * 8.3.4.4.1: "There are N additional results that can be requested"); 0 when it says nothing.
 */
export function remainingFromWarning(warning: string | null): number {
  const match = /There are (\d+) additional results/i.exec(warning ?? '');
  return match ? Number(match[1]) : 0;
}

export interface PageInfo {
  first: number;
  last: number;
  total: number;
  hasPrevious: boolean;
  hasNext: boolean;
}

/** Paging from what the server returned: rows shown, and how many follow (never "load everything"). */
export function pageInfo(offset: number, returned: number, remaining: number): PageInfo {
  return {
    first: returned === 0 ? 0 : offset + 1,
    last: offset + returned,
    total: offset + returned + remaining,
    hasPrevious: offset > 0,
    hasNext: remaining > 0,
  };
}
