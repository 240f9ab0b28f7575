/** A window (DICOM Window Width / Center, PS3.3 C.11.2.1.2) in the units of the image (HU on CT). */
export interface Window {
  width: number;
  center: number;
}

export type PresetId = 'lung' | 'mediastinum' | 'bone' | 'brain' | 'abdomen';

export interface VoiPreset extends Window {
  /** Built-in presets are named by id (translated); the image's own windows carry their explanation. */
  id: PresetId | `image-${number}`;
  label?: string;
}

/** Conventional CT windows, as radiology departments use them. */
export const CT_PRESETS: readonly VoiPreset[] = [
  { id: 'lung', width: 1500, center: -600 },
  { id: 'mediastinum', width: 350, center: 50 },
  { id: 'bone', width: 2000, center: 500 },
  { id: 'brain', width: 80, center: 40 },
  { id: 'abdomen', width: 400, center: 50 },
];

/**
 * Presets offered for an image: the windows its own header carries (Window Center/Width with their
 * explanations), then on CT the conventional ones. Windows equal to one already listed are not
 * repeated.
 */
export function presetsFor(modality: string, image: { centers: number[]; widths: number[]; explanations: string[] }): VoiPreset[] {
  const presets: VoiPreset[] = [];
  image.widths.forEach((width, index) => {
    const center = image.centers[index] ?? image.centers[0];
    if (center === undefined || !(width > 0)) return;
    presets.push({ id: `image-${index}`, width, center, label: image.explanations[index] || `${Math.round(width)}/${Math.round(center)}` });
  });
  if (modality === 'CT') {
    for (const preset of CT_PRESETS) {
      if (!presets.some((listed) => listed.width === preset.width && listed.center === preset.center)) presets.push(preset);
    }
  }
  return presets;
}

/**
 * The range of stored-and-rescaled values a window maps from black to white, by the LINEAR
 * function of PS3.3 C.11.2.1.2.1 (Cornerstone's voiRange).
 */
export function windowToRange({ width, center }: Window): { lower: number; upper: number } {
  return { lower: center - 0.5 - (width - 1) / 2, upper: center - 0.5 + (width - 1) / 2 };
}

/** The inverse of windowToRange, to show the window a reader has dragged to. */
export function rangeToWindow({ lower, upper }: { lower: number; upper: number }): Window {
  const width = upper - lower + 1;
  return { width, center: lower + 0.5 + (width - 1) / 2 };
}
