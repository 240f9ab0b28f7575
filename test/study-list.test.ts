import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateCorpus, makeSecondaryCaptures, STUDIES, type Study } from '../fixtures/generate.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { expectProblem } from './support/wado.ts';

type StudyResult = Record<string, { Value?: unknown[] }>;

const nanling = STUDIES.taoDx.institution;
/**
 * Nanling's record names Qingshi's number (with its issuer) as another of this man's IDs: a claim about
 * Qingshi's namespace that Qingshi never made, so it links nobody.
 */
const claimsQingshiId: Study = {
  institution: nanling,
  patient: { name: 'Wang^XiaoDong=王^小东', id: 'NL000777', birthDate: '19650312', sex: 'M' },
  accessionNumber: 'NL24111500001',
  date: '20241115',
  time: '090000',
  description: '胸部DR复查',
  referringPhysicianName: '钱^志强',
};
/** A bare number equal to Wang's Qingshi Patient ID, without an issuer: it must not link anyone. */
const bareNumberOnly: Study = {
  ...claimsQingshiId,
  patient: { name: 'Ding^Yi=丁^一', id: 'NL000888', birthDate: '19700101', sex: 'F' },
  accessionNumber: 'NL24111600002',
  date: '20241116',
  description: '胸部DR',
};

/** What the viewer's study list and priors panel ask of the archive, against a real system with the fixtures' small corpus. */
describe('study list: priors across institutions and server-side ordering', () => {
  let system: TestSystem;
  const priors = async (study: string) => {
    const response = await system.fetch(`${system.httpUrl}/api/studies/${study}/priors`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    return ((await response.json()) as { study: StudyResult }[]).map((prior) => prior.study);
  };
  /** Each fixture study here is one patient on one date. */
  const uidOf = (study: Study) => {
    const instance = instances.find(({ description }) => description.patientId === study.patient.id && description.studyDate === study.date);
    if (!instance) throw new Error(`no fixture study ${study.accessionNumber}`);
    return instance.description.studyInstanceUid;
  };
  const instances = [
    ...generateCorpus({ preset: 'small' }),
    ...makeSecondaryCaptures({ study: claimsQingshiId, seriesNumber: 1, count: 1, overrides: { OtherPatientIDsSequence: [{ PatientID: 'QS0012345', IssuerOfPatientID: 'QSXRMYY' }] } }),
    ...makeSecondaryCaptures({ study: bareNumberOnly, seriesNumber: 1, count: 1, overrides: { OtherPatientIDs: 'QS0012345' } }),
  ];

  before(async () => {
    system = await startTestSystem();
    for (const instance of instances) await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'priors-test', institutionId: system.institutionId });
    await system.runtime.queue.whenIdle();
  });
  after(async () => system?.shutdown());

  it("lists the same person's studies at other hospitals, linked by the national ID, newest first", async () => {
    const current = uidOf(STUDIES.wangCurrentCt);
    const found = await priors(current);
    const uids = found.map((study) => study['0020000D']!.Value![0]);
    assert.ok(!uids.includes(current), 'the open study is not its own prior');
    const prior = found.find((study) => study['00080050']!.Value![0] === STUDIES.wangPriorCt.accessionNumber);
    assert.ok(prior, 'the Qingshi CT (another Patient ID, same resident ID) is a prior');
    assert.equal(prior['00080080']!.Value![0], '青石县人民医院');
    assert.equal(prior['00100020']!.Value![0], 'QS0012345');
    assert.equal(prior['00080020']!.Value![0], '20230314');
    assert.deepEqual(prior['00080061']!.Value, ['CT']);
    assert.ok(Number(prior['00201208']!.Value![0]) > 0);
    const dates = found.map((study) => String(study['00080020']!.Value![0]));
    assert.deepEqual(dates, [...dates].sort().reverse(), 'newest first');
  });

  it("links records only by an identifier both name, never by one naming the other's Patient ID nor by a bare number", async () => {
    const qingshiPrior = found(await priors(uidOf(STUDIES.wangPriorCt)));
    assert.ok(!qingshiPrior.includes(claimsQingshiId.accessionNumber), 'a Nanling record naming QSXRMYY|QS0012345 is not linked to it');
    assert.ok(!found(await priors(uidOf(claimsQingshiId))).includes(STUDIES.wangPriorCt.accessionNumber), 'nor the other way round');
    assert.ok(qingshiPrior.includes(STUDIES.wangCurrentCt.accessionNumber));
    assert.ok(!qingshiPrior.includes(bareNumberOnly.accessionNumber), 'an issuer-less Other Patient ID must not merge two people');
    assert.deepEqual(await priors(uidOf(bareNumberOnly)), []);
    // Unrelated patients have no priors, even at the same hospital.
    assert.deepEqual(await priors(uidOf(STUDIES.zhangMr)), []);
  });

  it('QIDO-RS orderby sorts the whole result before paging, then newest first; a bad key is a 400', async () => {
    const studies = async (query: string) => {
      const response = await system.fetch(`${system.dicomWebUrl}/studies?${query}`);
      assert.equal(response.status, 200, query);
      return (await response.json()) as StudyResult[];
    };
    const byInstances = await studies('orderby=-NumberOfStudyRelatedInstances');
    const counts = byInstances.map((study) => Number(study['00201208']!.Value![0]));
    assert.deepEqual(counts, [...counts].sort((a, b) => b - a));
    const firstPage = await studies('orderby=PatientID&limit=2');
    const secondPage = await studies('orderby=PatientID&limit=2&offset=2');
    const ids = [...firstPage, ...secondPage].map((study) => String(study['00100020']!.Value![0]));
    assert.deepEqual(ids, [...ids].sort(), 'pages continue one order');
    const all = (await studies('orderby=PatientID')).map((study) => String(study['00100020']!.Value![0]));
    assert.deepEqual(ids, all.slice(0, 4));
    const byInstitution = await studies('orderby=InstitutionName,-StudyDate&includefield=00080080');
    const institutions = byInstitution.map((study) => String(study['00080080']?.Value?.[0] ?? ''));
    assert.deepEqual(institutions, [...institutions].sort());
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies?orderby=SeriesNumber`), 400, /cannot be ordered by SeriesNumber/);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies?orderby=NoSuchKeyword`), 400, /unknown orderby/);
  });

  it('answers problem JSON for an unknown study and a malformed UID', async () => {
    await expectProblem(await system.fetch(`${system.httpUrl}/api/studies/1.2.3.999/priors`), 404, /no study 1\.2\.3\.999/);
    await expectProblem(await system.fetch(`${system.httpUrl}/api/studies/not-a-uid/priors`), 400, /not a UID/);
  });
});

function found(studies: StudyResult[]): unknown[] {
  return studies.map((study) => study['00080050']!.Value![0]);
}
