import { formatDicomDate, formatDicomTime, formatPersonName, number, numbers, personName, text, type DicomJson } from '../dicom/dataset.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { MessageKey } from '../i18n/messages.ts';
import type { Window } from './voi-presets.ts';

/** What the viewport shows right now, beyond the image's own header. */
export interface ViewState {
  index: number;
  total: number;
  frameNumber: number;
  frames: number;
  window: Window | undefined;
  zoomPercent: number | undefined;
  /** The reader calibrated this image from a line of known length. */
  calibrated: boolean;
}

export interface OverlayText {
  topLeft: string[];
  topRight: string[];
  bottomLeft: string[];
  bottomRight: string[];
}

const SEXES = new Set(['M', 'F', 'O']);

function round(value: number, digits = 1): string {
  const factor = 10 ** digits;
  return String(Math.round(value * factor) / factor);
}

/**
 * The four corners of a viewport, as diagnostic viewers lay them out: patient top left, study and
 * series top right, position in the stack bottom left, display (window, zoom) bottom right.
 */
export function overlayText(instance: DicomJson, view: ViewState, locale: string, t: Translate): OverlayText {
  const sex = text(instance, 'PatientSex');
  const birth = text(instance, 'PatientBirthDate');
  const age = text(instance, 'PatientAge').replace(/^0+/, '');
  const topLeft = [
    formatPersonName(personName(instance, 'PatientName'), locale),
    text(instance, 'PatientID'),
    [SEXES.has(sex) ? t(`sex.${sex}` as MessageKey) : '', age, formatDicomDate(birth)].filter(Boolean).join(' '),
  ];
  const seriesNumber = text(instance, 'SeriesNumber');
  const topRight = [
    text(instance, 'InstitutionName'),
    [formatDicomDate(text(instance, 'StudyDate')), formatDicomTime(text(instance, 'StudyTime'))].filter(Boolean).join(' '),
    text(instance, 'StudyDescription'),
    [seriesNumber ? t('overlay.series', { number: seriesNumber }) : '', text(instance, 'SeriesDescription')].filter(Boolean).join(' '),
  ];
  const location = number(instance, 'SliceLocation');
  const thickness = number(instance, 'SliceThickness');
  const bottomLeft = [
    t('overlay.image', { index: view.index + 1, total: view.total }),
    view.frames > 1 ? t('overlay.frame', { index: view.frameNumber, total: view.frames }) : '',
    location !== undefined ? t('overlay.location', { value: round(location) }) : '',
    thickness !== undefined ? t('overlay.thickness', { value: round(thickness, 2) }) : '',
    spacingNote(instance, view.calibrated, t),
  ];
  const bottomRight = [
    view.window ? t('overlay.window', { width: Math.round(view.window.width), center: Math.round(view.window.center) }) : '',
    view.zoomPercent !== undefined ? t('overlay.zoom', { value: Math.round(view.zoomPercent) }) : '',
  ];
  const present = (lines: string[]) => lines.filter((line) => line.trim() !== '');
  return { topLeft: present(topLeft), topRight: present(topRight), bottomLeft: present(bottomLeft), bottomRight: present(bottomRight) };
}

/** How lengths on this image are measured, when not simply in the patient at Pixel Spacing. */
function spacingNote(instance: DicomJson, calibrated: boolean, t: Translate): string {
  if (calibrated) return t('viewport.calibrated');
  if (numbers(instance, 'PixelSpacing').length === 2) return '';
  return numbers(instance, 'ImagerPixelSpacing').length === 2 ? t('viewport.projection') : t('viewport.uncalibrated');
}
