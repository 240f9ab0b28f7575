import type { InstitutionScopeCache } from '../access/institution-scope.ts';
import { peerVisibility, type Visibility } from '../access/policy.ts';
import { auditedResults } from '../audit/audit-event.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { MatchPage, QueryRepository } from '../db/query-repository.ts';
import { keywordOf } from '../dicom/dictionary.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { QidoQuery } from '../query/qido-query.ts';
import { instanceMatch, metadataTagsToRead, seriesMatch, studyMatch } from '../query/result-attributes.ts';
import { responseIdentifier, type FindQuery } from './find-query.ts';

/** Who asks: a DIMSE peer as the association admitted it. */
export interface FindCaller {
  callingAeTitle: string;
  remoteAddress: string;
  institutionId: string;
  quarantined: boolean;
}

export interface FindOutcome {
  matches: number;
  cancelled: boolean;
}

/**
 * Matches read from the index per statement. The first page holds what most queries find (a patient's
 * studies, a surname in one hospital's month or year), so they cost one statement: each further one
 * re-reads the rows OFFSET skips, which for a name filtered from a hospital's studies in date order is
 * most of the scan again. Each next page is twice the last, up to the largest, so a long answer costs
 * a few statements while a page's rows stay a few MB in memory.
 */
const FIRST_PAGE = 500;
const LARGEST_PAGE = 4000;
/** Matches sent between two looks at what the peer sent (a C-CANCEL). */
const YIELD_EVERY = 50;
/** Study UIDs one audit event names; the count of matches is always complete. */
const AUDITED_MATCHES = 1000;

/**
 * C-FIND against the index (PS3.4 C.4.1): the query read from the identifier runs on the same SQL
 * as QIDO-RS (QueryRepository), limited to what the calling peer's institution may see, and each
 * match becomes a response identifier handed to `respond` one at a time, so a long answer streams
 * and back-pressure reaches the database. Every query is audited as a QIDO-RS search is: one
 * 'query' event with the studies found.
 */
export class FindService {
  constructor(
    private readonly dependencies: {
      queries: QueryRepository;
      /** The same scopes DICOMweb's visibility is computed from. */
      scopes: Pick<InstitutionScopeCache, 'of'>;
      audit: Pick<AuditLog, 'recordInBackground'>;
      /** Ours: the Retrieve AE Title each match names. */
      aeTitle: string;
    },
  ) {}

  async find(query: FindQuery, caller: FindCaller, signal: AbortSignal, respond: (response: DicomJsonDataset) => Promise<void>): Promise<FindOutcome> {
    const audited: DicomJsonDataset[] = [];
    const outcome: FindOutcome = { matches: 0, cancelled: false };
    let failed = false;
    try {
      const visibility = await this.visibilityOf(caller);
      if (!visibility) return outcome;
      for await (const match of this.matches(query, visibility)) {
        if (signal.aborted) {
          outcome.cancelled = true;
          break;
        }
        const response = responseIdentifier(query, match, this.dependencies.aeTitle);
        if (audited.length < AUDITED_MATCHES) audited.push(match);
        outcome.matches++;
        await respond(response);
        // Responses that fit the socket's buffer are written without a turn of the event loop, in
        // which nothing is read from the peer: a C-CANCEL would wait for the whole page.
        if (outcome.matches % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      if (signal.aborted) outcome.cancelled = true;
      return outcome;
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      const { studyUids, patientId, patientName } = auditedResults(audited);
      this.dependencies.audit.recordInBackground({
        eventType: 'query',
        action: 'E',
        outcome: failed ? 8 : 0,
        userName: caller.callingAeTitle,
        institutionId: caller.institutionId,
        sourceAddress: caller.remoteAddress,
        studyUids,
        ...(patientId ? { patientId } : {}),
        ...(patientName ? { patientName } : {}),
        detail: {
          via: 'dimse',
          service: 'C-FIND',
          model: query.model,
          level: query.level,
          keys: Object.keys(query.keys).map((tag) => keywordOf(tag) ?? tag),
          matches: outcome.matches,
          ...(outcome.cancelled ? { cancelled: true } : {}),
          ...(caller.quarantined ? { quarantined: true } : {}),
        },
      });
    }
  }

  /** The peer's institution's scope; null for an unregistered peer, which finds nothing. */
  private async visibilityOf(caller: FindCaller): Promise<Visibility | null> {
    if (caller.quarantined) return null;
    const scope = await this.dependencies.scopes.of(caller.institutionId);
    return peerVisibility(caller, { ownInstitutionKind: scope.kind, regionInstitutionIds: scope.regionInstitutionIds });
  }

  /** Every match, page after page, as the attributes a response may pick from. */
  private async *matches(query: FindQuery, visibility: Visibility): AsyncGenerator<DicomJsonDataset> {
    const { queries } = this.dependencies;
    const keys = new Set(Object.keys(query.keys));
    for (let offset = 0, limit = FIRST_PAGE; ; offset += limit, limit = Math.min(2 * limit, LARGEST_PAGE)) {
      const page: QidoQuery = {
        level: query.indexLevel === 'patient' ? 'study' : query.indexLevel,
        scope: {},
        conditions: query.conditions,
        limit,
        offset,
        fuzzyMatching: false,
        include: keys,
        notMatched: [],
        orderBy: [],
      };
      let found: MatchPage<DicomJsonDataset>;
      switch (query.indexLevel) {
        case 'patient': {
          const patients = await queries.patientPage(page, visibility);
          found = {
            more: patients.more,
            rows: patients.rows.map((row) => ({
              ...row.patientAttributes,
              '00201200': { vr: 'IS', Value: [row.numberOfStudies] },
              '00201202': { vr: 'IS', Value: [row.numberOfSeries] },
              '00201204': { vr: 'IS', Value: [row.numberOfInstances] },
            })),
          };
          break;
        }
        case 'study': {
          const studies = await queries.studyPage(page, visibility);
          found = { more: studies.more, rows: studies.rows.map(studyMatch) };
          break;
        }
        case 'series': {
          const series = await queries.seriesPage(page, visibility);
          found = { more: series.more, rows: series.rows.map(seriesMatch) };
          break;
        }
        case 'instance': {
          const instances = await queries.instancePage(page, visibility, { metadataTags: metadataTagsToRead('instance', keys) });
          found = { more: instances.more, rows: instances.rows.map(instanceMatch) };
          break;
        }
      }
      yield* found.rows;
      if (!found.more) return;
    }
  }
}
