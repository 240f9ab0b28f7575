import type { DicomJson } from '../dicom/dataset.ts';
import { qidoParameters, remainingFromWarning, type SearchCriteria, type SortKey } from '../logic/study-query.ts';
import { seriesSummary, sortSeries, studySummary, type SeriesSummary, type StudySummary } from './models.ts';

/**
 * A failed request, with what the archive said (its problem JSON `detail`) so the reader sees a
 * reason, not a blank viewport. `status` is 0 when the server did not answer at all.
 */
export class DicomWebError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly url: string,
  ) {
    super(status ? `HTTP ${status}: ${detail}` : detail);
  }
}

export interface StudyPage {
  studies: StudySummary[];
  /** How many more match beyond this page (from the Warning header). */
  remaining: number;
}

export interface StudySearch {
  criteria: SearchCriteria;
  offset: number;
  limit: number;
  /** Omitted for the archive's own order (newest first). */
  orderBy?: { key: SortKey; descending: boolean };
}

/** Study-level attributes asked for on top of QIDO-RS defaults: what the list and the priors panel show. */
const STUDY_FIELDS = ['00080080', '00100021', '00201206', '00201208'];

/**
 * The viewer's only way to the archive: QIDO-RS, WADO-RS metadata, thumbnails and the priors API,
 * all standard DICOMweb except priors. Pixel data is fetched by Cornerstone's WADO-RS image loader
 * from the frame URLs this client builds.
 */
export class DicomWebClient {
  constructor(
    /** Origin-relative roots, so the app works behind any host name or proxy. */
    readonly dicomWebRoot = '/dicom-web',
    readonly apiRoot = '/api',
    private readonly fetcher: typeof fetch = (...args) => fetch(...args),
  ) {}

  async searchStudies(search: StudySearch): Promise<StudyPage> {
    const params = new URLSearchParams(qidoParameters(search.criteria));
    for (const field of STUDY_FIELDS) params.append('includefield', field);
    params.set('limit', String(search.limit));
    params.set('offset', String(search.offset));
    if (search.orderBy) params.set('orderby', `${search.orderBy.descending ? '-' : ''}${search.orderBy.key}`);
    const response = await this.get(`${this.dicomWebRoot}/studies?${params.toString()}`);
    const datasets = (await response.json()) as DicomJson[];
    return { studies: datasets.map(studySummary), remaining: remainingFromWarning(response.headers.get('warning')) };
  }

  async study(studyInstanceUid: string): Promise<StudySummary | undefined> {
    const params = new URLSearchParams({ StudyInstanceUID: studyInstanceUid });
    for (const field of STUDY_FIELDS) params.append('includefield', field);
    const response = await this.get(`${this.dicomWebRoot}/studies?${params.toString()}`);
    const [dataset] = (await response.json()) as DicomJson[];
    return dataset ? studySummary(dataset) : undefined;
  }

  async series(studyInstanceUid: string): Promise<SeriesSummary[]> {
    const response = await this.get(`${this.dicomWebRoot}/studies/${studyInstanceUid}/series`);
    const datasets = (await response.json()) as DicomJson[];
    return sortSeries(datasets.map((dataset) => seriesSummary(dataset, studyInstanceUid)));
  }

  /** Every instance's header (without bulk data): one request per series, which the archive answers from its index. */
  async seriesMetadata(studyInstanceUid: string, seriesInstanceUid: string): Promise<DicomJson[]> {
    const response = await this.get(`${this.seriesUrl(studyInstanceUid, seriesInstanceUid)}/metadata`);
    return (await response.json()) as DicomJson[];
  }

  /** The same person's other studies, at every institution, newest first. */
  async priors(studyInstanceUid: string): Promise<StudySummary[]> {
    const response = await this.get(`${this.apiRoot}/studies/${studyInstanceUid}/priors`);
    return ((await response.json()) as DicomJson[]).map(studySummary);
  }

  seriesThumbnailUrl(studyInstanceUid: string, seriesInstanceUid: string): string {
    return `${this.seriesUrl(studyInstanceUid, seriesInstanceUid)}/thumbnail?viewport=128,128`;
  }

  /** The WADO-RS frame URL, as a Cornerstone `wadors:` image id. */
  frameImageId(studyInstanceUid: string, seriesInstanceUid: string, sopInstanceUid: string, frameNumber: number): string {
    return `wadors:${this.seriesUrl(studyInstanceUid, seriesInstanceUid)}/instances/${sopInstanceUid}/frames/${frameNumber}`;
  }

  private seriesUrl(studyInstanceUid: string, seriesInstanceUid: string): string {
    return `${this.dicomWebRoot}/studies/${studyInstanceUid}/series/${seriesInstanceUid}`;
  }

  private async get(url: string): Promise<Response> {
    let response: Response;
    try {
      response = await this.fetcher(url, { headers: { Accept: 'application/dicom+json' } });
    } catch (error) {
      throw new DicomWebError(0, error instanceof Error ? error.message : String(error), url);
    }
    if (!response.ok) throw new DicomWebError(response.status, await problemDetail(response), url);
    return response;
  }
}

async function problemDetail(response: Response): Promise<string> {
  const body = await response.text().catch(() => '');
  try {
    const problem = JSON.parse(body) as { detail?: string; title?: string };
    return problem.detail ?? problem.title ?? response.statusText;
  } catch {
    return body.slice(0, 200) || response.statusText;
  }
}
