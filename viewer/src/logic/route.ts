import { ADMIN_TABS, type AdminTab } from './admin.ts';
import type { Permission } from './session.ts';
import type { SearchCriteria, SortKey } from './study-query.ts';
import { EMPTY_CRITERIA, SORT_KEYS } from './study-query.ts';

/** Where the app is, as the URL says: bookmarkable, and what the browser's back button returns to. */
export type Route =
  | { page: 'studies'; criteria: SearchCriteria; sort: Sort; offset: number }
  | { page: 'viewer'; studyInstanceUids: string[]; seriesInstanceUid?: string }
  /** Administration and audit; no tab: the first the user has. */
  | { page: 'admin'; tab?: AdminTab }
  /** Reading tasks: a reading centre's worklist, or a hospital's requests (远程诊断). */
  /** The QC work list (质控工作列表) of QC staff. */
  | { page: 'qc' }
  | { page: 'worklist' }
  /** The region's statistics dashboard (统计看板). */
  | { page: 'statistics' }
  /**
   * One person's studies everywhere, on a timeline; no id: the lookup by ID number. The number is
   * never part of the address (nor of the history): only the person's id is.
   */
  | { page: 'person'; personId?: string };

export interface Sort {
  key: SortKey;
  descending: boolean;
}

export const DEFAULT_SORT: Sort = { key: 'StudyDate', descending: true };

const CRITERIA_PARAMS: Record<keyof SearchCriteria, string> = {
  patientName: 'name',
  patientId: 'pid',
  accessionNumber: 'acc',
  modality: 'mod',
  dateFrom: 'from',
  dateTo: 'to',
  institution: 'inst',
  description: 'desc',
};

const UID = /^[0-9]+(\.[0-9]+)*$/;

/**
 * Reads a location. `/viewer?StudyInstanceUIDs=a,b` is the deep link OHIF uses (several studies
 * comma-separated or repeated), so links made by a PACS or HIS for OHIF open here too.
 */
export function parseRoute(pathname: string, search: string): Route {
  const params = new URLSearchParams(search);
  if (/^\/admin\/?$/.test(pathname)) {
    const tab = ADMIN_TABS.find((candidate) => candidate === params.get('tab'));
    return tab ? { page: 'admin', tab } : { page: 'admin' };
  }
  if (/^\/worklist\/?$/.test(pathname)) return { page: 'worklist' };
  if (/^\/statistics\/?$/.test(pathname)) return { page: 'statistics' };
  if (/^\/qc\/?$/.test(pathname)) return { page: 'qc' };
  const person = /^\/persons(?:\/(\d{1,18}))?\/?$/.exec(pathname);
  if (person) return person[1] ? { page: 'person', personId: person[1] } : { page: 'person' };
  if (/^\/viewer\/?$/.test(pathname)) {
    const studyInstanceUids = params
      .getAll('StudyInstanceUIDs')
      .flatMap((value) => value.split(','))
      .map((uid) => uid.trim())
      .filter((uid) => UID.test(uid));
    const series = params.get('SeriesInstanceUIDs')?.split(',')[0]?.trim();
    return { page: 'viewer', studyInstanceUids: [...new Set(studyInstanceUids)], ...(series && UID.test(series) ? { seriesInstanceUid: series } : {}) };
  }
  const criteria = { ...EMPTY_CRITERIA };
  for (const [field, param] of Object.entries(CRITERIA_PARAMS) as [keyof SearchCriteria, string][]) {
    criteria[field] = params.get(param)?.trim() ?? '';
  }
  const sortParam = params.get('sort') ?? '';
  const descending = sortParam.startsWith('-');
  const key = sortParam.replace(/^-/, '') as SortKey;
  const sort = SORT_KEYS.includes(key) ? { key, descending } : DEFAULT_SORT;
  const offset = Math.max(0, Math.trunc(Number(params.get('offset')) || 0));
  return { page: 'studies', criteria, sort, offset };
}

/** The URL of a route (path and query), the inverse of parseRoute. */
export function routeUrl(route: Route): string {
  const params = new URLSearchParams();
  if (route.page === 'admin') return route.tab ? `/admin?tab=${route.tab}` : '/admin';
  if (route.page === 'worklist') return '/worklist';
  if (route.page === 'statistics') return '/statistics';
  if (route.page === 'qc') return '/qc';
  if (route.page === 'person') return route.personId ? `/persons/${route.personId}` : '/persons';
  if (route.page === 'viewer') {
    params.set('StudyInstanceUIDs', route.studyInstanceUids.join(','));
    if (route.seriesInstanceUid) params.set('SeriesInstanceUIDs', route.seriesInstanceUid);
    return `/viewer?${params.toString()}`;
  }
  for (const [field, param] of Object.entries(CRITERIA_PARAMS) as [keyof SearchCriteria, string][]) {
    if (route.criteria[field]) params.set(param, route.criteria[field]);
  }
  if (route.sort.key !== DEFAULT_SORT.key || route.sort.descending !== DEFAULT_SORT.descending) {
    params.set('sort', `${route.sort.descending ? '-' : ''}${route.sort.key}`);
  }
  if (route.offset > 0) params.set('offset', String(route.offset));
  const query = params.toString();
  return query ? `/?${query}` : '/';
}

/**
 * Where a user may go: images need 'read-images' (an auditor's start page is the audit trail), the
 * statistics dashboard 'view-statistics', administration needs one of its permissions. Undefined when the route is fine as it is.
 */
export function permittedRoute(route: Route, permissions: readonly Permission[], adminTabs: readonly AdminTab[]): Route | undefined {
  if (route.page === 'admin') return adminTabs.length === 0 ? parseRoute('/', '') : undefined;
  if (permissions.includes('read-images')) return undefined;
  // The dashboard shows figures, no images: an institution administrator has view-statistics without read-images.
  if (route.page === 'statistics' && permissions.includes('view-statistics')) return undefined;
  return adminTabs.length > 0 ? { page: 'admin' } : undefined;
}

/**
 * The renderer asked for in the page's URL: `cpu=1` forces Cornerstone's CPU rendering, `cpu=0`
 * WebGL even when it is only a software rasteriser (both for testing); otherwise chosen at start.
 */
export function rendererFlag(search: string): 'auto' | 'cpu' | 'webgl' {
  const value = new URLSearchParams(search).get('cpu');
  if (value === '1' || value === 'true') return 'cpu';
  if (value === '0' || value === 'false') return 'webgl';
  return 'auto';
}
