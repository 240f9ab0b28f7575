import { Router, type Request, type Response } from 'express';
import { QueryRepository, type SearchResult } from '../../../archive/db/query-repository.ts';
import { auditedResults } from '../../../archive/audit/audit-event.ts';
import { keywordOf } from '../../../archive/dicom/dictionary.ts';
import type { DicomJsonDataset } from '../../../archive/dicom/types.ts';
import { parseQidoQuery, QidoQueryError, type QidoQuery, type QueryLevel } from '../../../archive/query/qido-query.ts';
import { metadataTagsToRead } from '../../../archive/query/result-attributes.ts';
import { identityKeysOf, maskIdentity } from '../../../archive/access/masking.ts';
import { hrMarkAttributes, wantsHrMark, withHrTags } from '../../../archive/recognition/hr-mark-dicom.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { HttpProblem } from '../problem.ts';
import { accepts } from './multipart.ts';
import { instanceResult, seriesResult, studyResult } from './query-results.ts';
import { dicomWebBase, gatewayBase, isUid } from './urls.ts';

const RESPONSE_TYPES = ['application/dicom+json', 'application/json'];

/**
 * QIDO-RS (PS3.18 10.6), answered from the index alone, at every resource of Table 10.6.1-2:
 * /studies, /series, /instances, /studies/{study}/series, /studies/{study}/instances and
 * /studies/{study}/series/{series}/instances. Results carry the level's default attributes, the
 * query keys and includefield's (PS3.18 10.6.3.3), with the computed ones: counts,
 * ModalitiesInStudy, InstanceAvailability and RetrieveURL.
 */
export function qidoRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const repository = new QueryRepository(runtime.db.pool);

  const search = (level: QueryLevel) => async (request: Request, response: Response) => {
    const { study, series } = request.params as { study?: string; series?: string };
    for (const uid of [study, series]) {
      if (uid !== undefined && !isUid(uid)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(uid)} is not a UID`);
    }
    if (!accepts(request.get('accept'), RESPONSE_TYPES)) {
      throw new HttpProblem(406, 'problem.notAcceptable', 'QIDO-RS results are available as application/dicom+json only');
    }
    let query: QidoQuery;
    try {
      query = parseQidoQuery(level, request.query as Record<string, string | string[]>, { studyInstanceUid: study, seriesInstanceUid: series });
    } catch (error) {
      if (error instanceof QidoQueryError) throw new HttpProblem(400, 'problem.badRequest', error.message);
      throw error;
    }

    const base = dicomWebBase(request);
    const { visibility } = accessOf(response);
    const identityKeys = visibility.maskIdentity ? identityKeysOf(query) : [];
    if (identityKeys.length) {
      throw new HttpProblem(403, 'problem.forbidden', `identity is masked for your role: ${identityKeys.map((tag) => keywordOf(tag) ?? tag).join(', ')} may not be used to match or sort`);
    }
    let results: DicomJsonDataset[];
    let remaining: SearchResult<unknown>['remaining'];
    let include = query.include;
    if (level === 'study') {
      const found = await repository.searchStudies(query, visibility);
      results = found.rows.map((row) => studyResult(row, base));
      remaining = found.remaining;
      // The HR mark's private block only when asked for (includefield=all or one of its tags): it costs
      // a computation per page, and a client that did not ask would not know the block.
      if (wantsHrMark(include)) {
        const marks = await runtime.recognition.marks(found.rows.map((row) => row.studyInstanceUid));
        results = results.map((result, index) => {
          const mark = marks.get(found.rows[index]!.studyInstanceUid);
          return mark ? { ...result, ...hrMarkAttributes(mark) } : result;
        });
        include = withHrTags(include);
      }
    } else if (level === 'series') {
      const found = await repository.searchSeries(query, visibility);
      results = found.rows.map((row) => seriesResult(row, base));
      remaining = found.remaining;
    } else {
      const found = await repository.searchInstances(query, visibility, { metadataTags: metadataTagsToRead(level, query.include) });
      results = found.rows.map((row) => instanceResult(row, base));
      remaining = found.remaining;
    }
    noteAudited(response, auditedResults(results));
    if (visibility.maskIdentity) results = results.map(maskIdentity);
    if (results.length === 0 && study) {
      // A search within a study or series that is not here is a search of a resource that does not exist.
      const missing = await repository.missingScope(query.scope);
      if (missing) throw new HttpProblem(404, 'problem.notFound', `no ${missing} ${missing === 'study' ? study : series} is stored here`);
    }

    for (const warning of warnings(query, remaining)) response.append('Warning', `299 ${warnAgent(request)} ${quoted(warning)}`);
    // An empty result is 200 with [] (CP-2473; PS3.18 8.3.4.4.1 had said 204, which cannot carry the JSON array clients parse).
    response.status(200).type('application/dicom+json').send(JSON.stringify(results.map((result) => selected(result, include))));
  };

  router.get('/studies', search('study'));
  router.get('/series', search('series'));
  router.get('/instances', search('instance'));
  router.get('/studies/:study/series', search('series'));
  router.get('/studies/:study/instances', search('instance'));
  router.get('/studies/:study/series/:series/instances', search('instance'));
  return router;
}

/** The attributes asked for, in tag order (as DICOM JSON is usually written). */
function selected(dataset: DicomJsonDataset, include: QidoQuery['include']): DicomJsonDataset {
  return Object.fromEntries(
    Object.entries(dataset)
      .filter(([tag]) => include === 'all' || include.has(tag))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

function warnings(query: QidoQuery, remaining: SearchResult<unknown>['remaining']): string[] {
  const texts: string[] = [];
  if (query.notMatched.length) {
    texts.push(`The following attributes are not supported for matching; they were returned but did not narrow the search: ${query.notMatched.join(', ')}`);
  }
  // PS3.18 8.3.4.4.1; counting stops at a cap, so a very broad search reports a lower bound.
  if (remaining.count > 0) {
    texts.push(`There are ${remaining.atLeast ? 'at least ' : ''}${remaining.count} additional results that can be requested`);
  }
  return texts;
}

/** RFC 9111 5.5: warn-agent is this server's host (and port), as gatewayBase names it. */
function warnAgent(request: Request): string {
  return new URL(gatewayBase(request)).host;
}

function quoted(text: string): string {
  return `"${text.replace(/[\\"]/g, (character) => `\\${character}`)}"`;
}
