import type { Logger } from '../../archive/log.ts';
import {
  ACTION_STATUS,
  checkActionInformation,
  eventTypeOf,
  REQUEST_STORAGE_COMMITMENT,
  STORAGE_COMMITMENT_SOP_CLASS,
  STORAGE_COMMITMENT_SOP_INSTANCE,
  type CommitmentReport,
} from '../../archive/storage-commitment/commitment.ts';
import type { NewAssociationDelivery, StorageCommitmentService } from '../../archive/storage-commitment/storage-commitment-service.ts';
import { COMMAND, COMMAND_FIELD } from './command-set.ts';
import { sendEventReport } from './event-report-scu.ts';
import dimse from './library.ts';
import { LITTLE_ENDIAN_TRANSFER_SYNTAXES, type AcceptedContext, type DimseService, type OperationChannel } from './service.ts';

/** How long the N-ACTION's association gets to answer the report before it goes on a new one. */
const SAME_ASSOCIATION_TIMEOUT_MS = 30_000;

/** The N-EVENT-REPORT's Event Information (PS3.4 Table J.3-2) in a transfer syntax. */
export function encodeReport(report: CommitmentReport, transferSyntaxUid: string): Buffer {
  const item = ({ sopClassUid, sopInstanceUid }: { sopClassUid: string; sopInstanceUid: string }) => ({ ReferencedSOPClassUID: sopClassUid, ReferencedSOPInstanceUID: sopInstanceUid });
  const elements: Record<string, unknown> = { TransactionUID: report.transactionUid };
  if (report.committed.length > 0) elements.ReferencedSOPSequence = report.committed.map(item);
  if (report.failed.length > 0) elements.FailedSOPSequence = report.failed.map((failed) => ({ ...item(failed), FailureReason: failed.failureReason }));
  return new dimse.Dataset(elements, transferSyntaxUid).getDenaturalizedDataset();
}

/** The report on an association Yingyun opens to the requestor, calling as `aeTitle`. */
export function deliverReportAs(aeTitle: string): NewAssociationDelivery {
  return (destination, report) =>
    sendEventReport(destination, aeTitle, {
      sopClassUid: STORAGE_COMMITMENT_SOP_CLASS,
      sopInstanceUid: STORAGE_COMMITMENT_SOP_INSTANCE,
      eventTypeId: eventTypeOf(report),
      dataset: (transferSyntaxUid) => encodeReport(report, transferSyntaxUid),
    });
}

/** The report on the N-ACTION's own association: resolves once the requestor answered Success. */
async function reportOnAssociation(channel: OperationChannel, context: AcceptedContext, report: CommitmentReport): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no N-EVENT-REPORT-RSP within ${SAME_ASSOCIATION_TIMEOUT_MS / 1000} s`)), SAME_ASSOCIATION_TIMEOUT_MS);
  });
  try {
    const response = await Promise.race([
      channel.request(
        context.id,
        [
          [COMMAND.affectedSopClassUid, { uid: STORAGE_COMMITMENT_SOP_CLASS }],
          [COMMAND.commandField, { us: COMMAND_FIELD.nEventReportRq }],
          [COMMAND.affectedSopInstanceUid, { uid: STORAGE_COMMITMENT_SOP_INSTANCE }],
          [COMMAND.eventTypeId, { us: eventTypeOf(report) }],
        ],
        encodeReport(report, context.transferSyntaxUid),
      ),
      timeout,
    ]);
    const status = response.number(COMMAND.status);
    if (status !== 0x0000) throw new Error(`the requestor answered the N-EVENT-REPORT with status 0x${(status ?? 0xffff).toString(16).padStart(4, '0')}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Storage Commitment Push Model SCP (PS3.4 Annex J): the N-ACTION is checked and recorded, answered
 * at once, and its report follows from archive/storage-commitment once the instances are verified.
 * The report goes on this same association when the requestor still holds it open (as DCMTK-style
 * SCUs wait for it), otherwise on one Yingyun opens to the requestor.
 */
export function storageCommitmentScp(commitment: StorageCommitmentService, log: Logger): DimseService {
  return {
    name: 'storage commitment',
    transferSyntaxesFor: (abstractSyntaxUid) => (abstractSyntaxUid === STORAGE_COMMITMENT_SOP_CLASS ? LITTLE_ENDIAN_TRANSFER_SYNTAXES : undefined),
    handles: (commandField) => commandField === COMMAND_FIELD.nActionRq,
    async handle({ command, context, dataset }, channel, caller) {
      const refuse = (status: number, errorComment: string) => {
        log.warn({ callingAeTitle: caller.callingAeTitle, status, errorComment }, 'storage commitment request refused');
        return channel.respond(status, { errorComment });
      };
      if (command.uid(COMMAND.requestedSopInstanceUid) !== STORAGE_COMMITMENT_SOP_INSTANCE) return refuse(ACTION_STATUS.noSuchSopInstance, `Requested SOP Instance is not ${STORAGE_COMMITMENT_SOP_INSTANCE}`);
      if (command.number(COMMAND.actionTypeId) !== REQUEST_STORAGE_COMMITMENT) return refuse(ACTION_STATUS.noSuchAction, 'Action Type ID is not 1 (Request Storage Commitment)');
      // A peer the registry does not know sends into quarantine, and no one can be answerable to it for those instances.
      if (caller.quarantined) return refuse(ACTION_STATUS.notAuthorised, 'unregistered peer: storage commitment is for registered peers');
      let elements: Record<string, unknown> | undefined;
      if (dataset) {
        try {
          elements = new dimse.Dataset(dataset, context.transferSyntaxUid).getElements();
        } catch {
          return refuse(ACTION_STATUS.invalidArgumentValue, 'Action Information is not a readable dataset');
        }
      }
      const check = checkActionInformation(elements);
      if (!check.ok) return refuse(check.status, check.errorComment);
      const request = await commitment.accept(caller, check);
      await channel.respond(ACTION_STATUS.success, { elements: [[COMMAND.actionTypeId, { us: REQUEST_STORAGE_COMMITMENT }]] });
      // Not awaited: the operation ends with its response, so a requestor that releases now is
      // answered at once, and the report finds its way on its own. Should even recording an attempt
      // fail (the database gone), the request stays owed in PostgreSQL and the reconciler retries it.
      void commitment
        .report(request, (report) => reportOnAssociation(channel, context, report))
        .catch((error: unknown) => log.error({ err: error, requestId: request.id }, 'storage commitment report not sent: left to the reconciler'));
    },
  };
}
