import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import dcmjs from 'dcmjs';
import * as fontkit from 'fontkit';
import PDFDocument from 'pdfkit';
import { encode } from 'uqr';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../dicom/part10.ts';
import type { DicomJsonDataset, DicomJsonPersonName } from '../dicom/types.ts';
import { message, type MessageKey } from '../i18n/messages.ts';
import type { Logger } from '../log.ts';
import type { HrMarkResult } from '../recognition/hr-mark.ts';
import type { ReportVersion } from './report.ts';
import { emptyElement, issuerOfPatientId, otherPatientIds, type StudyHeader } from './report-sr.ts';

/**
 * A signed report version as a printable PDF (A4): the hospital's header, patient and study, 检查所见
 * and 诊断意见, key images, the signatures (初诊 / 审核) and a QR code of the patient's cloud film;
 * and the same PDF as a DICOM Encapsulated PDF (PS3.3 A.45.1) for the study. Pure: what the
 * write-report-pdf job stores is exactly what the tests read.
 *
 * The Chinese font is Noto Sans CJK SC (SIL OFL), shipped inside the npm package @embedpdf/fonts-sc
 * so that no font need be installed on the server; pdfkit embeds the subset of glyphs used.
 */
export const ENCAPSULATED_PDF_SOP_CLASS_UID = '1.2.840.10008.5.1.4.1.1.104.1';
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** PDF series are numbered after the report's SR series (900 + version): 950 + version. */
const PDF_SERIES_BASE = 950;

export interface KeyImage {
  /** JPEG or PNG. */
  bytes: Buffer;
}

export interface ReportPdfInput {
  study: StudyHeader;
  reportId: string;
  version: ReportVersion;
  keyImages: readonly KeyImage[];
  /** The patient's cloud film link, printed as a QR code; null when the study has none (not final yet, no second factor). */
  filmUrl: string | null;
  /** The study's HR mark on the day the PDF is printed (`assessedOn`); not given: no line (the benchmarks' inputs). */
  hrMark?: { mark: HrMarkResult; assessedOn: string };
}

const FONT_FILES = { regular: 'NotoSansHans-Regular.otf', bold: 'NotoSansHans-Bold.otf' } as const;
const fontDirectory = fileURLToPath(new URL('../fonts/', import.meta.resolve('@embedpdf/fonts-sc')));
interface ReportFonts {
  regular: fontkit.Font;
  bold: fontkit.Font;
}
let fonts: Promise<ReportFonts> | undefined;

/**
 * Read and parsed once per process, and shared with a PDF that asks while it is under way (the two OTF
 * files are 8 MB each, and the first PDF spent most of its time on them); pdfkit takes the parsed
 * fonts as they are and subsets each document's glyphs anew. A failure is not kept: the next PDF tries again.
 */
function loadedFonts(): Promise<ReportFonts> {
  fonts ??= parseFonts().catch((error: unknown) => {
    fonts = undefined;
    throw error;
  });
  return fonts;
}

/**
 * fontkit parses a table on its first use, so parsing the files is not enough: the first PDF would
 * still read the character map and layout tables and, slowest, the CFF outlines its subsetting needs.
 * Each font does that here once, one table family per turn of the event loop, so that a process that
 * also answers requests is never held up for the whole of it at once.
 */
async function parseFonts(): Promise<ReportFonts> {
  // An OTF file holds one font (a collection would be a TTC).
  const [regular, bold] = (await Promise.all([FONT_FILES.regular, FONT_FILES.bold].map((file) => fs.promises.readFile(fontDirectory + file)))).map((bytes) => fontkit.create(bytes) as fontkit.Font);
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
  for (const font of [regular!, bold!]) {
    await nextTurn();
    const { glyphs } = font.layout('影云 Yingyun 0123');
    await nextTurn();
    const subset = font.createSubset();
    await nextTurn();
    for (const glyph of glyphs) subset.includeGlyph(glyph);
    subset.encode();
  }
  return { regular: regular!, bold: bold! };
}

/**
 * Loads the fonts ahead of the first PDF: called once a process that runs the write-report-pdf job
 * is up (after `npm start` is ready, so it does not delay it). A failure is only logged here; the
 * first PDF then meets it as its own error and the job is retried. Settles (never rejects) when done.
 */
export function preloadReportFonts(log: Logger): Promise<void> {
  const started = performance.now();
  return loadedFonts().then(
    () => log.info({ ms: Math.round(performance.now() - started) }, 'report PDF fonts loaded'),
    (error: unknown) => log.error({ err: error }, 'could not load the report PDF fonts'),
  );
}

const PAGE = { width: 595.28, height: 841.89, margin: 42 };
const INK = '#111111';
const MUTED = '#555555';
const CRITICAL = '#b00020';
const RECOGNISED = '#1a7f37';

/** Both languages of a catalogue entry: Chinese first, as the report is read in China. */
function label(key: MessageKey): string {
  return `${message(key, 'zh')} ${message(key, 'en')}`;
}

export async function renderReportPdf(input: ReportPdfInput): Promise<Buffer> {
  const { study, version } = input;
  const { regular, bold } = await loadedFonts();
  const signedAt = new Date(version.signatures.at(-1)?.signedAt ?? version.createdAt);
  const document = new PDFDocument({
    size: 'A4',
    margin: PAGE.margin,
    // Fixed from the version, so the same version always gives the same file.
    info: { Title: `${message('reportPdf.title', 'zh')} ${study.institutionName}`, Author: version.signatures.map((signature) => displayName(signature.name)).join(', '), Creator: 'Yingyun 影云', CreationDate: signedAt, ModDate: signedAt },
    lang: 'zh-CN',
    displayTitle: true,
  });
  const chunks: Buffer[] = [];
  document.on('data', (chunk: Buffer) => chunks.push(chunk));
  const finished = new Promise<Buffer>((resolve, reject) => {
    document.on('end', () => resolve(Buffer.concat(chunks)));
    document.on('error', reject);
  });
  // pdfkit's types know only file names and buffers; at run time it takes a fontkit font as well.
  document.registerFont('regular', regular as unknown as Buffer);
  document.registerFont('bold', bold as unknown as Buffer);
  const width = PAGE.width - 2 * PAGE.margin;

  // Header: the hospital the study belongs to, the document, and how far it is signed.
  document.font('bold').fontSize(18).fillColor(INK).text(study.institutionName, { align: 'center' });
  document.moveDown(0.2).font('bold').fontSize(14).text(label('reportPdf.title'), { align: 'center' });
  document.moveDown(0.2).font('regular').fontSize(9).fillColor(version.status === 'preliminary' ? CRITICAL : MUTED).text(label(`reportPdf.status.${version.status}`), { align: 'center' });
  rule(document);

  // Patient and study, two columns.
  const rows: [MessageKey, string][] = [
    ['reportPdf.patientName', study.patientName ? personNameShown(study.patientName) : ''],
    ['reportPdf.patientId', study.patientId],
    ['reportPdf.sex', sexShown(study.sex)],
    ['reportPdf.birthDate', dateShown(study.birthDate)],
    ['reportPdf.accession', study.accessionNumber ?? ''],
    ['reportPdf.studyDate', dateShown(study.studyDate)],
    ['reportPdf.examination', firstText(study.attributes, '00081030') ?? ''],
    ['reportPdf.referrer', personNameShown(firstPersonName(study.attributes, '00080090'))],
  ];
  const columnWidth = width / 2;
  let y = document.y;
  for (let index = 0; index < rows.length; index += 2) {
    let rowHeight = 0;
    for (const [column, [key, value]] of rows.slice(index, index + 2).entries()) {
      const x = PAGE.margin + column * columnWidth;
      document.font('regular').fontSize(8).fillColor(MUTED).text(label(key), x, y, { width: columnWidth - 8 });
      document.font('regular').fontSize(10.5).fillColor(INK).text(value || '—', x, document.y, { width: columnWidth - 8 });
      rowHeight = Math.max(rowHeight, document.y - y);
    }
    y += rowHeight + 4;
  }
  document.x = PAGE.margin;
  document.y = y;
  if (input.hrMark) hrMarkLine(document, input.hrMark, width);
  rule(document);

  section(document, label('reportPdf.findings'), version.content.findings, width);
  section(document, label('reportPdf.impression'), version.content.impression, width);
  if (version.content.criticalFinding) {
    const critical = version.content.criticalFinding;
    document.moveDown(0.3).font('bold').fontSize(11).fillColor(CRITICAL).text(`${label('reportPdf.critical')}: ${critical.category}`, PAGE.margin, document.y, { width });
    document.font('regular').fontSize(10.5).text(critical.text, { width });
    document.fillColor(INK);
  }
  if (version.amendmentReason) section(document, label('reportPdf.amendmentReason'), version.amendmentReason, width);

  if (input.keyImages.length) {
    const size = Math.min(120, (width - 12 * (input.keyImages.length - 1)) / input.keyImages.length);
    ensureRoom(document, size + 40);
    document.moveDown(0.5).font('bold').fontSize(11).fillColor(INK).text(label('reportPdf.keyImages'), PAGE.margin, document.y);
    const top = document.y + 4;
    for (const [index, image] of input.keyImages.entries()) {
      const x = PAGE.margin + index * (size + 12);
      document.rect(x, top, size, size).fill('#000000');
      document.image(image.bytes, x, top, { fit: [size, size], align: 'center', valign: 'center' });
    }
    document.x = PAGE.margin;
    document.y = top + size + 12;
  }

  // Signatures and the QR code share the last block.
  ensureRoom(document, 110);
  rule(document);
  const blockTop = document.y;
  const qrSize = 78;
  for (const signature of version.signatures) {
    const role = signature.role === 'preliminary' ? 'reportPdf.preliminarySigner' : 'reportPdf.finalSigner';
    document.font('regular').fontSize(8).fillColor(MUTED).text(label(role), PAGE.margin, document.y, { width: width - qrSize - 20 });
    document
      .font('bold')
      .fontSize(11)
      .fillColor(INK)
      .text([displayName(signature.name), signature.title ?? ''].filter(Boolean).join('  '), { width: width - qrSize - 20, continued: false });
    document.font('regular').fontSize(8.5).fillColor(MUTED).text(`${signature.institution}  ${timeShown(signature.signedAt)}${signature.licence ? `  ${message('reportPdf.licence', 'zh')} ${signature.licence}` : ''}`, { width: width - qrSize - 20 });
    document.moveDown(0.4);
  }
  if (input.filmUrl) {
    const x = PAGE.margin + width - qrSize;
    drawQr(document, input.filmUrl, x, blockTop, qrSize);
    document.font('regular').fontSize(7).fillColor(MUTED).text(label('reportPdf.film'), x - 20, blockTop + qrSize + 3, { width: qrSize + 20, align: 'center' });
    document.y = Math.max(document.y, blockTop + qrSize + 24);
  }
  document.font('regular').fontSize(7).fillColor(MUTED).text(`${label('reportPdf.footer')} · ${input.reportId}-v${version.version}`, PAGE.margin, document.y + 6, { width, align: 'center' });
  document.end();
  return finished;
}

/**
 * The HR mark belongs to the images, so it closes the study block: 渝HR and its last valid day, or
 * that there was none on the day of printing and every reason why, in both languages.
 */
function hrMarkLine(document: PDFKit.PDFDocument, printed: NonNullable<ReportPdfInput['hrMark']>, width: number): void {
  const { mark, assessedOn } = printed;
  let text: string;
  if (mark.carries) {
    text = `${mark.text}  ${message('reportPdf.hrValidUntil', 'zh')} ${mark.validUntil} / ${message('reportPdf.hrValidUntil', 'en')} ${mark.validUntil}`;
  } else {
    const { reasons } = mark;
    const why = (language: 'zh' | 'en') => reasons.map((reason) => message(`recognition.absent.${reason.code}`, language)).join(language === 'zh' ? '；' : '; ');
    text = `${message('reportPdf.hrNone', 'zh')} ${assessedOn}：${why('zh')}\n${message('reportPdf.hrNone', 'en')} ${assessedOn}: ${why('en')}`;
  }
  document.font('regular').fontSize(8).fillColor(MUTED).text(label('reportPdf.hrMark'), PAGE.margin, document.y, { width });
  document.font(mark.carries ? 'bold' : 'regular').fontSize(mark.carries ? 11 : 9).fillColor(mark.carries ? RECOGNISED : INK).text(text, PAGE.margin, document.y, { width });
  document.fillColor(INK).moveDown(0.3);
}

function section(document: PDFKit.PDFDocument, heading: string, text: string, width: number): void {
  ensureRoom(document, 60);
  document.moveDown(0.5).font('bold').fontSize(11).fillColor(INK).text(heading, PAGE.margin, document.y, { width });
  document.moveDown(0.2).font('regular').fontSize(10.5).text(text.trim() || '—', { width, lineGap: 2.5 });
}

function rule(document: PDFKit.PDFDocument): void {
  document.moveDown(0.4);
  document.moveTo(PAGE.margin, document.y).lineTo(PAGE.width - PAGE.margin, document.y).lineWidth(0.6).strokeColor('#999999').stroke();
  document.moveDown(0.5);
}

function ensureRoom(document: PDFKit.PDFDocument, height: number): void {
  if (document.y + height > PAGE.height - PAGE.margin) document.addPage();
}

/** The QR code as vector squares: sharp at any print resolution, and no image decoder needed. */
function drawQr(document: PDFKit.PDFDocument, text: string, x: number, y: number, size: number): void {
  const { data } = encode(text, { ecc: 'M', border: 2 });
  const cell = size / data.length;
  document.rect(x, y, size, size).fill('#ffffff');
  for (const [row, cells] of data.entries()) {
    for (const [column, dark] of cells.entries()) if (dark) document.rect(x + column * cell, y + row * cell, cell, cell);
  }
  document.fill('#000000');
}

/** A PN text or value as a person reads it: the Chinese group when present (李明), else the alphabetic one (Li Ming). */
function displayName(pnText: string): string {
  const [alphabetic = '', ideographic] = pnText.split('=');
  return ideographic ? ideographic.replace(/\^/g, '') : alphabetic.replace(/\^+/g, ' ').trim();
}

function personNameShown(name: DicomJsonPersonName | undefined): string {
  if (!name) return '';
  if (name.Ideographic && name.Alphabetic) return `${name.Ideographic.replace(/\^/g, '')} (${name.Alphabetic.replace(/\^+/g, ' ').trim()})`;
  return displayName([name.Alphabetic ?? '', name.Ideographic ?? ''].join('='));
}

function sexShown(sex: string | null): string {
  if (sex === 'M') return label('reportPdf.sex.M');
  if (sex === 'F') return label('reportPdf.sex.F');
  if (sex === 'O') return label('reportPdf.sex.O');
  return '';
}

function dateShown(date: string | null): string {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(date ?? '');
  return match ? `${match[1]}-${match[2]}-${match[3]}` : '';
}

/** Signing times in China Standard Time, as a reader in the region reads the clock (the SR keeps UTC). */
function timeShown(iso: string): string {
  const local = new Date(new Date(iso).getTime() + 8 * 3_600_000).toISOString();
  return `${local.slice(0, 10)} ${local.slice(11, 16)} (UTC+8)`;
}

function firstText(dataset: DicomJsonDataset, tag: string): string | undefined {
  const value = dataset[tag]?.Value?.[0];
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

function firstPersonName(dataset: DicomJsonDataset, tag: string): DicomJsonPersonName | undefined {
  const value = dataset[tag]?.Value?.[0];
  return value && typeof value === 'object' ? (value as DicomJsonPersonName) : undefined;
}

/** Where the PDF of a version is kept for download, beside its Encapsulated PDF copy in the study. */
export function reportPdfObjectKey(reportId: string, version: number): string {
  return `reports/${reportId}/v${version}.pdf`;
}

/**
 * The UIDs of a version's Encapsulated PDF, derived from its SR's (fixed at signing), so that
 * however often the job runs it stores the same instance in the same series: 2.25 UIDs (PS3.5 B.2)
 * from a SHA-256 of the SR UID.
 */
export function reportPdfUids(version: Pick<ReportVersion, 'srSopInstanceUid' | 'srSeriesInstanceUid'>): { sopInstanceUid: string; seriesInstanceUid: string } {
  const derived = (purpose: string, uid: string) => `2.25.${BigInt(`0x${createHash('sha256').update(`yingyun:${purpose}:${uid}`).digest('hex').slice(0, 32)}`).toString()}`;
  return { sopInstanceUid: derived('report-pdf', version.srSopInstanceUid), seriesInstanceUid: derived('report-pdf-series', version.srSeriesInstanceUid) };
}

/**
 * The PDF as a DICOM Encapsulated PDF instance (PS3.3 A.45.1: Patient, General Study, Encapsulated
 * Document Series, General Equipment, SC Equipment, Encapsulated Document and SOP Common modules),
 * a Part 10 file in explicit VR little endian with UTF-8 text (ISO_IR 192).
 */
export function encapsulatedReportPdf(study: StudyHeader, version: ReportVersion, pdf: Buffer): Buffer {
  const { sopInstanceUid, seriesInstanceUid } = reportPdfUids(version);
  const signed = new Date(version.signatures.at(-1)?.signedAt ?? version.createdAt).toISOString();
  const date = signed.slice(0, 10).replace(/-/g, '');
  const time = signed.slice(11, 19).replace(/:/g, '');
  // OB values are of even length: an odd document gets one trailing NUL, and its true length is stated.
  const document = pdf.length % 2 ? Buffer.concat([pdf, Buffer.alloc(1)]) : pdf;
  // dcmjs's naturalised-free form: DICOM JSON, with the document as an ArrayBuffer.
  const dataset: Record<string, { vr: string; Value?: unknown[] }> = {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00080012': { vr: 'DA', Value: [date] },
    '00080013': { vr: 'TM', Value: [time] },
    '00080016': { vr: 'UI', Value: [ENCAPSULATED_PDF_SOP_CLASS_UID] },
    '00080018': { vr: 'UI', Value: [sopInstanceUid] },
    '00080020': study.studyDate ? { vr: 'DA', Value: [study.studyDate] } : emptyElement('DA'),
    '00080023': { vr: 'DA', Value: [date] },
    '00080030': study.studyTime ? { vr: 'TM', Value: [study.studyTime] } : emptyElement('TM'),
    '00080033': { vr: 'TM', Value: [time] },
    '0008002A': { vr: 'DT', Value: [`${date}${time}`] },
    '00080050': study.accessionNumber ? { vr: 'SH', Value: [study.accessionNumber] } : emptyElement('SH'),
    '00080060': { vr: 'CS', Value: ['DOC'] },
    '00080064': { vr: 'CS', Value: ['WSD'] },
    '00080070': { vr: 'LO', Value: ['Yingyun'] },
    '00080080': { vr: 'LO', Value: [study.institutionName] },
    '00080090': study.attributes['00080090']?.Value?.length ? { vr: 'PN', Value: study.attributes['00080090'].Value } : emptyElement('PN'),
    '00080201': { vr: 'SH', Value: ['+0000'] },
    ...(study.attributes['00081030']?.Value?.length ? { '00081030': { vr: 'LO', Value: study.attributes['00081030'].Value } } : {}),
    '0008103E': { vr: 'LO', Value: [`诊断报告 PDF v${version.version} ${message(`reportPdf.status.${version.status}`, 'zh')}`] },
    '00100010': study.patientName ? { vr: 'PN', Value: [study.patientName] } : emptyElement('PN'),
    '00100020': { vr: 'LO', Value: [study.patientId] },
    ...issuerOfPatientId(study.issuer),
    ...otherPatientIds(study),
    '00100030': study.birthDate ? { vr: 'DA', Value: [study.birthDate] } : emptyElement('DA'),
    '00100040': study.sex ? { vr: 'CS', Value: [study.sex] } : emptyElement('CS'),
    '0020000D': { vr: 'UI', Value: [study.studyInstanceUid] },
    '0020000E': { vr: 'UI', Value: [seriesInstanceUid] },
    '00200010': study.studyId ? { vr: 'SH', Value: [study.studyId] } : emptyElement('SH'),
    '00200011': { vr: 'IS', Value: [PDF_SERIES_BASE + version.version] },
    '00200013': { vr: 'IS', Value: [1] },
    // The page prints the patient's name and ID.
    '00280301': { vr: 'CS', Value: ['YES'] },
    '00420010': { vr: 'ST', Value: [`${message('reportPdf.title', 'zh')} ${message('reportPdf.title', 'en')}`] },
    '0040A043': { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['18748-4'] }, '00080102': { vr: 'SH', Value: ['LN'] }, '00080104': { vr: 'LO', Value: ['Diagnostic imaging study'] } }] },
    '00420011': { vr: 'OB', Value: [new Uint8Array(document).buffer] },
    '00420012': { vr: 'LO', Value: ['application/pdf'] },
    '00420015': { vr: 'UL', Value: [pdf.length] },
  };
  const dictionary = new dcmjs.data.DicomDict({
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: [ENCAPSULATED_PDF_SOP_CLASS_UID] },
    '00020003': { vr: 'UI', Value: [sopInstanceUid] },
    '00020010': { vr: 'UI', Value: [EXPLICIT_VR_LITTLE_ENDIAN] },
    '00020012': { vr: 'UI', Value: [IMPLEMENTATION_CLASS_UID] },
    '00020013': { vr: 'SH', Value: [IMPLEMENTATION_VERSION_NAME] },
  });
  dictionary.dict = dataset as Record<string, { vr: string; Value: unknown[] }>;
  return Buffer.from(dictionary.write());
}
