import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import ExcelJS from 'exceljs';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { Role } from '../archive/access/policy.ts';
import type { DrillDownStudy } from '../archive/db/statistics-repository.ts';
import type { StatisticsAnswer } from '../archive/statistics/statistics-service.ts';
import { jsonApi, newUid, type Call } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The region's statistics against real PostgreSQL: a small known set written straight into the
 * source tables (studies, series with Operators' Name, QC grades with a regrade, signed reports,
 * report QC grades, prior views, recognition decisions), so migration 022's triggers keep the
 * rollups and the figures can be computed by hand. 清河市 holds 青石 (QS) and 白河 (BH) hospitals
 * and the city's reading centre; a hospital's administrator sees only itself.
 */
const USERS: { username: string; role: Role; institution: string }[] = [
  { username: 'centre-qc', role: 'qc_staff', institution: 'CENTRE' },
  { username: 'qs-admin', role: 'institution_admin', institution: 'QS' },
  { username: 'bh-doctor', role: 'referring_doctor', institution: 'BH' },
];

describe('region statistics', () => {
  let system: TestSystem;
  let api: Call;
  const tokens = new Map<string, string>();
  const ids: Record<string, string> = {};
  const userIds: Record<string, string> = {};
  const studies: Record<string, { pk: string; uid: string; seriesPks: string[] }> = {};
  const query = (sql: string, values: unknown[] = []) => system.runtime.db.pool.query(sql, values);

  /** A study of `institution` with one series per modality given, each naming its operator. */
  async function study(name: string, institution: string, studyDate: string, series: { modality: string; operator?: string }[]): Promise<void> {
    const uid = newUid();
    const source = await query(`INSERT INTO sources (via, name, institution_id) VALUES ('import', $1, $2) RETURNING id`, [`statistics ${name}`, ids[institution]]);
    const patient = await query(`INSERT INTO patients (issuer, patient_id, source_id, attributes, institution_id) VALUES ($1, $2, $3, '{}', $4) RETURNING id`, [institution, name, source.rows[0].id, ids[institution]]);
    const row = await query(
      `INSERT INTO studies (study_instance_uid, patient_pk, source_id, study_date, accession_number, modalities, attributes, institution_id, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, '{}', $7, $8::date + time '08:00' AT TIME ZONE 'Asia/Shanghai') RETURNING id::text`,
      [uid, patient.rows[0].id, source.rows[0].id, studyDate, name, [...new Set(series.map((item) => item.modality))], ids[institution], studyDate],
    );
    const seriesPks: string[] = [];
    for (const [index, item] of series.entries()) {
      const attributes = item.operator ? { '00081070': { vr: 'PN', Value: [{ Alphabetic: item.operator }] } } : {};
      const inserted = await query(`INSERT INTO series (series_instance_uid, study_pk, study_instance_uid, modality, series_number, attributes, institution_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id::text`, [newUid(), row.rows[0].id, uid, item.modality, index + 1, JSON.stringify(attributes), ids[institution]]);
      seriesPks.push(inserted.rows[0].id);
    }
    studies[name] = { pk: row.rows[0].id, uid, seriesPks };
  }

  async function grade(name: string, seriesIndex: number, scaleId: string, gradeCode: string, reject = false): Promise<void> {
    const { pk, uid, seriesPks } = studies[name]!;
    const seriesPk = seriesPks[seriesIndex]!;
    // As QualityRepository regrades: the new row and the old one pointed at it, in one transaction.
    const client = await system.runtime.db.pool.connect();
    try {
      await client.query('BEGIN');
      const kos = reject ? [newUid(), newUid()] : [null, null];
      const current = await client.query(`SELECT id FROM qc_grades WHERE series_pk = $1 AND superseded_by IS NULL`, [seriesPk]);
      const next = await client.query(`SELECT nextval(pg_get_serial_sequence('qc_grades', 'id')) AS id`);
      if (current.rows[0]) await client.query(`UPDATE qc_grades SET superseded_by = $1 WHERE id = $2`, [next.rows[0].id, current.rows[0].id]);
      await client.query(
        `INSERT INTO qc_grades (id, study_pk, study_instance_uid, series_pk, scale_id, grade_code, given_grade_code, reject, graded_by_user_id, graded_by_name, rejection_kos_series_uid, rejection_kos_sop_uid)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $10, $3, $4, $5, $5, $6, $7, 'centre-qc', $8, $9)`,
        [next.rows[0].id, pk, seriesPk, scaleId, gradeCode, reject, userIds['centre-qc'], kos[0], kos[1], uid],
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  }

  /** A report signed final `minutes` after the study arrived, QC-graded when a grade is given. */
  async function report(name: string, institution: string, minutes: number, reportGrade?: string): Promise<void> {
    const { pk, uid } = studies[name]!;
    const created = await query(`INSERT INTO reports (study_instance_uid, study_institution_id, status, draft) VALUES ($1, $2, 'final', '{}') RETURNING id`, [uid, ids[institution]]);
    const reportId = created.rows[0].id;
    await query(`INSERT INTO report_versions (report_id, version, status, content, sr_sop_instance_uid, sr_series_instance_uid, pdf_sop_instance_uid) VALUES ($1, 1, 'final', '{}', $2, $3, $4)`, [reportId, newUid(), newUid(), newUid()]);
    await query(
      `INSERT INTO report_signatures (report_id, version, role, user_id, name, institution, signed_at)
       SELECT $1, 1, 'final', $2, 'reader', 'centre', created_at + make_interval(mins => $3) FROM studies WHERE id = $4`,
      [reportId, userIds['centre-qc'], minutes, pk],
    );
    if (reportGrade) await query(`INSERT INTO report_qc_grades (study_pk, study_instance_uid, report_id, report_version, grade_code, graded_by_user_id, graded_by_name) VALUES ($1, $5, $2, 1, $3, $4, 'centre-qc')`, [pk, reportId, reportGrade, userIds['centre-qc'], uid]);
  }

  async function viewed(name: string, hrMark: string | null, modality: string): Promise<void> {
    await query(
      `INSERT INTO prior_views (study_pk, study_instance_uid, study_institution_id, viewing_institution_id, viewed_by_user_id, purpose, hr_mark, modality, viewed_on, viewed_at)
       VALUES ($1, $7, $2, $3, $4, '诊疗', $5, $6, '2026-10-15', '2026-10-15T10:00:00+08')`,
      [studies[name]!.pk, ids.QS, ids.BH, userIds['bh-doctor'], hrMark, modality, studies[name]!.uid],
    );
  }

  async function decided(name: string, decision: 'recognised' | 'not-recognised', hrMark: string | null, modality: string, reasonCode: string | null): Promise<void> {
    await query(
      `INSERT INTO recognition_decisions (study_pk, study_instance_uid, study_institution_id, deciding_institution_id, decided_by_user_id, decided_by_name, decision, reason_code, patient_informed, order_kind, order_value, hr_mark, modality, decided_at)
       VALUES ($1, $9, $2, $3, $4, 'bh-doctor', $5, $6, true, 'text', '胸片', $7, $8, '2026-10-15T10:05:00+08')`,
      [studies[name]!.pk, ids.QS, ids.BH, userIds['bh-doctor'], decision, reasonCode, hrMark, modality, studies[name]!.uid],
    );
  }

  const statistics = async (username: string, parameters: string) => {
    const answer = await api<StatisticsAnswer>(username, 'GET', `/api/statistics?${parameters}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    return answer.json;
  };
  const drill = async (username: string, parameters: string) => {
    const answer = await api<{ total: number; studies: DrillDownStudy[] }>(username, 'GET', `/api/statistics/drill-down?${parameters}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    return answer.json;
  };
  const names = (page: { studies: DrillDownStudy[] }) => page.studies.map((item) => item.accessionNumber).sort();

  before(async () => {
    system = await startTestSystem();
    api = jsonApi(system, tokens);
    await system.administration.createRegion(COMMAND_LINE_ACTOR, { code: 'QINGHE', name: '清河市', level: 'city' });
    for (const [code, name, kind] of [
      ['QS', '青石县人民医院', 'hospital'],
      ['BH', '白河县人民医院', 'hospital'],
      ['CENTRE', '清河市影像诊断中心', 'reading_centre'],
    ] as const) {
      ids[code] = (await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code, name, kind, regionCode: 'QINGHE' })).id;
    }
    for (const { username, role, institution } of USERS) {
      userIds[username] = (await system.administration.createUser(COMMAND_LINE_ACTOR, { username, displayName: username, role, institutionCode: institution })).id;
      tokens.set(username, (await system.administration.createToken(COMMAND_LINE_ACTOR, { username, label: 'statistics' })).token);
    }
    await study('S1', 'QS', '2026-10-03', [{ modality: 'DX', operator: 'LI^MING' }]);
    await study('S2', 'QS', '2026-10-10', [{ modality: 'DX', operator: 'LI^MING' }]);
    await study('S3', 'QS', '2026-10-12', [{ modality: 'DX', operator: 'ZHAO^LEI' }, { modality: 'DX', operator: 'ZHAO^LEI' }]);
    await study('S4', 'QS', '2026-10-20', [{ modality: 'CT', operator: 'WANG^FANG' }, { modality: 'SR' }]);
    await study('S5', 'QS', '2026-11-02', [{ modality: 'DX', operator: 'LI^MING' }]);
    await study('S6', 'BH', '2026-10-05', [{ modality: 'DX' }]);
    await grade('S1', 0, 'radiography', 'B');
    await grade('S2', 0, 'radiography', 'C');
    await grade('S3', 0, 'radiography', 'A');
    await grade('S3', 1, 'radiography', 'reject', true);
    await grade('S4', 0, 'ct', 'excellent');
    await grade('S6', 0, 'radiography', 'A');
    await report('S1', 'QS', 30, 'conforming');
    await report('S2', 'QS', 90, 'basically-conforming');
    await report('S4', 'QS', 45, 'non-conforming');
    await report('S6', 'BH', 20);
    await viewed('S1', '渝HR', 'DX');
    await viewed('S2', null, 'DX');
    await viewed('S4', '渝HR', 'CT');
    await decided('S1', 'recognised', '渝HR', 'DX', null);
    await decided('S4', 'not-recognised', '渝HR', 'CT', 'emergency');
  });
  after(async () => {
    await system?.shutdown();
  });

  it('computes the figures of a known set as by hand, and follows a regrade', async () => {
    const before = await statistics('centre-qc', 'from=2026-10&to=2026-10&groupBy=institution');
    const qs = before.groups.find((group) => group.key.institution === ids.QS)!;
    assert.equal(qs.institutionName, '青石县人民医院');
    // S1 B, S2 C, S3 A + reject (its worst: reject): no 甲 among the three radiographs yet.
    assert.deepEqual({ aGrade: qs.figures.aGrade, aGradeGraded: qs.figures.aGradeGraded }, { aGrade: 0, aGradeGraded: 3 });

    await grade('S1', 0, 'radiography', 'A');
    const answer = await statistics('centre-qc', 'from=2026-10&to=2026-10&groupBy=institution');
    const figures = answer.groups.find((group) => group.key.institution === ids.QS)!.figures;
    assert.equal(figures.studies, 4);
    assert.equal(figures.graded, 4);
    assert.deepEqual(figures.gradeDistribution, { 'radiography:A': 1, 'radiography:C': 1, 'radiography:reject': 1, 'ct:excellent': 1 });
    assert.equal(figures.aGrade, 1);
    assert.equal(figures.aGradeRate, 1 / 3);
    assert.equal(figures.reportsFinal, 3);
    assert.equal(figures.reportQcGraded, 3);
    assert.equal(figures.reportQcRate, 1 / 3);
    assert.equal(figures.reportQcGradedShare, 1);
    // 30, 45, 90 minutes: nearest rank 2 of 3 is 45, rank 3 is 90.
    assert.equal(figures.turnaroundMedianMinutes, 45);
    assert.equal(figures.turnaroundP90Minutes, 90);
    assert.equal(figures.recognised, 0, 'recognition is counted where it was decided');

    const bh = answer.groups.find((group) => group.key.institution === ids.BH)!.figures;
    assert.equal(bh.studies, 1);
    assert.equal(bh.aGradeRate, 1);
    assert.equal(bh.eligibleViewed, 2);
    assert.equal(bh.recognised, 1);
    assert.equal(bh.recognitionRate, 0.5);
    assert.equal(bh.notRecognised, 1);
    assert.deepEqual(bh.notRecognisedReasons, { emergency: 1 });
    assert.equal(bh.repeatsAvoided, 1);
    assert.equal(bh.costAvoidedYuan, 70);
    assert.equal(answer.total.studies, 5);
  });

  it('groups by technologist and month', async () => {
    const byTechnologist = await statistics('centre-qc', `from=2026-10&to=2026-11&institution=${ids.QS}&groupBy=technologist`);
    assert.deepEqual(
      byTechnologist.groups.map((group) => [group.key.technologist, group.figures.studies]),
      [['LI^MING', 3], ['WANG^FANG', 1], ['ZHAO^LEI', 1]],
    );
    const byMonth = await statistics('centre-qc', `from=2026-10&to=2026-11&institution=${ids.QS}&modality=DX&groupBy=month`);
    assert.deepEqual(byMonth.groups.map((group) => [group.key.month, group.figures.studies]), [['2026-10', 3], ['2026-11', 1]]);
  });

  it('drills down to the studies behind a figure', async () => {
    const cell = `from=2026-10&to=2026-10&institution=${ids.QS}`;
    assert.deepEqual(names(await drill('centre-qc', `${cell}&figure=a-grade`)), ['S1']);
    assert.deepEqual(names(await drill('centre-qc', `${cell}&figure=grade&grade=radiography:reject`)), ['S3']);
    assert.deepEqual(names(await drill('centre-qc', `${cell}&figure=report-qc-conforming`)), ['S1']);
    assert.deepEqual(names(await drill('centre-qc', `${cell}&figure=turnaround&modality=DX`)), ['S1', 'S2']);
    const page = await drill('centre-qc', `${cell}&figure=studies&limit=2&offset=2`);
    assert.equal(page.total, 4);
    assert.deepEqual(page.studies.map((item) => item.accessionNumber), ['S3', 'S4']);
    const recognised = await drill('centre-qc', `from=2026-10&to=2026-10&institution=${ids.BH}&figure=recognised`);
    assert.deepEqual(names(recognised), ['S1']);
    assert.equal(recognised.studies[0]!.event?.hrMark, '渝HR');
    assert.deepEqual(names(await drill('centre-qc', `from=2026-10&to=2026-10&institution=${ids.BH}&figure=not-recognised&reason=emergency`)), ['S4']);
    assert.deepEqual(names(await drill('centre-qc', `from=2026-10&to=2026-10&institution=${ids.BH}&figure=eligible-viewed`)), ['S1', 'S4']);
  });

  it('exports CSV with a byte order mark and an XLSX that opens', async () => {
    const csv = await api('centre-qc', 'GET', '/api/statistics/export.csv?from=2026-10&to=2026-10&groupBy=institution', undefined, { 'accept-language': 'zh-CN' });
    assert.equal(csv.status, 200);
    assert.deepEqual([...csv.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    const lines = csv.bytes.toString('utf8').slice(1).trim().split('\r\n');
    assert.match(lines[0]!, /^医疗机构,检查数,/);
    assert.equal(lines.length, 4, 'two institutions and the total');
    assert.match(lines[3]!, /^合计,5,/);

    const xlsx = await api('centre-qc', 'GET', '/api/statistics/export.xlsx?from=2026-10&to=2026-10&groupBy=institution', undefined, { 'accept-language': 'en' });
    assert.equal(xlsx.status, 200);
    assert.match(xlsx.headers.get('content-type') ?? '', /spreadsheetml/);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(xlsx.bytes as unknown as ArrayBuffer);
    const sheet = workbook.getWorksheet('Statistics')!;
    assert.equal(sheet.getCell('A1').value, 'Institution');
    assert.equal(sheet.getCell('B1').value, 'Studies received');
    const rows = [2, 3].map((row) => [sheet.getCell(`A${row}`).value, sheet.getCell(`B${row}`).value]);
    assert.deepEqual(rows.sort(), [['白河县人民医院', 1], ['青石县人民医院', 4]]);
  });

  it('shows a hospital only itself, and refuses roles without the permission', async () => {
    const own = await statistics('qs-admin', 'from=2026-10&to=2026-10&groupBy=institution');
    assert.deepEqual(own.groups.map((group) => group.key.institution), [ids.QS]);
    const other = await api('qs-admin', 'GET', `/api/statistics?institution=${ids.BH}`);
    assert.equal(other.status, 404);
    const region = await statistics('qs-admin', `from=2026-10&to=2026-10&groupBy=institution&region=${(await system.runtime.institutions.findRegionByCode('QINGHE'))!.id}`);
    assert.deepEqual(region.groups.map((group) => group.key.institution), [ids.QS]);
    const drilled = await api('qs-admin', 'GET', `/api/statistics/drill-down?from=2026-10&to=2026-10&institution=${ids.BH}&figure=studies`);
    assert.equal(drilled.status, 404);
    assert.equal((await api('bh-doctor', 'GET', '/api/statistics')).status, 403);
    assert.equal((await api('centre-qc', 'GET', '/api/statistics?groupBy=patient')).status, 400);
  });
});
