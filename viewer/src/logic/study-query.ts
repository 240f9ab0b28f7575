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

/** How many results follow a page; `atLeast` when the server stopped counting there. */
export interface Remaining {
  count: number;
  atLeast: boolean;
}

/**
 * How many more results the server has beyond this page, from its Warning header (PS3.18
 * 8.3.4.4.1: "There are N additional results that can be requested"). Yingyun counts only a
 * little past the page ("There are at least 100 …", so a common name stays cheap at scale); a server
 * that gives no number ("There are additional results …") has at least one more. None when it says nothing.
 */
export function remainingFromWarning(warning: string | null): Remaining {
  const match = /There are (at least )?(\d+ )?additional results/i.exec(warning ?? '');
  if (!match) return { count: 0, atLeast: false };
  return match[2] ? { count: Number(match[2]), atLeast: Boolean(match[1]) } : { count: 1, atLeast: true };
}

export interface PageInfo {
  first: number;
  last: number;
  total: number;
  /** The total is a lower bound ("1–25 of 125+"). */
  totalAtLeast: boolean;
  hasPrevious: boolean;
  hasNext: boolean;
}

/** Paging from what the server returned: rows shown, and how many follow (never "load everything"). */
export function pageInfo(offset: number, returned: number, remaining: Remaining): PageInfo {
  return {
    first: returned === 0 ? 0 : offset + 1,
    last: offset + returned,
    total: offset + returned + remaining.count,
    totalAtLeast: remaining.atLeast,
    hasPrevious: offset > 0,
    hasNext: remaining.count > 0,
  };
}
