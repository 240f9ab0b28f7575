import { InstitutionScopeCache } from '../../archive/access/institution-scope.ts';
import { QueryRepository } from '../../archive/db/query-repository.ts';
import { decodeDataset } from '../../archive/dicom/dataset-codec.ts';
import type { DicomJsonDataset } from '../../archive/dicom/types.ts';
import type { Logger } from '../../archive/log.ts';
import { encodeResponse, FindRefusal, informationModelOf, readIdentifier, type FindQuery } from '../../archive/query-retrieve/find-query.ts';
import { FindService } from '../../archive/query-retrieve/find-service.ts';
import type { Runtime } from '../../workers/runtime.ts';
import { COMMAND, COMMAND_FIELD, type CommandValue } from './command-set.ts';
import { LITTLE_ENDIAN_TRANSFER_SYNTAXES, type AssociationCaller, type DimseOperation, type DimseService, type OperationChannel } from './service.ts';

/** C-FIND statuses (PS3.4 C.4.1.1.4, Table C.4-1). */
const FIND_STATUS = {
  success: 0x0000,
  pending: 0xff00,
  /** Pending, with a warning: one or more optional keys were not supported for matching. */
  pendingOptionalKeysNotSupported: 0xff01,
  cancel: 0xfe00,
  outOfResources: 0xa700,
  identifierDoesNotMatchSopClass: 0xa900,
  unableToProcess: 0xc000,
} as const;

/**
 * The C-FIND SCP for the Patient Root and Study Root Query/Retrieve Information Models – FIND:
 * reads the identifier (archive/dicom/dataset-codec.ts), has archive/query-retrieve find the
 * matches, and answers each with a pending response in the character set the query was in, then
 * the final one. A C-CANCEL stops it between two matches with Cancel (FE00).
 */
export class FindScp implements DimseService {
  readonly name = 'C-FIND';

  constructor(
    private readonly finder: FindService,
    private readonly log: Logger,
  ) {}

  transferSyntaxesFor(abstractSyntaxUid: string): readonly string[] | undefined {
    return informationModelOf(abstractSyntaxUid) ? LITTLE_ENDIAN_TRANSFER_SYNTAXES : undefined;
  }

  /**
   * PS3.4 C.5.1.1.1 (Table C.5-1): byte 1, relational queries, is supported — every identifier is
   * read relationally, a hierarchical one meaning the same either way; combined date-time
   * matching, fuzzy semantic matching of person names and timezone adjustment (bytes 2–4) are not.
   */
  extendedNegotiation(_abstractSyntaxUid: string, proposed: Buffer): Buffer {
    const answer = Buffer.alloc(Math.max(1, proposed.length));
    answer[0] = proposed[0] === 1 ? 1 : 0;
    return answer;
  }

  handles(commandField: number): boolean {
    return commandField === COMMAND_FIELD.cFindRq;
  }

  async handle(operation: DimseOperation, channel: OperationChannel, caller: AssociationCaller): Promise<void> {
    const { context } = operation;
    let query: FindQuery;
    try {
      if (!operation.dataset) throw new FindRefusal('identifier-does-not-match-sop-class', 'C-FIND-RQ without an identifier');
      const identifier: DicomJsonDataset = decodeDataset(operation.dataset, context.transferSyntaxUid, caller.characterSetOverride);
      query = readIdentifier(identifier, informationModelOf(context.abstractSyntaxUid)!, caller.characterSetOverride);
    } catch (error) {
      const refusal = error instanceof FindRefusal ? error : new FindRefusal('unable-to-process', error instanceof Error ? error.message : String(error));
      this.log.info({ callingAeTitle: caller.callingAeTitle, reason: refusal.message }, 'C-FIND refused');
      const status = refusal.status === 'identifier-does-not-match-sop-class' ? FIND_STATUS.identifierDoesNotMatchSopClass : FIND_STATUS.unableToProcess;
      await channel.respond(status, { errorComment: refusal.message, ...offendingElement(refusal.offendingTags) });
      return;
    }
    const pending = query.notMatched.length > 0 ? FIND_STATUS.pendingOptionalKeysNotSupported : FIND_STATUS.pending;
    let outcome;
    try {
      outcome = await this.finder.find(query, caller, channel.signal, (response) =>
        channel.respond(pending, { dataset: encodeResponse(response, query.characterSet, context.transferSyntaxUid) }),
      );
    } catch (error) {
      // Our trouble (the database, a bug) stays in our log; the peer hears that it may retry.
      this.log.error({ err: error, callingAeTitle: caller.callingAeTitle, level: query.level }, 'C-FIND failed');
      await channel.respond(FIND_STATUS.outOfResources, { errorComment: 'archive temporarily unable to answer; retry later' });
      return;
    }
    await channel.respond(outcome.cancelled ? FIND_STATUS.cancel : FIND_STATUS.success);
  }
}

/** Offending Element (0000,0901): the keys a refusal is about. */
function offendingElement(tags: readonly string[]): { elements?: ReadonlyArray<readonly [number, CommandValue]> } {
  return tags.length === 0 ? {} : { elements: [[COMMAND.offendingElement, { at: tags }]] };
}

/** The C-FIND SCP on the runtime's services, built once at start-up. */
export function findScp(runtime: Runtime): FindScp {
  const finder = new FindService({
    queries: new QueryRepository(runtime.db.pool),
    scopes: new InstitutionScopeCache(runtime.institutions),
    audit: runtime.audit,
    aeTitle: runtime.config.dicom.aeTitle,
  });
  return new FindScp(finder, runtime.log);
}
