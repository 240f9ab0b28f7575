import { COMMAND, COMMAND_FIELD } from './command-set.ts';
import { RequestorAssociation } from './requestor-association.ts';
import { LITTLE_ENDIAN_TRANSFER_SYNTAXES } from './service.ts';

/** One N-EVENT-REPORT to send as association requestor. */
export interface EventReport {
  sopClassUid: string;
  sopInstanceUid: string;
  eventTypeId: number;
  /** The Event Information, encoded in the transfer syntax the acceptor chose. */
  dataset(transferSyntaxUid: string): Buffer;
}

export interface EventReportDestination {
  aeTitle: string;
  host: string;
  port: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const CONTEXT_ID = 1;

/**
 * Opens an association to `destination` proposing the report's SOP class with SCP/SCU Role
 * Selection SCU-role 0, SCP-role 1 — we are the SCP of that SOP class sending an N-EVENT-REPORT as
 * requestor (PS3.4 J.3.3, PS3.7 D.3.3.4) — sends the report, reads the N-EVENT-REPORT-RSP and
 * releases. Resolves when the peer answered Success, whatever becomes of the release; rejects with
 * why otherwise.
 */
export async function sendEventReport(destination: EventReportDestination, callingAeTitle: string, report: EventReport, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
  const where = `${destination.aeTitle} at ${destination.host}:${destination.port}`;
  const association = await RequestorAssociation.open(destination, callingAeTitle, {
    contexts: [{ id: CONTEXT_ID, abstractSyntaxUid: report.sopClassUid, transferSyntaxUids: [...LITTLE_ENDIAN_TRANSFER_SYNTAXES] }],
    roleSelections: new Map([[report.sopClassUid, { scu: false, scp: true }]]),
    associationTimeoutMs: timeoutMs,
    idleTimeoutMs: timeoutMs,
  });
  const context = association.acceptedContext(CONTEXT_ID);
  if (!context) {
    association.abort('refused');
    throw new Error(`${where}: the peer did not accept SOP class ${report.sopClassUid}`);
  }
  // PS3.7 D.3.3.4: without its agreement to our SCP role we may not send the report on this association.
  if (!association.accept.roleSelections.get(report.sopClassUid)?.scp) {
    association.abort('refused');
    throw new Error(`${where}: the peer did not accept us in the SCP role of ${report.sopClassUid} (SCP/SCU role selection)`);
  }
  const response = await association.request(
    CONTEXT_ID,
    [
      [COMMAND.affectedSopClassUid, { uid: report.sopClassUid }],
      [COMMAND.commandField, { us: COMMAND_FIELD.nEventReportRq }],
      [COMMAND.affectedSopInstanceUid, { uid: report.sopInstanceUid }],
      [COMMAND.eventTypeId, { us: report.eventTypeId }],
    ],
    report.dataset(context.transferSyntaxUid),
  );
  if (response.commandField !== (COMMAND_FIELD.nEventReportRq | 0x8000)) {
    association.abort('unexpected response');
    throw new Error(`${where}: answered command 0x${response.commandField.toString(16)} instead of the N-EVENT-REPORT-RSP`);
  }
  const status = response.number(COMMAND.status);
  if (status !== 0x0000) {
    association.abort('report refused');
    const comment = response.text(COMMAND.errorComment);
    throw new Error(`${where}: answered the N-EVENT-REPORT with status 0x${(status ?? 0xffff).toString(16).padStart(4, '0')}${comment ? ` (${comment})` : ''}`);
  }
  await association.release();
}
