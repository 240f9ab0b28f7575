import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { retrieveSelectionOf } from '../archive/retrieve/retrieve-keys.ts';

const identifier = (elements: Record<string, string[]>): DicomJsonDataset =>
  Object.fromEntries(Object.entries(elements).map(([tag, values]) => [tag, { vr: tag === '00100020' || tag === '00080052' ? 'LO' : 'UI', Value: values }]));

describe('C-MOVE/C-GET identifiers: unique keys (archive/retrieve/retrieve-keys.ts)', () => {
  it('reads each level of both models, with UID lists at the retrieve level', () => {
    assert.deepEqual(retrieveSelectionOf(identifier({ '00080052': ['PATIENT'], '00100020': ['P1'] }), 'patient-root'), { patientId: 'P1' });
    assert.deepEqual(retrieveSelectionOf(identifier({ '00080052': ['STUDY'], '0020000D': ['1.2', '1.3'] }), 'study-root'), { studyInstanceUids: ['1.2', '1.3'] });
    assert.deepEqual(retrieveSelectionOf(identifier({ '00080052': ['STUDY'], '00100020': ['P1'], '0020000D': ['1.2'] }), 'patient-root'), { patientId: 'P1', studyInstanceUids: ['1.2'] });
    assert.deepEqual(retrieveSelectionOf(identifier({ '00080052': ['SERIES'], '0020000D': ['1.2'], '0020000E': ['1.2.1', '1.2.2'], '00080060': ['CT'] }), 'study-root'), {
      studyInstanceUids: ['1.2'],
      seriesInstanceUids: ['1.2.1', '1.2.2'],
    });
    assert.deepEqual(retrieveSelectionOf(identifier({ '00080052': ['IMAGE '], '00100020': ['P1'], '0020000D': ['1.2'], '0020000E': ['1.2.1'], '00080018': ['1.2.1.1'] }), 'patient-root'), {
      patientId: 'P1',
      studyInstanceUids: ['1.2'],
      seriesInstanceUids: ['1.2.1'],
      sopInstanceUids: ['1.2.1.1'],
    });
  });

  it('says what is wrong with an identifier that does not match the model (A900)', () => {
    assert.match(retrieveSelectionOf(identifier({ '00080052': ['PATIENT'], '00100020': ['P1'] }), 'study-root') as string, /must be one of STUDY, SERIES, IMAGE/);
    assert.match(retrieveSelectionOf(identifier({ '0020000D': ['1.2'] }), 'study-root') as string, /it is absent/);
    assert.match(retrieveSelectionOf(identifier({ '00080052': ['STUDY'], '0020000D': ['1.2'] }), 'patient-root') as string, /Patient ID \(0010,0020\) is required/);
    assert.match(retrieveSelectionOf(identifier({ '00080052': ['SERIES'], '0020000D': ['1.2', '1.3'], '0020000E': ['1.2.1'] }), 'study-root') as string, /Study Instance UID .* single value/);
    assert.match(retrieveSelectionOf(identifier({ '00080052': ['IMAGE'], '0020000D': ['1.2'], '0020000E': ['1.2.1'] }), 'study-root') as string, /SOP Instance UID \(0008,0018\) is required/);
    assert.match(retrieveSelectionOf(identifier({ '00080052': ['PATIENT'], '00100020': ['P1', 'P2'] }), 'patient-root') as string, /single value/);
  });
});
