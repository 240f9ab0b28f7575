import { ApiError, type Connection } from '../api/http.ts';
import type { DicomJson } from '../dicom/dataset.ts';
import { qidoParameters, remainingFromWarning, type Remaining, type SearchCriteria, type SortKey } from '../logic/study-query.ts';
import type { PriorEntry } from '../../../archive/recognition/recognition-wire.ts';
import { HR_TAGS } from '../../../archive/recognition/hr-mark-dicom.ts';
import { priorStudy, seriesSummary, sortSeries, studySummary, type PriorStudy, type SeriesSummary, type StudySummary } from './models.ts';

export interface StudyPage {
  studies: StudySummary[];
  /** How many more match beyond this page (from the Warning header). */
  remaining: Remaining;
}

export interface StudySearch {
  criteria: SearchCriteria;
  offset: number;
  limit: number;
  /** Omitted for the archive's own order (newest first). */
  orderBy?: { key: SortKey; descending: boolean };
}

/** Study-level attributes asked for on top of QIDO-RS defaults: what the list and the priors panel show, and the HR mark's private block. */
const STUDY_FIELDS = ['00080080', '00100021', '00201206', '00201208', HR_TAGS.privateCreator];

/**
 * The viewer's way to patient data: QIDO-RS, WADO-RS metadata, thumbnails and the priors API, all
 * standard DICOMweb except priors, each request carrying the stated purpose of use. Pixel data is
 * fetched by Cornerstone's WADO-RS image loader from the frame URLs this client builds.
 */
export class DicomWebClient {
  /** Thumbnails fetched this session, as object URLs: an <img> cannot send the purpose-of-use header itself. */
  private readonly thumbnails = new Map<string, Promise<string>>();

  constructor(
    private readonly connection: Connection,
    /** Origin-relative roots, so the app works behind any host name or proxy. */
    readonly dicomWebRoot = '/dicom-web',
    readonly apiRoot = '/api',
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

  /**
   * Stores new instances in a study by STOW-RS (PS3.18 10.5), all in one request; a part the
   * archive refused (a 202 or 409 answer) is a failure with the archive's Failure Reason.
   */
  async store(studyInstanceUid: string, instances: readonly ArrayBuffer[]): Promise<void> {
    const boundary = `yingyun-${crypto.randomUUID()}`;
    const parts: BlobPart[] = instances.flatMap((instance) => [`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`, instance, '\r\n']);
    const content = new Blob([...parts, `--${boundary}--\r\n`]);
    const response = await this.connection.request(`${this.dicomWebRoot}/studies/${studyInstanceUid}`, {
      method: 'POST',
      accept: 'application/dicom+json',
      withPurpose: true,
      body: { content, contentType: `multipart/related; type="application/dicom"; boundary=${boundary}` },
    });
    const result = (await response.json()) as DicomJson;
    const failures = numbersIn(result['00081198']?.Value as DicomJson[] | undefined, '00081197');
    if (failures.length) throw new ApiError(409, `the archive refused ${failures.length} of ${instances.length} objects (Failure Reason ${failures.map((reason) => reason.toString(16).toUpperCase().padStart(4, '0')).join(', ')})`, response.url);
  }

  /** The same person's other studies the reader may see (other institutions' with a stated purpose), newest first, with institution, report and HR mark. */
  async priors(studyInstanceUid: string): Promise<PriorStudy[]> {
    const response = await this.connection.request(`${this.apiRoot}/studies/${studyInstanceUid}/priors`, { accept: 'application/json', withPurpose: true });
    return ((await response.json()) as PriorEntry[]).map(priorStudy);
  }

  /** A series thumbnail as an object URL for an <img>; a failure is not kept, so it is asked again next time. */
  seriesThumbnail(studyInstanceUid: string, seriesInstanceUid: string): Promise<string> {
    const url = `${this.seriesUrl(studyInstanceUid, seriesInstanceUid)}/thumbnail?viewport=128,128`;
    let thumbnail = this.thumbnails.get(url);
    if (!thumbnail) {
      thumbnail = this.connection.request(url, { accept: 'image/jpeg, image/png', withPurpose: true }).then(async (response) => URL.createObjectURL(await response.blob()));
      thumbnail.catch(() => this.thumbnails.delete(url));
      this.thumbnails.set(url, thumbnail);
    }
    return thumbnail;
  }

  /** The WADO-RS frame URL, as a Cornerstone `wadors:` image id. */
  frameImageId(studyInstanceUid: string, seriesInstanceUid: string, sopInstanceUid: string, frameNumber: number): string {
    return `wadors:${this.seriesUrl(studyInstanceUid, seriesInstanceUid)}/instances/${sopInstanceUid}/frames/${frameNumber}`;
  }

  private seriesUrl(studyInstanceUid: string, seriesInstanceUid: string): string {
    return `${this.dicomWebRoot}/studies/${studyInstanceUid}/series/${seriesInstanceUid}`;
  }

  private get(url: string): Promise<Response> {
    return this.connection.request(url, { accept: 'application/dicom+json', withPurpose: true });
  }
}

function numbersIn(items: readonly DicomJson[] | undefined, tag: string): number[] {
  return (items ?? []).flatMap((item) => (item[tag]?.Value ?? []) as number[]);
}
