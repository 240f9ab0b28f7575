import { PduError } from './pdu.ts';

/**
 * DIMSE command sets (PS3.7 6.3, Annex E): group 0000 elements, always Implicit VR Little Endian.
 * An acceptor reads a handful of fields and writes a handful more, so this is a small codec of its
 * own rather than a general dataset parser.
 */

export const COMMAND = {
  affectedSopClassUid: 0x00000002,
  requestedSopClassUid: 0x00000003,
  commandField: 0x00000100,
  messageId: 0x00000110,
  messageIdBeingRespondedTo: 0x00000120,
  moveDestination: 0x00000600,
  priority: 0x00000700,
  commandDataSetType: 0x00000800,
  status: 0x00000900,
  offendingElement: 0x00000901,
  errorComment: 0x00000902,
  affectedSopInstanceUid: 0x00001000,
  requestedSopInstanceUid: 0x00001001,
  eventTypeId: 0x00001002,
  actionTypeId: 0x00001008,
  numberOfRemainingSuboperations: 0x00001020,
  numberOfCompletedSuboperations: 0x00001021,
  numberOfFailedSuboperations: 0x00001022,
  numberOfWarningSuboperations: 0x00001023,
  moveOriginatorApplicationEntityTitle: 0x00001030,
  moveOriginatorMessageId: 0x00001031,
} as const;

/** Command Field (0000,0100) values of requests (PS3.7 E.1); a response's is the request's with bit 15 set. */
export const COMMAND_FIELD = {
  cStoreRq: 0x0001,
  cGetRq: 0x0010,
  cFindRq: 0x0020,
  cMoveRq: 0x0021,
  cEchoRq: 0x0030,
  nEventReportRq: 0x0100,
  nActionRq: 0x0130,
  cCancelRq: 0x0fff,
} as const;

/** Command Data Set Type (0000,0800) when no dataset follows the command. */
export const NO_DATASET = 0x0101;
/** Command Data Set Type when a dataset follows: any other value; this is the one DCMTK and most peers send. */
export const DATASET_PRESENT = 0x0000;

/** Status 0211H, Unrecognized Operation (PS3.7 Annex C.5.14). */
export const UNRECOGNIZED_OPERATION = 0x0211;

/** Status 0122H, SOP Class Not Supported (PS3.7 Annex C.5.7). */
export const SOP_CLASS_NOT_SUPPORTED = 0x0122;

/** A received command set: each element's value bytes by tag. */
export class CommandSet {
  private constructor(private readonly elements: Map<number, Buffer>) {}

  static parse(bytes: Buffer): CommandSet {
    const elements = new Map<number, Buffer>();
    let offset = 0;
    while (offset < bytes.length) {
      if (offset + 8 > bytes.length) throw new PduError('command set ends inside an element header');
      const tag = ((bytes.readUInt16LE(offset) << 16) | bytes.readUInt16LE(offset + 2)) >>> 0;
      const length = bytes.readUInt32LE(offset + 4);
      if (tag >>> 16 !== 0) throw new PduError(`command set holds element (${hex(tag >>> 16)},${hex(tag & 0xffff)}) outside group 0000`);
      if (offset + 8 + length > bytes.length) throw new PduError(`command element (0000,${hex(tag & 0xffff)}) claims ${length} bytes beyond the command set`);
      elements.set(tag, bytes.subarray(offset + 8, offset + 8 + length));
      offset += 8 + length;
    }
    const command = new CommandSet(elements);
    for (const required of [COMMAND.commandField, COMMAND.commandDataSetType]) {
      if (command.number(required) === undefined) throw new PduError(`command set lacks (0000,${hex(required & 0xffff)})`);
    }
    return command;
  }

  /** US values: Command Field, Message ID, Command Data Set Type, Priority. */
  number(tag: number): number | undefined {
    const value = this.elements.get(tag);
    return value && value.length >= 2 ? value.readUInt16LE(0) : undefined;
  }

  /** UI values, their trailing NUL padding removed. */
  uid(tag: number): string | undefined {
    const value = this.elements.get(tag);
    return value === undefined ? undefined : value.toString('latin1').replace(/[\0 ]+$/, '');
  }

  /** AE and LO values, without the leading and trailing spaces that are not significant in them. */
  text(tag: number): string | undefined {
    const value = this.elements.get(tag);
    return value === undefined ? undefined : value.toString('latin1').replace(/\0+$/, '').trim();
  }

  /** The SOP class a request is about: Affected (C-*, N-EVENT-REPORT, N-CREATE) or Requested (N-ACTION, N-GET, N-SET…). */
  get sopClassUid(): string | undefined {
    return this.uid(COMMAND.affectedSopClassUid) ?? this.uid(COMMAND.requestedSopClassUid);
  }

  get commandField(): number {
    return this.number(COMMAND.commandField)!;
  }

  get hasDataset(): boolean {
    return this.number(COMMAND.commandDataSetType) !== NO_DATASET;
  }
}

/** A command element's value by VR: UI (NUL-padded), US, LO or AE (space-padded), and AT (tags as 'ggggeeee'). */
export type CommandValue = { uid: string } | { us: number } | { lo: string } | { ae: string } | { at: readonly string[] };
type Value = CommandValue;

/**
 * Encodes a response command set: the elements in ascending tag order, each value padded to even
 * length (UI with NUL, LO with space), preceded by Command Group Length.
 */
export function encodeCommandSet(elements: ReadonlyArray<readonly [number, Value]>): Buffer {
  const encoded = [...elements]
    .sort(([a], [b]) => a - b)
    .map(([tag, value]) => {
      let bytes: Buffer;
      if ('us' in value) {
        bytes = Buffer.alloc(2);
        bytes.writeUInt16LE(value.us, 0);
      } else if ('at' in value) {
        // Each tag as two little-endian 16-bit numbers, group then element (PS3.5 6.2, AT).
        bytes = Buffer.alloc(4 * value.at.length);
        value.at.forEach((tag, index) => {
          bytes.writeUInt16LE(Number.parseInt(tag.slice(0, 4), 16), index * 4);
          bytes.writeUInt16LE(Number.parseInt(tag.slice(4), 16), index * 4 + 2);
        });
      } else if ('uid' in value) bytes = pad(Buffer.from(value.uid, 'latin1'), 0x00);
      else bytes = pad(Buffer.from('lo' in value ? value.lo : value.ae, 'latin1'), 0x20);
      return element(tag, bytes);
    });
  const length = Buffer.alloc(4);
  length.writeUInt32LE(encoded.reduce((sum, bytes) => sum + bytes.length, 0), 0);
  return Buffer.concat([element(0x00000000, length), ...encoded]);
}

/**
 * The response to a request: Affected SOP Class/Instance UIDs echoed (from the Requested ones for an
 * N-ACTION), the message it answers, the status with its Error Comment (an LO: 64 characters at most),
 * whether a dataset follows, and any elements the service adds.
 */
export function responseTo(
  request: CommandSet,
  responseField: number,
  status: number,
  options: { errorComment?: string; hasDataset?: boolean; elements?: ReadonlyArray<readonly [number, Value]> } = {},
): Buffer {
  const elements: Array<readonly [number, Value]> = [
    [COMMAND.commandField, { us: responseField }],
    [COMMAND.messageIdBeingRespondedTo, { us: request.number(COMMAND.messageId) ?? 0 }],
    [COMMAND.commandDataSetType, { us: options.hasDataset ? DATASET_PRESENT : NO_DATASET }],
    [COMMAND.status, { us: status }],
    ...(options.elements ?? []),
  ];
  const sopClassUid = request.sopClassUid;
  if (sopClassUid !== undefined) elements.push([COMMAND.affectedSopClassUid, { uid: sopClassUid }]);
  const sopInstanceUid = request.uid(COMMAND.affectedSopInstanceUid) ?? request.uid(COMMAND.requestedSopInstanceUid);
  if (sopInstanceUid !== undefined) elements.push([COMMAND.affectedSopInstanceUid, { uid: sopInstanceUid }]);
  if (options.errorComment) elements.push([COMMAND.errorComment, { lo: options.errorComment.replace(/[^\x20-\x7e]/g, '?').slice(0, 64) }]);
  return encodeCommandSet(elements);
}

function element(tag: number, value: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(tag >>> 16, 0);
  header.writeUInt16LE(tag & 0xffff, 2);
  header.writeUInt32LE(value.length, 4);
  return Buffer.concat([header, value]);
}

function pad(bytes: Buffer, filler: number): Buffer {
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.from([filler])]);
}

function hex(value: number): string {
  return value.toString(16).padStart(4, '0').toUpperCase();
}
