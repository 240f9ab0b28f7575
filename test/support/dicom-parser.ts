import assert from 'node:assert/strict';
import dicomParser, { type DataSet } from 'dicom-parser';
import { DICOM_PARSER_OPTIONS } from '../../archive/dicom/parse.ts';

/** Reads a Part 10 file with dicom-parser (not with the code under test), deflated or not. */
export function parseWithDicomParser(part10: Buffer): DataSet {
  return dicomParser.parseDicom(part10, DICOM_PARSER_OPTIONS);
}

/** The raw value bytes of a top-level element (no padding removed). */
export function rawValue(dataSet: DataSet, tag: string): Buffer {
  const element = dataSet.elements[tag];
  assert.ok(element, `${tag} is present`);
  return Buffer.from(dataSet.byteArray.buffer, dataSet.byteArray.byteOffset + element.dataOffset, element.length);
}
