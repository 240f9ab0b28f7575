import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import dcmjs from 'dcmjs';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { ENCAPSULATED_PDF_SOP_CLASS_UID, reportPdfUids } from '../archive/reading/report-pdf.ts';
import type { Report } from '../archive/reading/report.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { FINDINGS, IMPRESSION, newUid, PATIENT, readingCentre, type ReadingCentre } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The report PDF end to end: a county study read at the reading centre, 初诊 then 审核; each signed
 * version printed by the write-report-pdf job, downloadable, and stored in the study as an
 * Encapsulated PDF that QIDO finds and dicom3tools accepts. poppler reads the Chinese text back
 * and says every font is embedded.
 */
const compact = (text: string) => text.replace(/\s+/g, '');

/** Images placed in a PDF, by pdfimages' list (two header lines, then one line per image). */
const imagesIn = (file: string) => execFileSync('pdfimages', ['-list', file], { encoding: 'utf8' }).split('\n').slice(2).filter((line) => line.trim()).length;

/** A Key Object Selection document marking one image of the study, as a viewer saves it (the evidence is what counts). */
function keyObjectSelection(study: string, image: DicomJsonDataset): Buffer {
  const sopInstanceUid = newUid();
  const dictionary = new dcmjs.data.DicomDict({
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.88.59'] },
    '00020003': { vr: 'UI', Value: [sopInstanceUid] },
    '00020010': { vr: 'UI', Value: ['1.2.840.10008.1.2.1'] },
  });
  dictionary.dict = {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.88.59'] },
    '00080018': { vr: 'UI', Value: [sopInstanceUid] },
    '00080060': { vr: 'CS', Value: ['KO'] },
    '00100010': { vr: 'PN', Value: [PATIENT.name] },
    '00100020': { vr: 'LO', Value: [PATIENT.id] },
    '00100021': { vr: 'LO', Value: [PATIENT.issuer] },
    '0020000D': { vr: 'UI', Value: [study] },
    '0020000E': { vr: 'UI', Value: [newUid()] },
    '00200011': { vr: 'IS', Value: [99] },
    '00200013': { vr: 'IS', Value: [1] },
    '0040A375': {
      vr: 'SQ',
      Value: [
        {
          '0020000D': { vr: 'UI', Value: [study] },
          '00081115': {
            vr: 'SQ',
            Value: [{ '0020000E': image['0020000E']!, '00081199': { vr: 'SQ', Value: [{ '00081150': image['00080016']!, '00081155': image['00080018']! }] } }],
          },
        },
      ],
    },
  };
  return Buffer.from(dictionary.write());
}

describe('Encapsulated PDF of a version (pure)', () => {
  it('derives the same valid 2.25 UIDs from the same SR, and different ones from another', () => {
    const first = reportPdfUids({ srSopInstanceUid: '2.25.1', srSeriesInstanceUid: '2.25.2' });
    assert.deepEqual(reportPdfUids({ srSopInstanceUid: '2.25.1', srSeriesInstanceUid: '2.25.2' }), first);
    assert.notEqual(reportPdfUids({ srSopInstanceUid: '2.25.3', srSeriesInstanceUid: '2.25.2' }).sopInstanceUid, first.sopInstanceUid);
    for (const uid of Object.values(first)) {
      assert.match(uid, /^2\.25\.(0|[1-9][0-9]*)$/);
      assert.ok(uid.length <= 64);
    }
  });
});

describe('report PDF and Encapsulated PDF', () => {
  let system: TestSystem;
  let centre: ReadingCentre;
  let study: string;
  let report: Report;
  let workDir: string;

  before(async () => {
    system = await startTestSystem();
    centre = await readingCentre(system);
    workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-report-pdf-'));
    study = await centre.countyStudy(2);
    await centre.signPreliminary(study);
    report = await centre.signFinal(study);
    await system.runtime.queue.whenIdle();
  });
  after(async () => {
    await system?.shutdown();
    if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  });

  const download = async (username: string, version?: number) => {
    const response = await centre.call(username, 'GET', `/api/studies/${study}/report/pdf${version !== undefined ? `?version=${version}` : ''}`);
    return response;
  };
  const pdfText = async (pdf: Buffer, name: string) => {
    const file = path.join(workDir, name);
    await fs.writeFile(file, pdf);
    return { text: execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-'], { encoding: 'utf8' }), fonts: execFileSync('pdffonts', [file], { encoding: 'utf8' }) };
  };

  it('prints the final report with the Chinese findings, impression, names, titles and hospital, every font embedded', async (t) => {
    if (!requirePeer(t, commandExists('pdftotext') && commandExists('pdffonts'), 'poppler-utils (pdftotext, pdffonts)')) return;
    const response = await download('qs-referrer');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/pdf');
    assert.equal(response.bytes.subarray(0, 5).toString('latin1'), '%PDF-');
    const { text, fonts } = await pdfText(response.bytes, 'final.pdf');
    const flat = compact(text);
    for (const expected of ['青石县人民医院', '影像诊断报告', '正式报告', FINDINGS, IMPRESSION, '王小东', '李明', '住院医师', '张伟', '主任医师', '初诊医师', '审核医师', '清河市影像诊断中心', '胸部CT平扫', '扫码查看云胶片']) {
      assert.ok(flat.includes(compact(expected)), `the PDF's text holds ${expected}`);
    }
    assert.equal(imagesIn(path.join(workDir, 'final.pdf')), 2, 'no key images marked: the representative image of each of the 2 series');
    const fontLines = fonts.split('\n').slice(2).filter((line) => line.trim());
    assert.ok(fontLines.length >= 1);
    assert.ok(fontLines.some((line) => line.includes('NotoSansHans')), fonts);
    for (const line of fontLines) {
      // name type encoding emb sub uni object ID: "emb" is the fourth column from the right end's five.
      const columns = line.trim().split(/\s+/);
      assert.equal(columns.at(-5), 'yes', `embedded: ${line}`);
    }
  });

  it('keeps every version: the 初诊 stays printable as a preliminary report, without the patient film link', async (t) => {
    if (!requirePeer(t, commandExists('pdftotext') && commandExists('pdffonts'), 'poppler-utils (pdftotext, pdffonts)')) return;
    const response = await download('rc-reader', 1);
    assert.equal(response.status, 200);
    const flat = compact((await pdfText(response.bytes, 'preliminary.pdf')).text);
    assert.ok(flat.includes('初步报告（待审核）'));
    assert.ok(flat.includes(compact(FINDINGS)));
    assert.ok(!flat.includes('审核医师'), 'no verifier on the 初诊');
    assert.ok(!flat.includes('扫码查看云胶片'), 'the patient gets the film with the final report only');
    assert.equal((await download('rc-reader', 7)).status, 404);
    assert.equal((await download('rc-reader', 0)).status, 400);
  });

  it('stores each version as an Encapsulated PDF series of the study, found by QIDO, byte-equal to the download, valid for dciodvfy and dcmdump', async (t) => {
    const found = await centre.call<DicomJsonDataset[]>(null, 'GET', `/dicom-web/studies/${study}/series?Modality=DOC`, undefined, { accept: 'application/dicom+json' });
    assert.equal(found.status, 200);
    assert.equal(found.json.length, 2, 'one PDF series per signed version');
    const final = report.versions.at(-1)!;
    const { sopInstanceUid, seriesInstanceUid } = reportPdfUids(final);
    assert.ok(found.json.some((series) => series['0020000E']?.Value?.[0] === seriesInstanceUid));
    const instances = await centre.call<DicomJsonDataset[]>(null, 'GET', `/dicom-web/studies/${study}/series/${seriesInstanceUid}/instances`, undefined, { accept: 'application/dicom+json' });
    assert.equal(instances.json[0]!['00080016']?.Value?.[0], ENCAPSULATED_PDF_SOP_CLASS_UID);
    assert.equal(instances.json[0]!['00080018']?.Value?.[0], sopInstanceUid);

    const retrieved = await centre.call(null, 'GET', `/dicom-web/studies/${study}/series/${seriesInstanceUid}/instances/${sopInstanceUid}`, undefined, { accept: 'multipart/related; type="application/dicom"' });
    assert.equal(retrieved.status, 200);
    const boundary = /boundary="?([^";]+)"?/.exec(retrieved.headers.get('content-type') ?? '')![1]!;
    const start = retrieved.bytes.indexOf(Buffer.from('DICM')) - 128;
    const part10 = retrieved.bytes.subarray(start, retrieved.bytes.indexOf(Buffer.from(`\r\n--${boundary}`), start));
    const dataset = dcmjs.data.DicomMessage.readFile(part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.length) as ArrayBuffer).dict;
    const length = dataset['00420015']!.Value[0] as number;
    const encapsulated = Buffer.from(dataset['00420011']!.Value[0] as ArrayBuffer).subarray(0, length);
    assert.equal(dataset['00420012']!.Value[0], 'application/pdf');
    assert.equal(dataset['00080060']!.Value[0], 'DOC');
    assert.deepEqual(encapsulated, (await download('rc-senior')).bytes, 'the study holds the very PDF that is downloaded');

    if (!requirePeer(t, commandExists('dciodvfy') && commandExists('dcmdump'), 'dicom3tools (dciodvfy) and DCMTK (dcmdump)')) return;
    const file = path.join(workDir, 'report-pdf.dcm');
    await fs.writeFile(file, part10);
    const verified = spawnSync('dciodvfy', ['-new', file], { encoding: 'utf8' });
    const output = `${verified.stdout}${verified.stderr}`;
    assert.match(output, /EncapsulatedPDF/, output);
    assert.deepEqual(output.split('\n').filter((line) => /^Error/.test(line)), [], output);
    const dump = execFileSync('dcmdump', ['+U8', file], { encoding: 'utf8' });
    assert.match(dump, /\(0042,0012\) LO \[application\/pdf\]/);
    assert.match(dump, /\(0008,0016\) UI =EncapsulatedPDFStorage/);
    assert.match(dump, /王\^小东/);
  });

  it('prints the key images the readers marked (a Key Object Selection in the study) instead of representative ones', async (t) => {
    if (!requirePeer(t, commandExists('pdfimages'), 'poppler-utils (pdfimages)')) return;
    const marked = await centre.countyStudy(3);
    const instances = await centre.call<DicomJsonDataset[]>(null, 'GET', `/dicom-web/studies/${marked}/instances`, undefined, { accept: 'application/dicom+json' });
    const chosen = instances.json[1]!;
    await system.runtime.ingest.ingest({ part10: keyObjectSelection(marked, chosen) }, { via: 'import', name: 'key-images', institutionId: centre.institutionIds.get('QINGSHI')! });
    // Indexed before the report is signed, as a reader's marks are.
    await system.runtime.queue.whenIdle();
    await centre.signPreliminary(marked);
    await system.runtime.queue.whenIdle();
    const response = await centre.call('rc-reader', 'GET', `/api/studies/${marked}/report/pdf`);
    assert.equal(response.status, 200);
    const file = path.join(workDir, 'marked.pdf');
    await fs.writeFile(file, response.bytes);
    assert.equal(imagesIn(file), 1, 'the one marked image, not one per series (3)');
    // The key-image document, indexed last, left the study without an accession number or Study ID.
    assert.deepEqual(await system.runtime.reports.versionsAwaitingDocuments(0), [], 'the SR and the Encapsulated PDF were stored all the same');
  });

  it('hides the PDF as its study is hidden, refuses a masked role, and audits each download against the study', async () => {
    assert.equal((await download('nl-radiologist')).status, 404, 'another region');
    assert.equal((await download('qs-qc')).status, 403, 'identity is masked for QC staff');
    const noReport = await centre.countyStudy();
    assert.equal((await centre.call('qs-referrer', 'GET', `/api/studies/${noReport}/report/pdf`)).status, 404);
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ event_type: string; action: string; outcome: number; user_name: string; patient_id: string }>(
      `SELECT event_type, action, outcome, user_name, patient_id FROM audit_events WHERE $1 = ANY (study_uids) AND detail->>'route' LIKE '%/report/pdf' ORDER BY id`,
      [study],
    );
    assert.ok(rows.some((row) => row.user_name === 'qs-referrer' && row.event_type === 'instances-accessed' && row.action === 'R' && row.outcome === 0 && row.patient_id === 'QINGSHI|QS-0001'), JSON.stringify(rows));
    const denied = await system.runtime.db.pool.query(`SELECT 1 FROM audit_events WHERE event_type = 'access-denied' AND user_name = 'nl-radiologist' AND detail->>'route' LIKE '%/report/pdf'`);
    assert.equal(denied.rowCount, 1);
  });
});
