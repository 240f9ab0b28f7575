import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { metaData } from '@cornerstonejs/core';
import { wadors } from '@cornerstonejs/dicom-image-loader';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { READER_DOCUMENT_SOP_CLASS } from '../archive/reading/reader-documents.ts';
import { makeCtSeries, makeSecondaryCaptures, type Institution, type Study } from '../fixtures/generate.ts';
import type { DicomJson } from '../viewer/src/dicom/dataset.ts';
import {
  imageKey,
  keyImagesOf,
  keyObjectSelection,
  measurementReport,
  measurementsOf,
  type DocumentContext,
  type KeyImage,
  type RestoredAnnotation,
} from '../viewer/src/measurements/structured-report.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Slice H of issue 15: a reader's measurements saved as a TID 1500 Measurement Report and key images
 * as a Key Object Selection Document, built by the viewer's own module (Cornerstone's SR adapters)
 * from Cornerstone annotations, stored by STOW-RS into a county hospital's study by a reading-centre
 * radiologist, found by QIDO, valid for DCMTK and dicom3tools, and read back to the same annotations.
 */
const county: Institution = { name: 'Qinghe County Hospital', code: 'QH_COUNTY', address: 'Qinghe Road 1', patientIdIssuer: 'QHCOUNTY', characterSet: 'ISO_IR 192' };
const study: Study = {
  institution: county,
  patient: { name: 'Wang^XiaoDong=王^小东', id: 'QH0001', birthDate: '19650312', sex: 'M' },
  accessionNumber: 'QH0001CT',
  date: '20261205',
  time: '081500',
  description: 'CT胸部平扫',
  referringPhysicianName: '',
};
const dsrdumpAvailable = commandExists('dsrdump');
const dciodvfyAvailable = commandExists('dciodvfy');

interface Image {
  imageId: string;
  header: DicomJson;
  sopInstanceUid: string;
  sopClassUid: string;
  seriesInstanceUid: string;
}

describe('measurements and key images saved with the study (TID 1500, KOS)', () => {
  let system: TestSystem;
  let workDir: string;
  const tokens: Record<string, string> = {};
  const institutionIds: Record<string, string> = {};
  let studyInstanceUid = '';
  let images: Image[] = [];
  let drawn: RestoredAnnotation[] = [];
  let keyImages: KeyImage[] = [];
  let context: DocumentContext;
  let report: ArrayBuffer;
  let keyDocument: ArrayBuffer;

  const as = (username: string) => ({ authorization: `Bearer ${tokens[username]}` });
  const json = async (username: string, url: string) => {
    const response = await system.fetch(`${system.dicomWebUrl}${url}`, { headers: { ...as(username), accept: 'application/dicom+json' } });
    assert.equal(response.status, 200, url);
    return (await response.json()) as DicomJson[];
  };
  /** STOW-RS to /studies/{target}, or to /studies when target is undefined. */
  const stow = async (username: string, target: string | undefined, instances: (ArrayBuffer | Uint8Array)[]) => {
    const boundary = 'measurements-boundary';
    const body = Buffer.concat([
      ...instances.flatMap((instance) => [Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), Buffer.from(new Uint8Array(instance)), Buffer.from('\r\n')]),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
    const response = await system.fetch(`${system.dicomWebUrl}/studies${target ? `/${target}` : ''}`, {
      method: 'POST',
      body,
      headers: { ...as(username), 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`, accept: 'application/dicom+json' },
    });
    const result = (await response.json()) as Record<string, { Value: Record<string, { Value: number[] }>[] }>;
    return { status: response.status, failureReasons: (result['00081198']?.Value ?? []).map((item) => item['00081197']!.Value[0]) };
  };
  const text = (dataset: DicomJson, tag: string) => String(dataset[tag]?.Value?.[0] ?? '');

  before(async () => {
    system = await startTestSystem();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-measurements-'));
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    await administration.createRegion(actor, { code: 'QINGHE', name: '清河县 Qinghe county', level: 'county' });
    await administration.createRegion(actor, { code: 'ELSEWHERE', name: 'Elsewhere county', level: 'county' });
    for (const [code, kind, regionCode] of [['QH_COUNTY', 'hospital', 'QINGHE'], ['QH_READING', 'reading_centre', 'QINGHE'], ['ELSEWHERE', 'hospital', 'ELSEWHERE']] as const) {
      institutionIds[code] = (await administration.createInstitution(actor, { code, name: code, kind, regionCode })).id;
    }
    for (const [username, institutionCode] of [['centre-reader', 'QH_READING'], ['county-radiologist', 'QH_COUNTY'], ['outside-radiologist', 'ELSEWHERE']] as const) {
      await administration.createUser(actor, { username, displayName: username, role: 'radiologist', institutionCode });
      tokens[username] = (await administration.createToken(actor, { username, label: 'measurements' })).token;
    }
    const ct = [...makeCtSeries({ study, seriesNumber: 2, slices: 3, rows: 64, columns: 64 })];
    for (const instance of ct) await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'measurements', institutionId: institutionIds.QH_COUNTY! });
    await system.runtime.queue.whenIdle();
    studyInstanceUid = ct[0]!.description.studyInstanceUid;
    const seriesInstanceUid = ct[0]!.description.seriesInstanceUid;

    // What the viewer does when it shows the series (imaging/series-stack.ts): each frame's header
    // from WADO-RS metadata, registered with Cornerstone's WADO-RS metadata provider.
    metaData.addProvider(wadors.metaData.metaDataProvider);
    const headers = await json('centre-reader', `/studies/${studyInstanceUid}/series/${seriesInstanceUid}/metadata`);
    images = headers.map((header) => {
      const sopInstanceUid = text(header, '00080018');
      const imageId = `wadors:/dicom-web/studies/${studyInstanceUid}/series/${seriesInstanceUid}/instances/${sopInstanceUid}/frames/1`;
      wadors.metaDataManager.add(imageId, header as Parameters<typeof wadors.metaDataManager.add>[1]);
      return { imageId, header, sopInstanceUid, sopClassUid: text(header, '00080016'), seriesInstanceUid };
    });
    // Measurements as Cornerstone's tools leave them: world coordinates on the image's plane, stats by image.
    const world = (image: Image, column: number, row: number): [number, number, number] => {
      const plane = metaData.get('imagePlaneModule', image.imageId) as { imagePositionPatient: number[]; rowCosines: number[]; columnCosines: number[]; columnPixelSpacing: number; rowPixelSpacing: number };
      const [x, y, z] = plane.imagePositionPatient as [number, number, number];
      const r = plane.rowCosines;
      const c = plane.columnCosines;
      return [x + r[0]! * column * plane.columnPixelSpacing + c[0]! * row * plane.rowPixelSpacing, y + r[1]! * column * plane.columnPixelSpacing + c[1]! * row * plane.rowPixelSpacing, z + r[2]! * column * plane.columnPixelSpacing + c[2]! * row * plane.rowPixelSpacing];
    };
    const annotationOn = (image: Image, toolName: string, points: [number, number][], stats: Record<string, unknown>): RestoredAnnotation =>
      ({
        annotationUID: `${toolName}-${image.sopInstanceUid}`,
        metadata: { toolName, referencedImageId: image.imageId, FrameOfReferenceUID: text(image.header, '00200052') },
        data: { handles: { points: points.map(([column, row]) => world(image, column, row)), textBox: {} }, cachedStats: { [`imageId:${image.imageId}`]: stats } },
      }) as unknown as RestoredAnnotation;
    const [first, second] = images as [Image, Image];
    const spacing = (metaData.get('imagePlaneModule', first.imageId) as { columnPixelSpacing: number }).columnPixelSpacing;
    drawn = [
      annotationOn(first, 'Length', [[10, 20], [40, 20]], { length: 30 * spacing, unit: 'mm' }),
      annotationOn(first, 'Angle', [[10, 10], [20, 20], [30, 10]], { angle: 90 }),
      annotationOn(second, 'EllipticalROI', [[32, 20], [32, 40], [22, 30], [42, 30]], { area: Math.PI * 100 * spacing * spacing, mean: -500, stdDev: 20, max: -300, min: -800, areaUnit: 'mm²', modalityUnit: 'HU' }),
    ];
    keyImages = [second].map((image) => ({ studyInstanceUid, seriesInstanceUid: image.seriesInstanceUid, sopClassUid: image.sopClassUid, sopInstanceUid: image.sopInstanceUid }));
    context = { seriesNumber: 901, seriesDescription: '测量与关键图像 Measurements', observer: { Alphabetic: 'Li^Ming', Ideographic: '李^明' }, studyHeader: first.header };
    report = measurementReport(drawn, metaData, context).part10;
    keyDocument = keyObjectSelection(keyImages, { ...context, seriesNumber: 902 }).part10;
  });
  after(async () => {
    await system?.shutdown();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it("a reading-centre reader stores both into a county hospital's study; they stay the hospital's, and a reader outside the region is refused", async () => {
    assert.deepEqual(await stow('outside-radiologist', studyInstanceUid, [report]), { status: 404, failureReasons: [] }, 'a study they cannot see does not exist for them');
    assert.deepEqual(await stow('outside-radiologist', undefined, [report]), { status: 409, failureReasons: [0x0124] }, 'naming the study only inside the object');
    assert.deepEqual(await stow('centre-reader', studyInstanceUid, [report, keyDocument]), { status: 200, failureReasons: [] });
    await system.runtime.queue.whenIdle();
    const { rows } = await system.runtime.db.pool.query(
      `SELECT se.modality, se.institution_id::text AS institution_id FROM series se JOIN studies st ON st.id = se.study_pk WHERE st.study_instance_uid = $1 ORDER BY se.series_number`,
      [studyInstanceUid],
    );
    assert.deepEqual(rows, ['CT', 'SR', 'KO'].map((modality) => ({ modality, institution_id: institutionIds.QH_COUNTY })), 'written on behalf of the study owner');
  });

  it("the reading centre adds only a reader's documents to the hospital's study: an image is refused (0124)", async () => {
    const [image] = [...makeSecondaryCaptures({ study, seriesNumber: 950, count: 1, rows: 16, columns: 16 })];
    assert.equal(image!.description.studyInstanceUid, studyInstanceUid);
    assert.deepEqual(await stow('centre-reader', studyInstanceUid, [image!.bytes]), { status: 409, failureReasons: [0x0124] });
    assert.deepEqual(await stow('county-radiologist', studyInstanceUid, [image!.bytes]), { status: 200, failureReasons: [] }, "the hospital's own reader may");
  });

  it('QIDO lists the report as an SR series and the key images as a KO series, to the hospital as to the centre', async () => {
    for (const username of ['county-radiologist', 'centre-reader']) {
      for (const [modality, sopClassUid, seriesNumber] of [['SR', READER_DOCUMENT_SOP_CLASS.enhancedSr, 901], ['KO', READER_DOCUMENT_SOP_CLASS.keyObjectSelection, 902]] as const) {
        const series = await json(username, `/studies/${studyInstanceUid}/series?Modality=${modality}`);
        assert.equal(series.length, 1, `${username}: one ${modality} series`);
        assert.equal(Number(series[0]!['00200011']?.Value?.[0]), seriesNumber);
        const instances = await json(username, `/studies/${studyInstanceUid}/series/${text(series[0]!, '0020000E')}/instances`);
        assert.equal(text(instances[0]!, '00080016'), sopClassUid);
      }
    }
  });

  it('the stored objects pass dsrdump and dciodvfy', async (t) => {
    if (!requirePeer(t, dsrdumpAvailable && dciodvfyAvailable, 'DCMTK dsrdump and dicom3tools dciodvfy')) return;
    for (const modality of ['SR', 'KO']) {
      const [series] = await json('centre-reader', `/studies/${studyInstanceUid}/series?Modality=${modality}`);
      const seriesInstanceUid = text(series!, '0020000E');
      const [instance] = await json('centre-reader', `/studies/${studyInstanceUid}/series/${seriesInstanceUid}/instances`);
      const response = await system.fetch(
        `${system.httpUrl}/wado?requestType=WADO&studyUID=${studyInstanceUid}&seriesUID=${seriesInstanceUid}&objectUID=${text(instance!, '00080018')}&contentType=application%2Fdicom`,
        { headers: as('centre-reader') },
      );
      assert.equal(response.status, 200);
      const file = path.join(workDir, `${modality}.dcm`);
      fs.writeFileSync(file, Buffer.from(await response.arrayBuffer()));
      const dump = execFileSync('dsrdump', ['-Ee', '-Ec', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.match(dump, modality === 'SR' ? /Imaging Measurement Report/ : /Of Interest/);
      assert.match(dump, /王\^小东/, 'the patient name kept in Chinese');
      const verification = spawnOutput('dciodvfy', [file]);
      assert.match(verification, modality === 'SR' ? /EnhancedSR/ : /KeyObjectSelectionDocument/);
      assert.doesNotMatch(verification, /^Error/m, verification);
    }
  });

  it('reading the stored report back gives the same measurements on the same images, and the KOS the same key images', async () => {
    const imageIdOf = new Map(images.map((image) => [imageKey(image.sopInstanceUid), image.imageId]));
    const [srSeries] = await json('county-radiologist', `/studies/${studyInstanceUid}/series?Modality=SR`);
    const [stored] = await json('county-radiologist', `/studies/${studyInstanceUid}/series/${text(srSeries!, '0020000E')}/metadata`);
    const restored = measurementsOf(stored!, imageIdOf, metaData);
    const summary = (annotations: readonly RestoredAnnotation[]) =>
      annotations
        .map((annotation) => {
          const imageId = annotation.metadata!.referencedImageId!;
          const points = (annotation.data.handles!.points as number[][]).map((point) => point.map((value) => Math.round(value * 1000) / 1000).join(',')).sort();
          const stats = (annotation.data.cachedStats as Record<string, Record<string, number>>)[`imageId:${imageId}`] ?? {};
          const value = stats.length ?? stats.angle ?? stats.area;
          return { toolName: annotation.metadata!.toolName, imageId, points, value: value === undefined ? undefined : Math.round(value * 1000) / 1000 };
        })
        .sort((a, b) => a.toolName.localeCompare(b.toolName));
    assert.deepEqual(summary(restored), summary(drawn));

    const [koSeries] = await json('county-radiologist', `/studies/${studyInstanceUid}/series?Modality=KO`);
    const [keyHeader] = await json('county-radiologist', `/studies/${studyInstanceUid}/series/${text(koSeries!, '0020000E')}/metadata`);
    assert.deepEqual(keyImagesOf(keyHeader!), keyImages);
    assert.deepEqual(measurementsOf(keyHeader!, imageIdOf, metaData), [], 'a KOS holds no measurements');
  });
});

/** dciodvfy writes its findings to stderr and exits non-zero on warnings alone: both streams, whatever the exit. */
function spawnOutput(command: string, args: string[]): string {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  return `${run.stdout}${run.stderr}`;
}
