import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_RECOGNITION_REGION } from '../archive/recognition/hr-mark.ts';
import { DEFAULT_RECOGNITION_REASONS } from '../archive/recognition/recognition-reasons.ts';
import { accreditationStatus, codeList, itemDrafts, labelOfDraft, markPreview, problemsOf, reasonDrafts, recognitionBody } from '../viewer/src/logic/recognition-admin.ts';

/** The 互认配置 screen's pure logic (viewer/src/logic/recognition-admin.ts). */
describe('recognition configuration screen logic', () => {
  it('gives back the shipped configuration unchanged when nothing is edited, catalogue labels kept as keys', () => {
    const body = recognitionBody({
      abbreviation: ` ${DEFAULT_RECOGNITION_REGION.abbreviation} `,
      items: itemDrafts(DEFAULT_RECOGNITION_REGION),
      minimumGrades: DEFAULT_RECOGNITION_REGION.minimumGrades,
      reasons: reasonDrafts(DEFAULT_RECOGNITION_REASONS),
    });
    assert.deepEqual(body, { configuration: DEFAULT_RECOGNITION_REGION, reasons: DEFAULT_RECOGNITION_REASONS });
  });

  it('stores a changed name in both languages, reads code lists and validity as typed', () => {
    const [draft] = itemDrafts(DEFAULT_RECOGNITION_REGION);
    assert.deepEqual(labelOfDraft({ ...draft!.label, zh: '胸部正位片' }), { zh: '胸部正位片', en: draft!.label.en });
    assert.deepEqual(codeList('dx，cr、 MG'), ['DX', 'CR', 'MG']);
    const [item] = recognitionBody({ abbreviation: '鄂', items: [{ ...draft!, validityDays: '' }], minimumGrades: {}, reasons: [] }).configuration.items;
    assert.ok(Number.isNaN(item!.validityDays), 'left empty, so the archive names the field');
    assert.equal(markPreview(' 鄂 '), '鄂HR');
  });

  it('reads the archive\'s 400 reasons by field path', () => {
    assert.deepEqual(problemsOf('configuration.items.0.validityDays: Too small: expected number to be >=1; reasons: reason codes repeat'), [
      { path: 'configuration.items.0.validityDays', message: 'Too small: expected number to be >=1' },
      { path: 'reasons', message: 'reason codes repeat' },
    ]);
    assert.deepEqual(problemsOf('no institution 9'), [{ path: '', message: 'no institution 9' }]);
  });

  it('tells 有效, 未生效, 已过期 and 已撤销 apart on the region\'s day', () => {
    const today = '2026-12-10';
    assert.equal(accreditationStatus({ validFrom: '2026-01-01', validUntil: null, withdrawnAt: null }, today), 'current');
    assert.equal(accreditationStatus({ validFrom: '2026-01-01', validUntil: today, withdrawnAt: null }, today), 'current', 'the last day still holds');
    assert.equal(accreditationStatus({ validFrom: '2026-12-11', validUntil: null, withdrawnAt: null }, today), 'pending');
    assert.equal(accreditationStatus({ validFrom: '2026-01-01', validUntil: '2026-12-09', withdrawnAt: null }, today), 'expired');
    assert.equal(accreditationStatus({ validFrom: '2026-01-01', validUntil: '2027-01-01', withdrawnAt: '2026-12-01T00:00:00Z' }, today), 'withdrawn');
  });
});
