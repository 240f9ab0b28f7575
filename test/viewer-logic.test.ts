import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REPORT_STATUS_BATCH } from '../archive/reading/report-wire.ts';
import { formatDicomDate, formatPersonName, parsePersonName, type DicomJson } from '../viewer/src/dicom/dataset.ts';
import { matchingSeries, type SeriesSummary } from '../viewer/src/dicomweb/models.ts';
import { chooseLocale, placeholders, translator } from '../viewer/src/i18n/i18n.ts';
import { CATALOGUES, LOCALES } from '../viewer/src/i18n/messages.ts';
import type { AdminUser, ApiToken, AuditEvent, DicomPeer, Institution, Region } from '../viewer/src/api/admin-models.ts';
import {
  adminTabsFor,
  auditExportUrl,
  auditRows,
  auditSearch,
  chooseAdminTab,
  formatLocalTime,
  grantableRoles,
  institutionBody,
  institutionRows,
  networkList,
  olderAuditPage,
  passwordChange,
  peerBody,
  peerFormFields,
  peerRows,
  regionBody,
  regionRows,
  tokenBody,
  tokenRows,
  userBody,
  userRows,
} from '../viewer/src/logic/admin.ts';
import { assignSeries, changeLayout, compareWithPrior, initialLayout, type SeriesRef } from '../viewer/src/logic/layout.ts';
import { planLinks, translationMatrix, type ViewportGeometry } from '../viewer/src/logic/linking.ts';
import { lengthTextLines, roiTextLines } from '../viewer/src/logic/measurement-text.ts';
import { overlayText } from '../viewer/src/logic/overlay.ts';
import { prefetchOrder, reprioritise } from '../viewer/src/logic/prefetch.ts';
import { PURPOSE_PRESETS, presetOf, presetPurpose, purposeToRemember, rememberedPurpose, statedPurpose } from '../viewer/src/logic/purpose.ts';
import { DEFAULT_SORT, parseRoute, permittedRoute, rendererFlag, routeUrl } from '../viewer/src/logic/route.ts';
import { DEFAULT_QC_CONFIGURATION, defectsForModality, scaleForModality } from '../archive/quality/qc-scales.ts';
import { linkToMake } from '../viewer/src/logic/admin.ts';
import { configuredText, defectsByCategory, recordedGrade, writesRejection } from '../viewer/src/logic/quality.ts';
import { groupTimeline } from '../viewer/src/logic/timeline.ts';
import {
  canStatePurpose,
  cookieValue,
  imageRequestHeaders,
  oidcSignInUrl,
  requestHeaders,
  signedInUser,
  signInErrorText,
  type Permission,
  type SignedInUser,
} from '../viewer/src/logic/session.ts';
import { chosenCentre, emptyRequestForm, readingRequest } from '../viewer/src/logic/reading-request.ts';
import { reportBadge, reportStatusQueries, statusesByStudy } from '../viewer/src/logic/report-status.ts';
import { actionForKey, SHORTCUTS } from '../viewer/src/logic/shortcuts.ts';
import { orderStack } from '../viewer/src/logic/stack.ts';
import { EMPTY_CRITERIA, pageInfo, qidoParameters, remainingFromWarning } from '../viewer/src/logic/study-query.ts';
import { CT_PRESETS, presetsFor, rangeToWindow, windowToRange } from '../viewer/src/logic/voi-presets.ts';

/** DICOM JSON from keyword-free shorthand: tag → values. */
function dataset(values: Record<string, unknown[]>): DicomJson {
  return Object.fromEntries(Object.entries(values).map(([tag, value]) => [tag, { Value: value }]));
}

describe('viewer: prefetch order', () => {
  it('starts at the slice on screen and works outward, ahead before behind', () => {
    assert.deepEqual(prefetchOrder(7, 3), [3, 4, 2, 5, 1, 6, 0]);
    assert.deepEqual(prefetchOrder(5, 0), [0, 1, 2, 3, 4]);
    assert.deepEqual(prefetchOrder(5, 4), [4, 3, 2, 1, 0]);
    assert.deepEqual(prefetchOrder(0, 0), []);
    assert.deepEqual(prefetchOrder(3, 99), [2, 1, 0], 'a position past the end is the last slice');
  });

  it('covers every slice exactly once on a 500-slice CT', () => {
    const order = prefetchOrder(500, 250);
    assert.equal(order.length, 500);
    assert.equal(new Set(order).size, 500);
  });

  it('re-orders what is still waiting around the slice the reader jumped to', () => {
    assert.deepEqual(reprioritise([5, 6, 7, 8, 9, 0, 1], 10, 8), [8, 9, 7, 6, 5, 1, 0]);
  });
});

describe('viewer: window presets', () => {
  it("lists the image's own windows first (with their explanations), then the CT conventions", () => {
    const presets = presetsFor('CT', { centers: [40, -600], widths: [400, 1500], explanations: ['MEDIASTINUM', 'LUNG'] });
    assert.deepEqual(presets.slice(0, 2).map((preset) => [preset.label, preset.width, preset.center]), [
      ['MEDIASTINUM', 400, 40],
      ['LUNG', 1500, -600],
    ]);
    const ids = presets.map((preset) => preset.id);
    assert.ok(!ids.includes('lung'), 'lung 1500/-600 is the image’s own LUNG window already');
    for (const id of ['mediastinum', 'bone', 'brain', 'abdomen'] as const) assert.ok(ids.includes(id), id);
  });

  it('offers no CT windows on MR, and names unexplained windows by their values', () => {
    assert.deepEqual(presetsFor('MR', { centers: [300], widths: [600], explanations: [] }), [{ id: 'image-0', width: 600, center: 300, label: '600/300' }]);
  });

  it('has the conventional CT windows', () => {
    const byId = Object.fromEntries(CT_PRESETS.map((preset) => [preset.id, [preset.width, preset.center]]));
    assert.deepEqual(byId.lung, [1500, -600]);
    assert.deepEqual(byId.brain, [80, 40]);
  });

  it('maps a window to the VOI range of the DICOM linear function and back', () => {
    assert.deepEqual(windowToRange({ width: 400, center: 40 }), { lower: -160, upper: 239 });
    assert.deepEqual(rangeToWindow(windowToRange({ width: 1500, center: -600 })), { width: 1500, center: -600 });
  });
});

describe('viewer: person names', () => {
  it('writes Chinese names family-then-given without a space, Latin names "Family, Given"', () => {
    const name = parsePersonName('Wang^XiaoDong=王^小东');
    assert.equal(formatPersonName(name, 'zh-CN'), '王小东 (Wang, XiaoDong)');
    assert.equal(formatPersonName(name, 'en'), 'Wang, XiaoDong (王小东)');
  });

  it('shows whichever component group is there, including the phonetic one alone', () => {
    assert.equal(formatPersonName({ Ideographic: '李^𠮷' }, 'en'), '李𠮷');
    assert.equal(formatPersonName({ Alphabetic: 'Li^Ji' }, 'zh-CN'), 'Li, Ji');
    assert.equal(formatPersonName({ Phonetic: 'li^ji' }, 'zh-CN'), 'li, ji');
    assert.equal(formatPersonName({}, 'en'), '');
    assert.equal(formatPersonName({ Alphabetic: '李^明' }, 'en'), '李明', 'Chinese written in the first group, as many PACS do');
  });

  it('keeps prefixes, suffixes and middle names', () => {
    assert.equal(formatPersonName(parsePersonName('Smith^John^Q^Dr^Jr'), 'en'), 'Dr Smith, John Q Jr');
  });

  it('formats DICOM dates as ISO dates', () => {
    assert.equal(formatDicomDate('20241105'), '2024-11-05');
    assert.equal(formatDicomDate(''), '');
  });
});

describe('viewer: message catalogue', () => {
  it('has every message in both languages, with the same placeholders', () => {
    const english = CATALOGUES.en;
    for (const locale of LOCALES) {
      const catalogue = CATALOGUES[locale];
      assert.deepEqual(Object.keys(catalogue).sort(), Object.keys(english).sort(), locale);
      for (const [key, message] of Object.entries(catalogue)) {
        assert.ok(message.trim() !== '', `${locale} ${key} is empty`);
        assert.deepEqual(placeholders(message), placeholders(english[key as keyof typeof english]), `${locale} ${key}`);
      }
    }
  });

  it('translates shortcut descriptions in both languages', () => {
    for (const shortcut of SHORTCUTS) for (const locale of LOCALES) assert.ok(CATALOGUES[locale][shortcut.description], `${locale} ${shortcut.description}`);
  });

  it('fills in values', () => {
    assert.equal(translator('zh-CN')('overlay.image', { index: 3, total: 60 }), '图像 3/60');
    assert.equal(translator('en')('overlay.window', { width: 400, center: 40 }), 'W 400 L 40');
  });

  it('defaults from the browser, and a remembered choice wins', () => {
    assert.equal(chooseLocale(null, ['zh-TW', 'en']), 'zh-CN');
    assert.equal(chooseLocale(null, ['en-GB', 'zh-CN']), 'en');
    assert.equal(chooseLocale(null, ['fr-FR']), 'en');
    assert.equal(chooseLocale('zh-CN', ['en-US']), 'zh-CN');
    assert.equal(chooseLocale('klingon', ['zh']), 'zh-CN');
  });
});

describe('viewer: layout', () => {
  const a: SeriesRef = { studyInstanceUid: '1', seriesInstanceUid: '1.1' };
  const b: SeriesRef = { studyInstanceUid: '1', seriesInstanceUid: '1.2' };
  const prior: SeriesRef = { studyInstanceUid: '2', seriesInstanceUid: '2.1' };

  it('fills new cells with series not yet on screen, and keeps cells that remain', () => {
    const one = initialLayout(a);
    const four = changeLayout(one, '2x2', [a, b, prior]);
    assert.deepEqual(four.cells, [a, b, prior, null]);
    const back = changeLayout({ ...four, active: 3 }, '1x1', [a, b, prior]);
    assert.deepEqual(back, { layout: '1x1', cells: [a], active: 0 });
  });

  it('puts a dropped series in its cell and selects that cell', () => {
    const state = assignSeries(changeLayout(initialLayout(a), '1x2', [a]), 1, b);
    assert.deepEqual(state.cells, [a, b]);
    assert.equal(state.active, 1);
    assert.equal(assignSeries(state, 5, prior), state, 'a cell that does not exist changes nothing');
  });

  it('hangs a prior beside the series on screen in 1×2', () => {
    const state = compareWithPrior({ layout: '2x2', cells: [a, b, null, null], active: 1 }, prior);
    assert.deepEqual(state, { layout: '1x2', cells: [b, prior], active: 0 });
  });
});

describe('viewer: routes (deep links)', () => {
  it('reads the OHIF deep link, with several studies comma-separated or repeated', () => {
    assert.deepEqual(parseRoute('/viewer', '?StudyInstanceUIDs=1.2.3,1.2.4&StudyInstanceUIDs=1.2.3'), { page: 'viewer', studyInstanceUids: ['1.2.3', '1.2.4'] });
    assert.deepEqual(parseRoute('/viewer/', '?StudyInstanceUIDs=1.2.3&SeriesInstanceUIDs=1.2.3.4'), { page: 'viewer', studyInstanceUids: ['1.2.3'], seriesInstanceUid: '1.2.3.4' });
    assert.deepEqual(parseRoute('/viewer', '?StudyInstanceUIDs=<script>'), { page: 'viewer', studyInstanceUids: [] }, 'not a UID: ignored');
  });

  it('round-trips the study list search, sort and page through the URL', () => {
    const route = { page: 'studies' as const, criteria: { ...EMPTY_CRITERIA, patientName: '王小东', dateFrom: '2024-01-01' }, sort: { key: 'PatientName' as const, descending: false }, offset: 25 };
    const url = routeUrl(route);
    const [pathname, search = ''] = url.split('?');
    assert.deepEqual(parseRoute(pathname!, `?${search}`), route);
    assert.equal(routeUrl({ page: 'studies', criteria: EMPTY_CRITERIA, sort: DEFAULT_SORT, offset: 0 }), '/');
    assert.equal(routeUrl({ page: 'viewer', studyInstanceUids: ['1.2', '1.3'] }), '/viewer?StudyInstanceUIDs=1.2%2C1.3');
  });

  it('reads and writes the administration page and its tab', () => {
    assert.deepEqual(parseRoute('/admin', '?tab=users'), { page: 'admin', tab: 'users' });
    assert.deepEqual(parseRoute('/admin/', '?tab=nonsense'), { page: 'admin' }, 'an unknown tab is no tab');
    assert.equal(routeUrl({ page: 'admin', tab: 'audit' }), '/admin?tab=audit');
    assert.equal(routeUrl({ page: 'admin' }), '/admin');
  });

  it('sends each user where their permissions lead: auditors to the audit trail, readers away from administration', () => {
    const list = parseRoute('/', '');
    const viewer = parseRoute('/viewer', '?StudyInstanceUIDs=1.2.3');
    const auditor: Permission[] = ['read-audit'];
    assert.deepEqual(permittedRoute(list, auditor, adminTabsFor(auditor)), { page: 'admin' });
    assert.deepEqual(permittedRoute(viewer, auditor, adminTabsFor(auditor)), { page: 'admin' });
    const radiologist: Permission[] = ['read-images', 'store', 'export'];
    assert.equal(permittedRoute(viewer, radiologist, adminTabsFor(radiologist)), undefined);
    assert.deepEqual(permittedRoute({ page: 'admin' }, radiologist, adminTabsFor(radiologist)), list);
    const systemAdmin: Permission[] = ['read-images', 'store', 'export', 'manage-institution', 'manage-system'];
    assert.equal(permittedRoute({ page: 'admin', tab: 'users' }, systemAdmin, adminTabsFor(systemAdmin)), undefined);
  });

  it('reads the renderer switch', () => {
    assert.equal(rendererFlag('?cpu=1'), 'cpu');
    assert.equal(rendererFlag('?StudyInstanceUIDs=1.2&cpu=0'), 'webgl');
    assert.equal(rendererFlag(''), 'auto');
  });
});

describe('viewer: study search', () => {
  it('turns the form into QIDO-RS parameters', () => {
    assert.deepEqual(
      qidoParameters({ ...EMPTY_CRITERIA, patientName: ' 王小东 ', modality: 'ct', dateFrom: '2024-01-01', dateTo: '2024-12-31', institution: '青石', description: 'CT*' }),
      { PatientName: '王小东', fuzzymatching: 'true', ModalitiesInStudy: 'CT', StudyDate: '20240101-20241231', InstitutionName: '*青石*', StudyDescription: 'CT*' },
    );
    assert.deepEqual(qidoParameters({ ...EMPTY_CRITERIA, dateFrom: '2024-11-05', dateTo: '2024-11-05' }), { StudyDate: '20241105' });
    assert.deepEqual(qidoParameters({ ...EMPTY_CRITERIA, dateTo: '2024-11-05' }), { StudyDate: '-20241105' });
  });

  it('pages from the Warning header instead of loading everything', () => {
    const remaining = remainingFromWarning('299 127.0.0.1:8080 "There are 4 additional results that can be requested"');
    assert.deepEqual(remaining, { count: 4, atLeast: false });
    assert.deepEqual(pageInfo(25, 25, remaining), { first: 26, last: 50, total: 54, totalAtLeast: false, hasPrevious: true, hasNext: true });
    assert.deepEqual(pageInfo(0, 0, remainingFromWarning(null)), { first: 0, last: 0, total: 0, totalAtLeast: false, hasPrevious: false, hasNext: false });
    // Counting stopped past the page (a common name at scale): a lower bound, and the next page still offered.
    const capped = remainingFromWarning('299 127.0.0.1:8080 "There are at least 100 additional results that can be requested"');
    assert.deepEqual(pageInfo(0, 25, capped), { first: 1, last: 25, total: 125, totalAtLeast: true, hasPrevious: false, hasNext: true });
    // A server that gives no number (UPS-RS here, other archives) has at least one more.
    assert.deepEqual(remainingFromWarning('299 pacs "There are additional results that can be requested"'), { count: 1, atLeast: true });
  });
});

describe('viewer: stacks, overlays and linking', () => {
  const slice = (uid: string, z: number, instanceNumber: number) =>
    dataset({ '00080018': [uid], '00200013': [instanceNumber], '00200032': [0, 0, z], '00200037': [1, 0, 0, 0, 1, 0] });

  it('orders axial slices head first by position, whatever their instance numbers', () => {
    const frames = orderStack([slice('a', -10, 1), slice('b', 20, 3), slice('c', 5, 2)]);
    assert.deepEqual(frames.map((frame) => frame.sopInstanceUid), ['b', 'c', 'a']);
  });

  it('expands a multi-frame instance into its frames, by instance number without positions', () => {
    const cine = dataset({ '00080018': ['us'], '00200013': [2], '00280008': [3] });
    const still = dataset({ '00080018': ['sc'], '00200013': [1] });
    assert.deepEqual(
      orderStack([cine, still]).map((frame) => `${frame.sopInstanceUid}:${frame.frameNumber}`),
      ['sc:1', 'us:1', 'us:2', 'us:3'],
    );
  });

  it('writes the corner overlays from the header and the view', () => {
    const instance = dataset({
      '00100010': [{ Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' }],
      '00100020': ['YX20240456'],
      '00100040': ['M'],
      '00101010': ['059Y'],
      '00080080': ['云溪县人民医院'],
      '00080020': ['20241105'],
      '00200011': [2],
      '0008103E': ['5mm 纵隔窗'],
      '00201041': [-100],
      '00180050': [5],
      '00280030': [0.68359375, 0.68359375],
    });
    const view = { index: 2, total: 60, frameNumber: 1, frames: 1, window: { width: 400, center: 40 }, zoomPercent: 150, calibrated: false };
    const text = overlayText(instance, view, 'zh-CN', translator('zh-CN'));
    assert.deepEqual(text.topLeft, ['王小东 (Wang, XiaoDong)', 'YX20240456', '男 59Y']);
    assert.deepEqual(text.topRight, ['云溪县人民医院', '2024-11-05', '序列 2 5mm 纵隔窗']);
    assert.deepEqual(text.bottomLeft, ['图像 3/60', '位置 -100 mm', '层厚 5 mm']);
    assert.deepEqual(text.bottomRight, ['窗宽 400 窗位 40', '缩放 150%']);
  });

  it('says how lengths are measured when not at Pixel Spacing: detector spacing, pixels, or the reader’s calibration', () => {
    const t = translator('en');
    const view = { index: 0, total: 1, frameNumber: 1, frames: 1, window: undefined, zoomPercent: undefined, calibrated: false };
    const note = (instance: DicomJson, calibrated = false) => overlayText(instance, { ...view, calibrated }, 'en', t).bottomLeft.at(-1);
    assert.equal(note(dataset({ '00181164': [0.4, 0.4] })), t('viewport.projection'));
    assert.equal(note(dataset({})), t('viewport.uncalibrated'));
    assert.equal(note(dataset({}), true), t('viewport.calibrated'));
    assert.equal(note(dataset({ '00280030': [0.5, 0.5] })), t('overlay.image', { index: 1, total: 1 }));
  });

  const geometry = (viewportId: string, overrides: Partial<ViewportGeometry>): ViewportGeometry => ({
    viewportId,
    frameOfReferenceUid: 'for-1',
    modality: 'CT',
    normal: [0, 0, 1],
    position: [0, 0, 0],
    slices: 60,
    color: false,
    ...overrides,
  });

  it('links stacks in one frame of reference directly, and windows them together', () => {
    const plan = planLinks([geometry('v0', {}), geometry('v1', { position: [0, 0, -50] })]);
    assert.deepEqual(plan.sliceLinks, [
      { source: 'v0', target: 'v1', translation: [0, 0, 0] },
      { source: 'v1', target: 'v0', translation: [0, 0, 0] },
    ]);
    assert.deepEqual(plan.voiGroups, [['v0', 'v1']]);
  });

  it('registers a prior from another hospital by the positions on screen when linking starts', () => {
    const plan = planLinks([geometry('current', { position: [0, 0, -100] }), geometry('prior', { frameOfReferenceUid: 'for-2', position: [0, 0, 30] })]);
    assert.deepEqual(plan.sliceLinks[0], { source: 'current', target: 'prior', translation: [0, 0, 130] });
    assert.deepEqual(plan.voiGroups, [['current', 'prior']]);
  });

  it('leaves independent what cannot be linked: other modality and frame, other plane, single images, colour', () => {
    assert.deepEqual(planLinks([geometry('ct', {}), geometry('mr', { modality: 'MR', frameOfReferenceUid: 'for-2' })]).sliceLinks, []);
    assert.deepEqual(planLinks([geometry('axial', {}), geometry('coronal', { normal: [0, 1, 0] })]).sliceLinks, []);
    assert.deepEqual(planLinks([geometry('ct', {}), geometry('cr', { slices: 1, normal: undefined })]).sliceLinks, []);
    const petCt = planLinks([geometry('ct', {}), geometry('pet', { modality: 'PT' })]);
    assert.equal(petCt.sliceLinks.length, 2, 'PET/CT in one frame of reference scroll together');
    assert.deepEqual(petCt.voiGroups, [], '…but a CT window means nothing on PET');
    assert.deepEqual(planLinks([geometry('us1', { color: true }), geometry('us2', { color: true })]).voiGroups, []);
  });

  it('labels an ROI in the reader’s language, in real units', () => {
    const stats = { area: 1234.567, areaUnit: 'mm²', mean: 42.04, stdDev: 8.456, max: 120, min: -3.2, modalityUnit: 'HU' };
    assert.deepEqual(roiTextLines(stats, translator('zh-CN')), ['面积 1234.6 mm²', '均值 42.0 HU', '标准差 8.46 HU', '最大值 120.0 HU', '最小值 -3.20 HU']);
    assert.deepEqual(roiTextLines({ ...stats, isEmptyArea: true, max: undefined, min: undefined }, translator('en')), ['Mean 42.0 HU', 'SD 8.46 HU']);
    assert.deepEqual(roiTextLines(undefined, translator('en')), []);
    assert.deepEqual(roiTextLines({ area: 10, areaUnit: 'mm² Proj' }, translator('en')), ['Area 10.0 mm²'], 'the calibration kind is the overlay’s to say');
    assert.deepEqual(lengthTextLines({ length: 119.76, unit: 'mm Proj' }), ['119.8 mm']);
    assert.deepEqual(lengthTextLines({ length: Number.NaN, unit: 'mm' }), []);
  });

  it('writes translations in the column-major layout Cornerstone reads', () => {
    assert.deepEqual(translationMatrix([1, 2, 3]).slice(12, 15), [1, 2, 3]);
  });

  it('hangs the prior series that matches the one on screen', () => {
    const series = (seriesInstanceUid: string, modality: string, description: string, instanceCount: number): SeriesSummary => ({
      studyInstanceUid: 'p',
      seriesInstanceUid,
      modality,
      seriesNumber: 1,
      description,
      instanceCount,
    });
    const current = series('c', 'CT', '5mm 纵隔窗', 60);
    const candidates = [series('scout', 'CT', 'Topogram', 1), series('lung', 'CT', '1mm 肺窗', 300), series('med', 'CT', '5mm 纵隔窗', 60), series('sr', 'SR', 'report', 1)];
    assert.equal(matchingSeries(current, candidates)?.seriesInstanceUid, 'med');
    assert.equal(matchingSeries(undefined, candidates)?.seriesInstanceUid, 'scout');
  });
});

describe('viewer: keyboard', () => {
  it('maps keys to actions, leaving browser shortcuts alone', () => {
    assert.equal(actionForKey({ key: 'ArrowDown' }), 'nextImage');
    assert.equal(actionForKey({ key: 'W' }), 'tool.WindowLevel');
    assert.equal(actionForKey({ key: '3' }), 'preset.2');
    assert.equal(actionForKey({ key: 'r', ctrlKey: true }), undefined);
    assert.equal(actionForKey({ key: 'q' }), undefined);
  });

  it('gives each key one action', () => {
    const keys = SHORTCUTS.flatMap((shortcut) => shortcut.keys);
    assert.equal(new Set(keys).size, keys.length);
  });
});

const RADIOLOGIST: SignedInUser = { username: 'dr.li', displayName: '李医生', role: 'radiologist', institutionId: '7', permissions: ['read-images', 'store', 'export'], maskIdentity: false };

describe('viewer: session', () => {
  it("reads /api/auth/me, keeping only the roles and permissions it knows", () => {
    const user = signedInUser({ username: 'qc', displayName: '', role: 'qc_staff', institutionId: '3', permissions: ['read-images', 'fly'], maskIdentity: true, via: 'session' });
    assert.deepEqual(user, { username: 'qc', displayName: 'qc', role: 'qc_staff', institutionId: '3', permissions: ['read-images'], maskIdentity: true });
    assert.throws(() => signedInUser({ username: 'x', role: 'emperor' }), /known role/);
  });

  it('echoes the CSRF cookie on unsafe methods only, names the language, and percent-encodes the purpose', () => {
    const cookies = 'theme=dark; yingyun_csrf=abc%2Bdef; other=1';
    assert.equal(cookieValue(cookies, 'yingyun_csrf'), 'abc+def');
    assert.equal(cookieValue(cookies, 'missing'), undefined);
    assert.deepEqual(requestHeaders({ method: 'GET', accept: 'application/dicom+json', locale: 'zh-CN', cookies }), { 'Accept-Language': 'zh-CN', Accept: 'application/dicom+json' });
    assert.deepEqual(requestHeaders({ method: 'POST', json: true, locale: 'en', cookies }), { 'Accept-Language': 'en', 'Content-Type': 'application/json', 'X-CSRF-Token': 'abc+def' });
    assert.equal(requestHeaders({ method: 'DELETE', locale: 'en', cookies })['X-CSRF-Token'], 'abc+def');
    assert.equal(requestHeaders({ method: 'PATCH', locale: 'en', cookies: '' })['X-CSRF-Token'], undefined, 'no cookie, no header (the archive answers 403 and says why)');
    const purpose = '对比既往检查 comparison with priors';
    assert.equal(requestHeaders({ method: 'GET', locale: 'en', cookies: '', purpose })['X-Purpose-Of-Use'], encodeURIComponent(purpose));
    assert.equal(decodeURIComponent(imageRequestHeaders(purpose)['X-Purpose-Of-Use']!), purpose);
    assert.deepEqual(imageRequestHeaders(undefined), {});
  });

  it('sends single sign-on back to a path of this site only', () => {
    assert.equal(oidcSignInUrl('/viewer?StudyInstanceUIDs=1.2'), '/api/auth/oidc/login?returnTo=%2Fviewer%3FStudyInstanceUIDs%3D1.2');
    assert.equal(oidcSignInUrl('//evil.example/'), '/api/auth/oidc/login?returnTo=%2F');
    assert.equal(oidcSignInUrl('https://evil.example/'), '/api/auth/oidc/login?returnTo=%2F');
  });

  it("says why signing in failed: the archive's own words for credentials and lock-outs, the viewer's for the rest", () => {
    const zh = translator('zh-CN');
    const en = translator('en');
    assert.equal(signInErrorText({ status: 401, title: '需要身份认证', detail: '用户名或密码错误' }, zh), '用户名或密码错误');
    assert.equal(signInErrorText({ status: 423, title: 'Account locked', detail: 'Too many failed sign-ins', retryAfterSeconds: 290 }, en), 'Too many failed sign-ins Try again in 5 min.');
    assert.equal(signInErrorText({ status: 429, detail: 'too many sign-in attempts from 10.0.0.1' }, zh), zh('signIn.tooManyAttempts'));
    assert.equal(signInErrorText({ status: 0, detail: 'Failed to fetch' }, en), 'the archive did not answer (Failed to fetch)');
    assert.equal(signInErrorText({ status: 500, detail: 'logged' }, en), 'HTTP 500: logged');
  });

  it('asks for a purpose of use only where the archive honours one', () => {
    assert.equal(canStatePurpose(RADIOLOGIST), true);
    assert.equal(canStatePurpose({ ...RADIOLOGIST, role: 'referring_doctor' }), true);
    for (const role of ['system_admin', 'qc_staff', 'auditor', 'institution_admin'] as const) assert.equal(canStatePurpose({ ...RADIOLOGIST, role }), false, role);
    assert.equal(canStatePurpose(undefined), false);
  });
});

describe('viewer: purpose of use', () => {
  it('sends a preset in both languages, with the reader’s own words after it', () => {
    assert.deepEqual(statedPurpose('priors', ''), { purpose: '对比既往检查 comparison with priors' });
    assert.deepEqual(statedPurpose('consultation', '  MDT 肺结节  '), { purpose: '会诊 consultation – MDT 肺结节' });
    assert.deepEqual(statedPurpose('', '术前评估'), { purpose: '术前评估' });
    for (const preset of PURPOSE_PRESETS) assert.equal(presetOf(presetPurpose(preset)), preset);
    assert.equal(presetOf('术前评估'), undefined);
  });

  it('refuses what the archive would silently ignore', () => {
    assert.deepEqual(statedPurpose('', '   '), { problem: 'purpose.required' });
    assert.deepEqual(statedPurpose('', 'a'.repeat(201)), { problem: 'purpose.tooLong' });
    assert.deepEqual(statedPurpose('', 'line\nbreak'), { problem: 'purpose.invalid' });
  });

  it('remembers a purpose for the same user only', () => {
    const stored = purposeToRemember('dr.li', '会诊 consultation');
    assert.equal(rememberedPurpose(stored, 'dr.li'), '会诊 consultation');
    assert.equal(rememberedPurpose(stored, 'dr.wang'), undefined);
    assert.equal(rememberedPurpose('not json', 'dr.li'), undefined);
    assert.equal(rememberedPurpose(null, 'dr.li'), undefined);
  });
});

describe('viewer: administration', () => {
  const SYSTEM: Permission[] = ['read-images', 'store', 'export', 'manage-institution', 'manage-system', 'manage-persons'];
  const INSTITUTION: Permission[] = ['store', 'manage-institution', 'manage-persons'];

  it('gives each role its tabs', () => {
    // The QC configuration is a centre's, kept by its institution administrator: a system administrator belongs to no centre.
    // The recognition tab shows to every institution administrator; the archive refuses a hospital's (only a reading centre's region is theirs).
    assert.deepEqual(adminTabsFor(SYSTEM), ['institutions', 'peers', 'users', 'tokens', 'persons', 'recognition', 'routing', 'status']);
    assert.deepEqual(adminTabsFor(INSTITUTION), ['peers', 'users', 'tokens', 'persons', 'quality', 'recognition']);
    assert.deepEqual(adminTabsFor(['read-audit']), ['audit']);
    assert.deepEqual(adminTabsFor(['read-images']), []);
    assert.equal(chooseAdminTab('users', INSTITUTION), 'users');
    assert.equal(chooseAdminTab('institutions', INSTITUTION), 'peers', 'a tab the user lacks falls back to their first');
    assert.equal(chooseAdminTab(undefined, ['read-audit']), 'audit');
    assert.equal(chooseAdminTab(undefined, ['read-images']), undefined);
  });

  it('lets institution administrators give only their institution’s roles', () => {
    assert.equal(grantableRoles(SYSTEM).length, 6);
    assert.deepEqual(grantableRoles(INSTITUTION), ['institution_admin'], 'roles reaching patient data are granted by a system administrator only');
  });

  it('turns the region and institution forms into request bodies', () => {
    assert.deepEqual(regionBody({ code: ' CQ ', name: '重庆市', level: 'province', parentCode: '' }), { ok: true, body: { code: 'CQ', name: '重庆市', level: 'province' } });
    assert.deepEqual(regionBody({ code: 'CQ-QS', name: '青石县', level: 'county', parentCode: 'CQ' }), { ok: true, body: { code: 'CQ-QS', name: '青石县', level: 'county', parentCode: 'CQ' } });
    assert.deepEqual(regionBody({ code: '青石', name: '', level: 'town' }), {
      ok: false,
      errors: [
        { field: 'code', problem: 'admin.invalid.code' },
        { field: 'name', problem: 'admin.invalid.name' },
        { field: 'level', problem: 'admin.invalid.level' },
      ],
    });
    assert.deepEqual(institutionBody({ code: 'QSXRMYY', name: '青石县人民医院', kind: 'hospital', regionCode: 'CQ-QS' }), {
      ok: true,
      body: { code: 'QSXRMYY', name: '青石县人民医院', kind: 'hospital', regionCode: 'CQ-QS' },
    });
    assert.equal(institutionBody({ code: 'Q', name: 'Q', kind: 'quarantine' }).ok, false, 'the quarantine is the archive’s own');
  });

  it('turns the DICOM peer form into a request body', () => {
    assert.deepEqual(networkList('10.1.0.0/16\n 192.168.3.7 ,fd00::/8；'), ['10.1.0.0/16', '192.168.3.7', 'fd00::/8']);
    assert.deepEqual(peerBody({ institutionCode: 'QSXRMYY', aeTitle: ' CT_QS1 ', allowedNetworks: '10.1.0.0/16', host: 'ct1.qs.local', port: '104', tlsRequired: 'on', characterSet: '' }, 'required'), {
      ok: true,
      body: { institutionCode: 'QSXRMYY', aeTitle: 'CT_QS1', allowedNetworks: ['10.1.0.0/16'], host: 'ct1.qs.local', port: 104, tlsRequired: true, characterSet: null },
    });
    assert.deepEqual(peerBody({ aeTitle: 'PACS', allowedNetworks: '', host: '', port: '' }, 'own'), {
      ok: true,
      body: { aeTitle: 'PACS', allowedNetworks: [], host: null, port: null, tlsRequired: false, characterSet: null },
    });
    const invalid = peerBody({ aeTitle: 'A\\B', allowedNetworks: 'everywhere', port: '70000' }, 'required');
    assert.deepEqual(invalid.ok ? [] : invalid.errors.map((error) => error.field), ['aeTitle', 'allowedNetworks', 'port', 'institutionCode']);
    const peer: DicomPeer = { id: '4', institutionId: '1', aeTitle: 'CT1', allowedNetworks: ['10.0.0.0/8', '192.168.1.9'], host: 'ct1', port: 11112, tlsRequired: false, characterSet: 'GB18030' };
    const roundTrip = peerBody(peerFormFields(peer), 'none');
    assert.deepEqual(roundTrip, { ok: true, body: { aeTitle: 'CT1', allowedNetworks: ['10.0.0.0/8', '192.168.1.9'], host: 'ct1', port: 11112, tlsRequired: false, characterSet: 'GB18030' } }, 'a peer loaded into the form saves unchanged');
  });

  it('turns the user forms into request bodies, with the archive’s password rule', () => {
    const fields = { username: 'dr.zhao', displayName: '赵医生', role: 'radiologist', institutionCode: 'QSXRMYY', password: 'correct horse battery' };
    assert.deepEqual(userBody(fields, SYSTEM), { ok: true, body: fields });
    const noInstitution = userBody({ ...fields, institutionCode: '' }, SYSTEM);
    assert.deepEqual(noInstitution.ok ? [] : noInstitution.errors, [{ field: 'institutionCode', problem: 'admin.invalid.code' }], 'a system administrator names the radiologist’s institution');
    assert.deepEqual(userBody({ ...fields, role: 'auditor', institutionCode: '' }, SYSTEM), { ok: true, body: { username: 'dr.zhao', displayName: '赵医生', role: 'auditor', password: 'correct horse battery' } });
    assert.deepEqual(userBody({ ...fields, role: 'institution_admin', institutionCode: 'ELSEWHERE' }, INSTITUTION), { ok: true, body: { username: 'dr.zhao', displayName: '赵医生', role: 'institution_admin', password: 'correct horse battery' } }, 'an institution administrator’s users join their institution');
    const radiologist = userBody({ ...fields, institutionCode: 'ELSEWHERE' }, INSTITUTION);
    assert.deepEqual(radiologist.ok ? [] : radiologist.errors.map((error) => error.field), ['role'], 'a role reaching patient data is not the institution administrator’s to grant');
    const auditor = userBody({ ...fields, role: 'auditor' }, INSTITUTION);
    assert.deepEqual(auditor.ok ? [] : auditor.errors, [{ field: 'role', problem: 'admin.invalid.role' }]);
    const bad = userBody({ username: 'dr zhao', displayName: '', role: 'radiologist', institutionCode: 'Q', password: 'short' }, SYSTEM);
    assert.deepEqual(bad.ok ? [] : bad.errors.map((error) => error.problem), ['admin.invalid.username', 'admin.invalid.name', 'admin.invalid.passwordShort']);
    assert.deepEqual(userBody({ ...fields, password: '' }, SYSTEM), { ok: true, body: { username: 'dr.zhao', displayName: '赵医生', role: 'radiologist', institutionCode: 'QSXRMYY' } }, 'no password: single sign-on only');
    assert.deepEqual(passwordChange('twelve chars'), { ok: true, body: { password: 'twelve chars' } });
    assert.equal(passwordChange('eleven char').ok, false);
  });

  it('turns the token form into a request body', () => {
    assert.deepEqual(tokenBody({ username: 'ct-modality', label: 'CT-1 STOW', days: '' }), { ok: true, body: { username: 'ct-modality', label: 'CT-1 STOW', days: 365 } });
    const bad = tokenBody({ username: '', label: '', days: '1.5' });
    assert.deepEqual(bad.ok ? [] : bad.errors.map((error) => error.field), ['username', 'label', 'days']);
  });

  it('searches the audit trail by the reader’s calendar days, both included', () => {
    const beijing = () => -480;
    assert.deepEqual(auditSearch({ patientId: ' QS0012345 ', user: '', study: '', type: 'instances-accessed', from: '2024-11-05', to: '2024-11-30' }, beijing), {
      ok: true,
      body: 'patientId=QS0012345&type=instances-accessed&from=2024-11-05T00%3A00%3A00%2B08%3A00&to=2024-12-01T00%3A00%3A00%2B08%3A00',
    });
    assert.deepEqual(auditSearch({}, beijing), { ok: true, body: '' });
    assert.equal(new URLSearchParams((auditSearch({ to: '2024-12-31' }, () => 300) as { body: string }).body).get('to'), '2025-01-01T00:00:00-05:00');
    const bad = auditSearch({ study: 'not-a-uid', type: 'coffee', from: '2024-12-01', to: '2024-11-01' }, beijing);
    assert.deepEqual(bad.ok ? [] : bad.errors.map((error) => error.problem), ['admin.invalid.studyUid', 'admin.invalid.eventType', 'admin.invalid.dateRange']);
    assert.equal(auditExportUrl('csv', 'user=dr.li'), '/api/audit/export.csv?user=dr.li');
    assert.equal(auditExportUrl('xml', ''), '/api/audit/export.xml');
  });

  it('pages back through the audit trail while pages come full', () => {
    const events = (count: number, first = 500) => Array.from({ length: count }, (_, index) => ({ id: String(first - index) }) as AuditEvent);
    assert.equal(olderAuditPage(events(100)), '401');
    assert.equal(olderAuditPage(events(37)), undefined);
    assert.equal(olderAuditPage([]), undefined);
  });

  const institutions: Institution[] = [
    { id: '1', code: 'QSXRMYY', name: '青石县人民医院', kind: 'hospital', regionId: '11' },
    { id: '2', code: 'CENTRE', name: '区域影像中心', kind: 'reading_centre', regionId: null },
  ];
  const regions: Region[] = [
    { id: '10', parentId: null, code: 'CQ', name: '重庆市', level: 'province' },
    { id: '11', parentId: '10', code: 'CQ-QS', name: '青石县', level: 'county' },
  ];

  it('lists regions and institutions with their parents by name', () => {
    assert.deepEqual(regionRows(regions).map((row) => row.parent), ['', '重庆市 (CQ)']);
    assert.deepEqual(institutionRows(institutions, regions).map((row) => row.region), ['青石县 (CQ-QS)', '']);
  });

  it('lists peers with their institution and address', () => {
    const peers: DicomPeer[] = [
      { id: '4', institutionId: '1', aeTitle: 'CT1', allowedNetworks: [], host: 'ct1', port: 104, tlsRequired: true, characterSet: null },
      { id: '5', institutionId: '9', aeTitle: 'US1', allowedNetworks: ['10.0.0.0/8'], host: null, port: null, tlsRequired: false, characterSet: 'GBK' },
    ];
    assert.deepEqual(
      peerRows(peers, institutions).map((row) => [row.aeTitle, row.institution, row.address, row.networks]),
      [
        ['CT1', '青石县人民医院 (QSXRMYY)', 'ct1:104', []],
        ['US1', undefined, '', ['10.0.0.0/8']],
      ],
    );
  });

  it('shows a user as active, disabled or locked (while the lock lasts)', () => {
    const now = new Date('2025-01-01T08:00:00Z');
    const user = (username: string, changes: Partial<AdminUser>): AdminUser => ({ id: username, username, displayName: username, role: 'radiologist', institutionId: '1', disabled: false, lockedUntil: null, oidc: false, ...changes });
    const rows = userRows(
      [user('a', {}), user('b', { disabled: true, lockedUntil: '2025-01-01T09:00:00Z' }), user('c', { lockedUntil: '2025-01-01T09:00:00Z' }), user('d', { lockedUntil: '2024-12-31T09:00:00Z', institutionId: '99' })],
      institutions,
      now,
    );
    assert.deepEqual(rows.map((row) => [row.username, row.status, row.institution]), [
      ['a', 'active', '青石县人民医院 (QSXRMYY)'],
      ['b', 'disabled', '青石县人民医院 (QSXRMYY)'],
      ['c', 'locked', '青石县人民医院 (QSXRMYY)'],
      ['d', 'active', undefined],
    ]);
  });

  it('lists API tokens newest first, active, expired or revoked', () => {
    const now = new Date('2025-06-01T00:00:00Z');
    const token = (id: string, createdAt: string, expiresAt: string, revokedAt: string | null = null): ApiToken => ({ id, userId: '1', username: 'ct', label: id, createdAt, expiresAt, revokedAt });
    const rows = tokenRows([token('old', '2024-01-01T00:00:00Z', '2025-01-01T00:00:00Z'), token('new', '2025-05-01T00:00:00Z', '2026-05-01T00:00:00Z'), token('gone', '2025-02-01T00:00:00Z', '2026-02-01T00:00:00Z', '2025-03-01T00:00:00Z')], now);
    assert.deepEqual(rows.map((row) => [row.id, row.status]), [
      ['new', 'active'],
      ['gone', 'revoked'],
      ['old', 'expired'],
    ]);
  });

  it('writes audit events as table rows in local time', () => {
    const occurredAt = new Date(2024, 10, 5, 9, 3, 7).toISOString();
    assert.equal(formatLocalTime(occurredAt), '2024-11-05 09:03:07');
    assert.equal(formatLocalTime(null), '');
    const event: AuditEvent = {
      id: '42',
      occurredAt,
      eventType: 'instances-accessed',
      action: 'R',
      outcome: 0,
      userName: 'dr.li',
      userRole: 'radiologist',
      institutionId: '1',
      sourceAddress: '10.1.2.3',
      patientId: 'QSXRMYY|QS0012345',
      patientName: 'Wang^XiaoDong=王^小东',
      studyUids: ['1.2.3', '1.2.4'],
      purpose: '对比既往检查 comparison with priors',
      detail: { path: '/dicom-web/studies/1.2.3/metadata', status: 200 },
    };
    assert.deepEqual(auditRows([event, { ...event, id: '43', outcome: 4, userRole: null, detail: {}, purpose: null }]), [
      {
        id: '42',
        time: '2024-11-05 09:03:07',
        eventType: 'instances-accessed',
        action: 'R',
        outcome: 'success',
        user: 'dr.li',
        role: 'radiologist',
        source: '10.1.2.3',
        patient: 'QSXRMYY|QS0012345 Wang^XiaoDong=王^小东',
        studies: '1.2.3, 1.2.4',
        purpose: '对比既往检查 comparison with priors',
        detail: '{"path":"/dicom-web/studies/1.2.3/metadata","status":200}',
      },
      {
        id: '43',
        time: '2024-11-05 09:03:07',
        eventType: 'instances-accessed',
        action: 'R',
        outcome: 'minorFailure',
        user: 'dr.li',
        role: undefined,
        source: '10.1.2.3',
        patient: 'QSXRMYY|QS0012345 Wang^XiaoDong=王^小东',
        studies: '1.2.3, 1.2.4',
        purpose: '',
        detail: '',
      },
    ]);
  });
});

describe('viewer: report status in the study list and the priors panel', () => {
  const summary = (studyInstanceUid: string, status: 'preliminary' | 'final' | 'amended', critical = false) => ({ studyInstanceUid, status, critical, signedAt: '2026-12-05T02:00:00.000Z' });

  it('says 未报告 for a study the archive named no signed report of, and the status with 危急值 for the others', () => {
    const byStudy = statusesByStudy([summary('1.2.1', 'preliminary', true), summary('1.2.2', 'final'), summary('1.2.3', 'amended')]);
    assert.deepEqual(reportBadge(byStudy['1.2.1']), { badge: 'preliminary', critical: true });
    assert.deepEqual(reportBadge(byStudy['1.2.2']), { badge: 'final', critical: false });
    assert.deepEqual(reportBadge(byStudy['1.2.3']), { badge: 'amended', critical: false });
    assert.deepEqual(reportBadge(byStudy['1.2.4']), { badge: 'unreported', critical: false });
  });

  it('asks for a patient’s 200 priors in batches the archive accepts, each study once, every request line under 8 KB', () => {
    // The longest UIDs DICOM allows (64 characters), so no real study list makes a longer request.
    const priors = Array.from({ length: 200 }, (_value, index) => `1.2.826.0.1.3680043.8.498.${String(index).padStart(38, '0')}`);
    assert.ok(priors.every((uid) => uid.length === 64));
    const queries = reportStatusQueries([...priors, priors[0]!]);
    const asked = queries.map((query) => new URLSearchParams(query).getAll('study'));
    assert.deepEqual(asked.map((batch) => batch.length), [REPORT_STATUS_BATCH, REPORT_STATUS_BATCH]);
    assert.deepEqual(asked.flat(), priors, 'every prior once, in order');
    for (const query of queries) assert.ok(`GET /api/report-statuses?${query} HTTP/1.1`.length < 8 * 1024, `${query.length} characters`);
    assert.deepEqual(reportStatusQueries(priors.slice(0, 3)).map((query) => new URLSearchParams(query).getAll('study')), [priors.slice(0, 3)], 'a page asks once');
    assert.deepEqual(reportStatusQueries([]), [], 'nothing to ask, no request');
  });
});

describe('viewer: the request for remote reading (远程诊断申请)', () => {
  const CITY = { id: '7', code: 'RC', name: '清河市影像诊断中心' };
  const PROVINCE = { id: '9', code: 'PROV', name: '省远程影像中心' };

  it('starts as an outpatient request by the signed-in doctor, no centre chosen yet', () => {
    assert.deepEqual(emptyRequestForm('孙医生'), { clinicalQuestion: '', history: '', clinicalDiagnosis: '', orderingDoctor: '孙医生', department: '', patientClass: 'outpatient', readingCentreId: '' });
  });

  it('chooses the only centre covering the hospital; of several, the one picked and none until then', () => {
    assert.equal(chosenCentre([CITY], ''), CITY.id);
    assert.equal(chosenCentre([CITY, PROVINCE], ''), '');
    assert.equal(chosenCentre([CITY, PROVINCE], PROVINCE.id), PROVINCE.id);
    assert.equal(chosenCentre([CITY], PROVINCE.id), CITY.id, 'a centre no longer offered is not kept');
    assert.equal(chosenCentre([], ''), '');
  });

  it('sends what was typed, trimmed, to the chosen centre, leaving out optional fields left empty', () => {
    const form = { ...emptyRequestForm('孙医生'), clinicalQuestion: ' 排除肺栓塞 ', history: '胸痛3小时', patientClass: 'emergency', readingCentreId: PROVINCE.id };
    assert.deepEqual(readingRequest('1.2.3', form, [CITY, PROVINCE]), { request: { studyInstanceUid: '1.2.3', clinicalQuestion: '排除肺栓塞', history: '胸痛3小时', orderingDoctor: '孙医生', patientClass: 'emergency', readingCentreId: PROVINCE.id } });
    const full = readingRequest('1.2.3', { ...form, clinicalDiagnosis: '肺栓塞？', department: '急诊科' }, [CITY, PROVINCE]);
    assert.ok('request' in full && full.request.clinicalDiagnosis === '肺栓塞？' && full.request.department === '急诊科');
  });

  it('names each field that stops it: the question and the doctor required, each within its attribute, a known urgency, a chosen centre', () => {
    const result = readingRequest('1.2.3', { ...emptyRequestForm('  '), clinicalDiagnosis: '诊'.repeat(65), history: '史'.repeat(4001), patientClass: 'urgent' }, [CITY, PROVINCE]);
    assert.deepEqual('problems' in result && result.problems, [
      { field: 'clinicalQuestion', problem: 'required' },
      { field: 'orderingDoctor', problem: 'required' },
      { field: 'history', problem: 'tooLong' },
      { field: 'clinicalDiagnosis', problem: 'tooLong' },
      { field: 'patientClass', problem: 'invalid' },
      { field: 'readingCentreId', problem: 'invalid' },
    ]);
  });

  it('refuses a centre that does not cover the hospital, and any centre when none does', () => {
    const form = { ...emptyRequestForm('孙医生'), clinicalQuestion: '排除肺栓塞', readingCentreId: PROVINCE.id };
    assert.deepEqual(readingRequest('1.2.3', form, [CITY]), { problems: [{ field: 'readingCentreId', problem: 'invalid' }] });
    assert.deepEqual(readingRequest('1.2.3', { ...form, readingCentreId: '' }, []), { problems: [{ field: 'readingCentreId', problem: 'invalid' }] });
  });
});

describe('viewer: issue 16 screens', () => {
  it('routes a person page by id only, and the lookup without one', () => {
    assert.deepEqual(parseRoute('/persons/42', ''), { page: 'person', personId: '42' });
    assert.deepEqual(parseRoute('/persons', '?identifier=x'), { page: 'person' });
    assert.equal(routeUrl({ page: 'person', personId: '42' }), '/persons/42');
    assert.equal(parseRoute('/persons/not-a-number', '').page, 'studies');
  });

  it('groups a timeline by year and month, newest first, undated last', () => {
    const study = (studyDate: string | null, id: string) => ({ studyDate, id });
    const years = groupTimeline([study('2023-03-14', 'a'), study(null, 'b'), study('2024-11-05', 'c'), study('2024-11-01', 'd'), study('2024-02-10', 'e')]);
    assert.deepEqual(
      years.map((year) => [year.year, year.months.map((month) => [month.month, month.studies.map((entry) => entry.id)])]),
      [
        [2024, [[11, ['c', 'd']], [2, ['e']]]],
        [2023, [[3, ['a']]]],
        [undefined, [[undefined, ['b']]]],
      ],
    );
  });

  it('previews the grade the archive will record: a veto defect forces the lowest, which writes the rejection', () => {
    const scale = scaleForModality(DEFAULT_QC_CONFIGURATION, 'DX')!;
    const defects = defectsForModality(DEFAULT_QC_CONFIGURATION, 'DX');
    assert.equal(recordedGrade(scale, defects, 'A', ['positioning']).code, 'A');
    assert.equal(recordedGrade(scale, defects, 'A', ['lr-marker-wrong']).code, 'reject');
    assert.equal(writesRejection(scale, defects, 'A', ['lr-marker-wrong']), true);
    assert.equal(writesRejection(scale, defects, 'C', []), false);
    assert.equal(writesRejection(scale, defects, undefined, ['lr-marker-wrong']), false, 'no grade chosen yet');
    assert.equal(configuredText(scale.grades[0]!.label, 'zh-CN'), '甲级');
    assert.equal(configuredText({ zh: '滤线栅伪影', en: 'Grid lines' }, 'en'), 'Grid lines');
    assert.deepEqual(defectsByCategory(defects).map((group) => group.category), ['positioning', 'centring', 'scan-range', 'artefact', 'exposure', 'labels', 'patient-data']);
  });

  it('confirms a pair by moving the record the administrator may move', () => {
    const pair = { records: [{ patientPk: '1', personId: '10', institutionId: 'QS' }, { patientPk: '2', personId: '20', institutionId: 'YX' }] };
    assert.deepEqual(linkToMake(pair, 'QS', false), { patientPk: '1', personId: '20' });
    assert.deepEqual(linkToMake(pair, 'YX', false), { patientPk: '2', personId: '10' });
    assert.deepEqual(linkToMake(pair, null, true), { patientPk: '2', personId: '10' });
    assert.equal(linkToMake(pair, 'NL', false), undefined, 'neither record is theirs');
  });
});
