import { CommandSet, responseTo } from '../../gateway/dimse/command-set.ts';
import { parseAssociateAccept, parseAssociateRequest, PDU_TYPE, PduError, presentationDataValues } from '../../gateway/dimse/pdu.ts';
import { PduReader } from '../../gateway/dimse/pdu-reader.ts';
import { tokens, type FuzzTarget } from '../target.ts';
import { realPduStreams } from './pdu-seeds.ts';

/**
 * The DICOM Upper Layer reader as an association reads a socket: the byte stream cut into PDUs by
 * PduReader (in the chunks the first byte chooses, as TCP may deliver them), each PDU parsed as the
 * acceptor or the requestor would (A-ASSOCIATE-RQ/AC, P-DATA-TF's PDVs) and each command fragment
 * read as a DIMSE command set and answered. A PduError is the clear refusal (the association is
 * aborted or rejected with its reason); anything else is a crash.
 */

/** What the gateway announces by default (YINGYUN_MAX_PDU_LENGTH). */
const MAX_PDU_LENGTH = 262_144;

export const target: FuzzTarget = {
  name: 'pdu',
  coverage: /\/gateway\/dimse\/(pdu|pdu-reader|command-set)\.ts/,
  seeds: realPduStreams,
  dictionary: tokens(
    [0x01, 0x00],
    [0x04, 0x00],
    [0x05, 0x00, 0x00, 0x00, 0x00, 0x04],
    [0x07, 0x00],
    [0x10, 0x00],
    [0x20, 0x00],
    [0x21, 0x00],
    [0x30, 0x00],
    [0x40, 0x00],
    [0x50, 0x00],
    [0x51, 0x00, 0x00, 0x04],
    [0x52, 0x00],
    [0x54, 0x00],
    [0x55, 0x00],
    [0x56, 0x00],
    [0x58, 0x00],
    [0x00, 0x00, 0x00, 0x01],
    [0x00, 0x00, 0x00, 0x08],
    [0x00, 0x00, 0x02, 0x00],
    [0x00, 0x00, 0x10, 0x01],
    '1.2.840.10008.3.1.1.1',
    '1.2.840.10008.1.1',
    '1.2.840.10008.1.2',
    '1.2.840.10008.5.1.4.1.2.1.1',
    '1.2.840.10008.5.1.4.1.2.2.2',
    '1.2.840.10008.5.1.4.1.1.2',
    'YINGYUN         ',
  ),
  maxLength: 64 * 1024,
  run(input) {
    const reader = new PduReader(MAX_PDU_LENGTH);
    const chunk = input.length > 0 ? 1 + (input[0]! % 64) * 16 : 1;
    for (let offset = 1; offset < input.length; offset += chunk) {
      for (const pdu of reader.push(input.subarray(offset, offset + chunk))) {
        if (pdu.type === PDU_TYPE.associateRq) parseAssociateRequest(pdu.body);
        else if (pdu.type === PDU_TYPE.associateAc) parseAssociateAccept(pdu.body);
        else if (pdu.type === PDU_TYPE.pData) {
          for (const pdv of presentationDataValues(pdu.body)) {
            if ((pdv.control & 0x01) === 0) continue;
            const command = CommandSet.parse(pdv.fragment);
            responseTo(command, command.commandField | 0x8000, 0x0000, { errorComment: command.text(0x0902) ?? '', hasDataset: command.hasDataset });
          }
        }
      }
    }
  },
  expected: (error) => error instanceof PduError,
};
