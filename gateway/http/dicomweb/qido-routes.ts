import { Router, type Request, type Response } from 'express';
import { QueryRepository, type InstanceRow, type SeriesRow, type StudyRow } from '../../../archive/db/query-repository.ts';
import type { DicomJsonDataset } from '../../../archive/dicom/types.ts';
import { parseQidoQuery, QidoQueryError, type QidoQuery, type QueryLevel } from '../../../archive/query/qido-query.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { HttpProblem } from '../problem.ts';
import { dicomWebBase, element, instanceUrl, isUid, seriesUrl, studyUrl } from './urls.ts';

/**
 * QIDO-RS (PS3.18 10.6): search for studies, series and instances, answered from the index only.
 * All attributes the index keeps for a level are returned (more than the required set is allowed),
 * plus the computed ones: counts, ModalitiesInStudy, RetrieveURL.
 */
export function qidoRoutes(runtime: Runtime): Router {
  const router = Router();
  const repository = new QueryRepository(runtime.db.pool);

  const search = (level: QueryLevel) => async (request: Request, response: Response) => {
    const { study, series } = request.params as { study?: string; series?: string };
    for (const uid of [study, series]) {
      if (uid !== undefined && !isUid(uid)) throw new HttpProblem(400, 'problem.badRequest', `"${uid}" is not a UID`);
    }
    const accept = request.get('accept');
    if (accept && !/(application\/dicom\+json|application\/json|\*\/\*)/i.test(accept)) {
      throw new HttpProblem(406, 'problem.notAcceptable', 'QIDO-RS results are available as application/dicom+json');
    }
    let query: QidoQuery;
    try {
      query = parseQidoQuery(level, request.query as Record<string, string | string[]>, { studyInstanceUid: study, seriesInstanceUid: series });
    } catch (error) {
      if (error instanceof QidoQueryError) throw new HttpProblem(400, 'problem.badRequest', error.message);
      throw error;
    }
    const base = dicomWebBase(request);
    const rows =
      level === 'study' ? await repository.searchStudies(query) : level === 'series' ? await repository.searchSeries(query) : await repository.searchInstances(query);
    const more = rows.length > query.limit;
    const results = rows.slice(0, query.limit).map((row) =>
      level === 'study' ? studyResult(row, base) : level === 'series' ? seriesResult(row as SeriesRow, base) : instanceResult(row as InstanceRow, base),
    );
    const warnings: string[] = [];
    if (query.ignored.length) warnings.push(`299 yingyun "The following attributes are not supported for matching and were ignored: ${query.ignored.join(', ')}"`);
    if (more) warnings.push('299 yingyun "There are more results: use offset and limit to page through them"');
    if (warnings.length) response.setHeader('Warning', warnings);
    response.status(200).type('application/dicom+json').send(JSON.stringify(results));
  };

  router.get('/studies', search('study'));
  router.get('/series', search('series'));
  router.get('/instances', search('instance'));
  router.get('/studies/:study/series', search('series'));
  router.get('/studies/:study/instances', search('instance'));
  router.get('/studies/:study/series/:series/instances', search('instance'));
  return router;
}

function studyResult(row: StudyRow, base: string): DicomJsonDataset {
  return sortedByTag({
    ...row.patientAttributes,
    ...row.studyAttributes,
    // JSON is UTF-8 whatever the instances declared: their text was decoded at receipt.
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00080056': { vr: 'CS', Value: ['ONLINE'] },
    '00080061': element.cs(row.modalities),
    '00081190': element.ur(studyUrl(base, row.studyInstanceUid)),
    '00201206': element.is(row.numberOfSeries),
    '00201208': element.is(row.numberOfInstances),
  });
}

function seriesResult(row: SeriesRow, base: string): DicomJsonDataset {
  return sortedByTag({
    ...studyResult(row, base),
    ...row.seriesAttributes,
    '00081190': element.ur(seriesUrl(base, row.studyInstanceUid, row.seriesInstanceUid)),
    '00201209': element.is(row.numberOfSeriesInstances),
  });
}

function instanceResult(row: InstanceRow, base: string): DicomJsonDataset {
  return sortedByTag({
    ...seriesResult(row, base),
    ...row.instanceAttributes,
    '00081190': element.ur(instanceUrl(base, row.studyInstanceUid, row.seriesInstanceUid, row.sopInstanceUid)),
  });
}

function sortedByTag(dataset: DicomJsonDataset): DicomJsonDataset {
  return Object.fromEntries(Object.entries(dataset).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
