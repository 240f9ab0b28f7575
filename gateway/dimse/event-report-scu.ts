import net from 'node:net';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../../archive/dicom/part10.ts';
import { COMMAND, CommandSet, COMMAND_FIELD, DATASET_PRESENT, encodeCommandSet } from './command-set.ts';
import { PduReader, type Pdu } from './pdu-reader.ts';
import { buildAbort, buildAssociateRequest, buildPData, buildReleaseRequest, ABORT_REASON, ABORT_SOURCE, CONTEXT_RESULT, parseAssociateAccept, PDU_TYPE } from './pdu.ts';
import { LITTLE_ENDIAN_TRANSFER_SYNTAXES } from './service.ts';
import { describeRejection } from './store-scu.ts';

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

/** The largest PDU we take from the acceptor: only its A-ASSOCIATE-AC and a response command come back. */
const OUR_MAX_PDU_LENGTH = 64 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;
const CONTEXT_ID = 1;

/**
 * Opens an association to `destination` proposing the report's SOP class with SCP/SCU Role
 * Selection SCU-role 0, SCP-role 1 — we are the SCP of that SOP class sending an N-EVENT-REPORT as
 * requestor (PS3.4 J.3.3, PS3.7 D.3.3.4) — sends the report, reads the N-EVENT-REPORT-RSP and
 * releases. Resolves when the peer answered Success; rejects with why otherwise.
 *
 * Written here rather than taken from dcmjs-dimse: its Client proposes role selection only from
 * the presentation contexts it builds itself, which never carry roles.
 */
export function sendEventReport(destination: EventReportDestination, callingAeTitle: string, report: EventReport, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: destination.host, port: destination.port });
    socket.setNoDelay(true);
    const reader = new PduReader(OUR_MAX_PDU_LENGTH);
    let phase: 'associating' | 'awaiting-response' | 'releasing' | 'done' = 'associating';
    let commandFragments: Buffer[] = [];
    let failure: Error | undefined;
    /** The peer answered Success: the report is delivered, whatever becomes of the release. */
    let delivered = false;
    const where = `${destination.aeTitle} at ${destination.host}:${destination.port}`;

    const fail = (why: string, abort = false) => {
      if (phase === 'done') return;
      if (delivered) {
        phase = 'done';
        socket.destroy();
        return;
      }
      phase = 'done';
      failure = new Error(`${where}: ${why}`);
      if (abort) socket.end(buildAbort(ABORT_SOURCE.serviceUser, ABORT_REASON.notSpecified));
      else socket.destroy();
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer for ${timeoutMs / 1000} s`, true));
    socket.once('error', (error) => fail(error.message));
    socket.once('close', () => {
      if (phase !== 'done') fail('the connection closed before the report was answered');
      if (failure) reject(failure);
      else resolve();
    });
    socket.once('connect', () => {
      socket.write(
        buildAssociateRequest({
          calledAeTitle: destination.aeTitle,
          callingAeTitle,
          contexts: [{ id: CONTEXT_ID, abstractSyntaxUid: report.sopClassUid, transferSyntaxUids: [...LITTLE_ENDIAN_TRANSFER_SYNTAXES] }],
          roleSelections: new Map([[report.sopClassUid, { scu: false, scp: true }]]),
          maxPduLength: OUR_MAX_PDU_LENGTH,
          implementationClassUid: IMPLEMENTATION_CLASS_UID,
          implementationVersionName: IMPLEMENTATION_VERSION_NAME,
        }),
      );
    });
    socket.on('data', (chunk: Buffer) => {
      let pdus: Pdu[];
      try {
        pdus = reader.push(chunk);
      } catch (error) {
        fail((error as Error).message, true);
        return;
      }
      for (const pdu of pdus) {
        if (phase === 'done') return;
        try {
          received(pdu);
        } catch (error) {
          fail((error as Error).message, true);
        }
      }
    });

    function received({ type, body }: Pdu): void {
      if (type === PDU_TYPE.abort) return fail(`the peer aborted the association (source ${body[2]}, reason ${body[3]})`);
      if (phase === 'associating') {
        if (type === PDU_TYPE.associateRj) return fail(`the peer rejected the association: ${describeRejection({ result: body[1]!, source: body[2]!, reason: body[3]! })}`);
        if (type !== PDU_TYPE.associateAc) return fail(`PDU type 0x${type.toString(16)} instead of an A-ASSOCIATE-AC`, true);
        const accept = parseAssociateAccept(body);
        const context = accept.contexts.find((answer) => answer.id === CONTEXT_ID);
        if (!context || context.result !== CONTEXT_RESULT.acceptance) return fail(`the peer did not accept SOP class ${report.sopClassUid}`, true);
        // PS3.7 D.3.3.4: without its agreement to our SCP role we may not send the report on this association.
        const role = accept.roleSelections.get(report.sopClassUid);
        if (!role?.scp) return fail(`the peer did not accept us in the SCP role of ${report.sopClassUid} (SCP/SCU role selection)`, true);
        phase = 'awaiting-response';
        const command = encodeCommandSet([
          [COMMAND.affectedSopClassUid, { uid: report.sopClassUid }],
          [COMMAND.commandField, { us: COMMAND_FIELD.nEventReportRq }],
          [COMMAND.messageId, { us: 1 }],
          [COMMAND.commandDataSetType, { us: DATASET_PRESENT }],
          [COMMAND.affectedSopInstanceUid, { uid: report.sopInstanceUid }],
          [COMMAND.eventTypeId, { us: report.eventTypeId }],
        ]);
        for (const pdu of [...buildPData(CONTEXT_ID, command, accept.maxPduLength), ...buildPData(CONTEXT_ID, report.dataset(context.transferSyntaxUid), accept.maxPduLength, 'dataset')]) socket.write(pdu);
        return;
      }
      if (phase === 'awaiting-response') {
        if (type !== PDU_TYPE.pData) return fail(`PDU type 0x${type.toString(16)} while awaiting the N-EVENT-REPORT-RSP`, true);
        for (const { control, fragment } of presentationDataValues(body)) {
          // A dataset with the response (none is defined for it) is read and ignored.
          if (!(control & 0x01)) continue;
          commandFragments.push(fragment);
          if (!(control & 0x02)) continue;
          const response = CommandSet.parse(Buffer.concat(commandFragments));
          commandFragments = [];
          if (response.commandField !== (COMMAND_FIELD.nEventReportRq | 0x8000) || response.number(COMMAND.messageIdBeingRespondedTo) !== 1) {
            return fail(`answered command 0x${response.commandField.toString(16)} instead of the N-EVENT-REPORT-RSP`, true);
          }
          const status = response.number(COMMAND.status);
          if (status !== 0x0000) {
            const comment = response.text(COMMAND.errorComment);
            return fail(`answered the N-EVENT-REPORT with status 0x${(status ?? 0xffff).toString(16).padStart(4, '0')}${comment ? ` (${comment})` : ''}`, true);
          }
          delivered = true;
          phase = 'releasing';
          socket.write(buildReleaseRequest());
        }
        return;
      }
      if (phase === 'releasing' && type === PDU_TYPE.releaseRp) {
        phase = 'done';
        socket.end();
      }
    }
  });
}

function* presentationDataValues(body: Buffer): Generator<{ control: number; fragment: Buffer }> {
  let offset = 0;
  while (offset + 6 <= body.length) {
    const itemLength = body.readUInt32BE(offset);
    if (itemLength < 2 || offset + 4 + itemLength > body.length) throw new Error(`PDV item length ${itemLength} does not fit its P-DATA-TF`);
    yield { control: body[offset + 5]!, fragment: body.subarray(offset + 6, offset + 4 + itemLength) };
    offset += 4 + itemLength;
  }
}
