import dcmjs from 'dcmjs';

/** Studies for the report suites (test/reports.test.ts, test/report-editor.test.ts), written with dcmjs. */

let uidCounter = 0;
let accessionCounter = 0;
export const newUid = () => `2.25.${Date.now()}${process.pid}${++uidCounter}`;

/** A small chest CT image of a QINGSHI patient with a Chinese name, in the study given. */
export function studyInstance(studyInstanceUid: string): Buffer {
  const sopInstanceUid = newUid();
  const dictionary = new dcmjs.data.DicomDict({
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] },
    '00020003': { vr: 'UI', Value: [sopInstanceUid] },
    '00020010': { vr: 'UI', Value: ['1.2.840.10008.1.2.1'] },
  });
  dictionary.dict = {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] },
    '00080018': { vr: 'UI', Value: [sopInstanceUid] },
    '00080020': { vr: 'DA', Value: ['20261205'] },
    '00080030': { vr: 'TM', Value: ['093000'] },
    '00080050': { vr: 'SH', Value: [`ACC${++accessionCounter}`] },
    '00080060': { vr: 'CS', Value: ['CT'] },
    '00080090': { vr: 'PN', Value: [{ Alphabetic: 'Zhao^Lei', Ideographic: '赵^磊' }] },
    '00081030': { vr: 'LO', Value: ['胸部CT平扫'] },
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' }] },
    '00100020': { vr: 'LO', Value: ['QS-0001'] },
    '00100021': { vr: 'LO', Value: ['QINGSHI'] },
    '00100030': { vr: 'DA', Value: ['19700101'] },
    '00100040': { vr: 'CS', Value: ['M'] },
    '00180015': { vr: 'CS', Value: ['CHEST'] },
    '0020000D': { vr: 'UI', Value: [studyInstanceUid] },
    '0020000E': { vr: 'UI', Value: [newUid()] },
    '00200010': { vr: 'SH', Value: ['1'] },
    '00200011': { vr: 'IS', Value: [1] },
    '00200013': { vr: 'IS', Value: [1] },
    '00280002': { vr: 'US', Value: [1] },
    '00280004': { vr: 'CS', Value: ['MONOCHROME2'] },
    '00280010': { vr: 'US', Value: [2] },
    '00280011': { vr: 'US', Value: [2] },
    '00280100': { vr: 'US', Value: [8] },
    '00280101': { vr: 'US', Value: [8] },
    '00280102': { vr: 'US', Value: [7] },
    '00280103': { vr: 'US', Value: [0] },
    '7FE00010': { vr: 'OB', Value: [new Uint8Array([0, 64, 128, 255]).buffer] },
  };
  return Buffer.from(dictionary.write());
}
