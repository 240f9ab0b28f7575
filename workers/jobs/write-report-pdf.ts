import type { IngestService } from '../../archive/ingest.ts';
import type { Logger } from '../../archive/log.ts';
import { RenderUnsupported } from '../../archive/render/render.ts';
import { encapsulatedReportPdf, renderReportPdf, reportPdfObjectKey, type KeyImage } from '../../archive/reading/report-pdf.ts';
import type { ReportService } from '../../archive/reading/report-service.ts';
import { regionToday, type HrMarkResult } from '../../archive/recognition/hr-mark.ts';
import { FrameOutOfRange } from '../../archive/retrieve/frames.ts';
import { NotStored, type RetrieveService } from '../../archive/retrieve/retrieve-service.ts';
import type { ObjectStore } from '../../archive/storage/object-store.ts';
import type { JobDefinition } from '../queue.ts';
import { REPORT_DOCUMENT_JOBS, reportVersionPayload, type ReportVersionPayload } from './report-documents.ts';

/** Key images on the page, at most. */
const KEY_IMAGES = 4;

/** An image a Key Object Selection document of the study marks (share-links-repository.ts reads them). */
export interface MarkedImage {
  seriesInstanceUid: string;
  sopInstanceUid: string;
  frameNumber: number;
}

/**
 * Prints a signed report version as a PDF, keeps it for download (GET /api/studies/{study}/report/pdf), and
 * stores it in the study as an Encapsulated PDF through the one ingest path, on behalf of the
 * institution owning the study. A rerun stores the same instance (its UIDs come from the version's
 * SR), as a new version of it if the film link's token changed in between.
 */
export function writeReportPdfJob(deps: {
  reports: ReportService;
  retrieve: RetrieveService;
  /**
   * The patient's cloud film link (share-links.ts), printed as a QR code once the report is final;
   * `printed` is the one an earlier run of the same version printed, given back while it still opens.
   */
  filmLink: (studyInstanceUid: string, printed: string | undefined) => Promise<string | null>;
  /** The images the readers marked (Key Object Selection documents of the study), in order. */
  markedImages: (studyInstanceUid: string) => Promise<MarkedImage[]>;
  /** The HR mark of studies today (runtime.recognition), printed on the PDF as it stands when printed. */
  marks: (studyInstanceUids: string[]) => Promise<Map<string, HrMarkResult>>;
  ingest: IngestService;
  store: ObjectStore;
  log: Logger;
}): JobDefinition<ReportVersionPayload> {
  return {
    name: REPORT_DOCUMENT_JOBS.pdf,
    payload: reportVersionPayload,
    async handle({ reportId, version: number }) {
      const report = await deps.reports.report(reportId);
      const version = report?.versions.find((candidate) => candidate.version === number);
      if (!report || !version) throw new Error(`report ${reportId} has no version ${number}`);
      const study = await deps.reports.studyHeader(report.studyInstanceUid);
      if (!study) throw new Error(`study ${report.studyInstanceUid} of report ${reportId} is not indexed`);
      // The patient is given their film only for a verified report.
      const filmUrl = version.status === 'preliminary' ? null : await printedFilmLink(deps, report.studyInstanceUid, reportId, number);
      const mark = (await deps.marks([report.studyInstanceUid])).get(report.studyInstanceUid);
      const pdf = await renderReportPdf({
        study,
        reportId,
        version,
        keyImages: await keyImages(deps.retrieve, await deps.markedImages(report.studyInstanceUid), report.studyInstanceUid),
        filmUrl,
        ...(mark ? { hrMark: { mark, assessedOn: regionToday() } } : {}),
      });
      await deps.store.put(reportPdfObjectKey(reportId, number), pdf, 'application/pdf');
      const outcome = await deps.ingest.ingest({ part10: encapsulatedReportPdf(study, version, pdf) }, { via: 'import', name: 'report-pdf', institutionId: study.institutionId });
      deps.log.info({ reportId, version: number, sopInstanceUid: outcome.parsed.sopInstanceUid, result: outcome.result, bytes: pdf.length }, 'report PDF stored');
    },
  };
}

/**
 * The film URL this version's PDF prints, kept beside the PDF in the object store (where the PDF
 * printing it is anyway; the database keeps token hashes only) before the PDF is drawn, so a rerun
 * prints the same URL instead of minting another token. Null when the link is revoked, locked or
 * expired: no QR code then.
 */
async function printedFilmLink(deps: { filmLink: (studyInstanceUid: string, printed: string | undefined) => Promise<string | null>; store: ObjectStore }, studyInstanceUid: string, reportId: string, version: number): Promise<string | null> {
  const key = filmUrlObjectKey(reportId, version);
  const printed = (await deps.store.exists(key)) ? (await deps.store.get(key)).toString('utf8') : undefined;
  const url = await deps.filmLink(studyInstanceUid, printed);
  if (url && url !== printed) await deps.store.put(key, Buffer.from(url, 'utf8'), 'text/plain; charset=utf-8');
  return url;
}

/** Where the film URL printed on a report version's PDF is kept. */
export function filmUrlObjectKey(reportId: string, version: number): string {
  return `${reportPdfObjectKey(reportId, version)}.film-url`;
}

/**
 * The images the readers marked as key images (Key Object Selection), the first few; when none are
 * marked, each image series' representative image (its middle instance), as the thumbnails show.
 */
async function keyImages(retrieve: RetrieveService, marked: readonly MarkedImage[], studyInstanceUid: string): Promise<KeyImage[]> {
  const drawn: KeyImage[] = [];
  for (const image of marked.slice(0, KEY_IMAGES)) {
    try {
      const instance = await retrieve.instance({ studyInstanceUid, seriesInstanceUid: image.seriesInstanceUid, sopInstanceUid: image.sopInstanceUid });
      drawn.push(await retrieve.render(instance, { format: 'jpeg', viewport: { width: 384, height: 384 }, frameNumber: image.frameNumber }));
    } catch (error) {
      // A marked image since replaced or removed, or one that cannot be drawn, is left out.
      if (!(error instanceof RenderUnsupported || error instanceof NotStored || error instanceof FrameOutOfRange)) throw error;
    }
  }
  if (drawn.length) return drawn;
  const series = new Set<string>();
  for (const instance of await retrieve.instances({ studyInstanceUid })) if (instance.pixel) series.add(instance.seriesInstanceUid);
  const images: KeyImage[] = [];
  for (const seriesInstanceUid of [...series].slice(0, KEY_IMAGES)) {
    try {
      images.push(await retrieve.thumbnail({ studyInstanceUid, seriesInstanceUid }, { format: 'jpeg', viewport: { width: 384, height: 384 } }));
    } catch (error) {
      if (!(error instanceof RenderUnsupported)) throw error;
    }
  }
  return images;
}
