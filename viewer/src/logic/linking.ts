/** What decides whether two viewports can scroll and window together. */
export interface ViewportGeometry {
  viewportId: string;
  frameOfReferenceUid: string;
  modality: string;
  /** Slice normal (row × column direction cosines); undefined for images without a patient orientation. */
  normal: readonly [number, number, number] | undefined;
  /** The image's position along the normal (ImagePositionPatient) where linking starts. */
  position: readonly [number, number, number] | undefined;
  slices: number;
  color: boolean;
}

/** How one viewport follows another when scrolling: the same patient coordinates, or shifted by a translation. */
export interface SliceLink {
  source: string;
  target: string;
  /** Added to the source's image position to find the target's; zero within one frame of reference. */
  translation: [number, number, number];
}

export interface LinkPlan {
  sliceLinks: SliceLink[];
  /** Viewports that window together (each group shares W/L). */
  voiGroups: string[][];
}

function coplanar(a: ViewportGeometry, b: ViewportGeometry): boolean {
  if (!a.normal || !b.normal) return false;
  const dot = a.normal[0] * b.normal[0] + a.normal[1] * b.normal[1] + a.normal[2] * b.normal[2];
  return Math.abs(dot) > 0.9;
}

/**
 * Which viewports scroll and window together. Two stacks in one frame of reference link directly.
 * Two stacks in different frames of reference (a prior from another hospital) link only if they
 * are the same modality in the same plane; they are then registered by translation from the
 * slices on screen when linking starts, so the reader first brings both to the same anatomy and
 * they then move together. Anything else (a radiograph beside a CT, axial beside coronal, a single
 * image) stays independent. Windowing is shared only between linked grayscale viewports of one
 * modality: a CT window means nothing on an MR.
 */
export function planLinks(viewports: readonly ViewportGeometry[]): LinkPlan {
  const sliceLinks: SliceLink[] = [];
  const parent = new Map(viewports.map((viewport) => [viewport.viewportId, viewport.viewportId]));
  const root = (id: string): string => {
    const up = parent.get(id)!;
    return up === id ? id : root(up);
  };
  const voiPairs: [string, string][] = [];
  for (const [index, a] of viewports.entries()) {
    for (const b of viewports.slice(index + 1)) {
      if (a.slices < 2 || b.slices < 2 || !coplanar(a, b)) continue;
      const sameFrame = a.frameOfReferenceUid !== '' && a.frameOfReferenceUid === b.frameOfReferenceUid;
      if (!sameFrame && a.modality !== b.modality) continue;
      const shift = sameFrame || !a.position || !b.position ? [0, 0, 0] : [0, 1, 2].map((axis) => b.position![axis]! - a.position![axis]!);
      const [x = 0, y = 0, z = 0] = shift;
      sliceLinks.push({ source: a.viewportId, target: b.viewportId, translation: [x, y, z] });
      sliceLinks.push({ source: b.viewportId, target: a.viewportId, translation: [0 - x, 0 - y, 0 - z] });
      if (a.modality === b.modality && !a.color && !b.color) voiPairs.push([a.viewportId, b.viewportId]);
    }
  }
  for (const [a, b] of voiPairs) parent.set(root(a), root(b));
  const groups = new Map<string, string[]>();
  for (const [a, b] of voiPairs) {
    for (const id of [a, b]) {
      const members = groups.get(root(id)) ?? [];
      if (!members.includes(id)) members.push(id);
      groups.set(root(id), members);
    }
  }
  return { sliceLinks, voiGroups: [...groups.values()] };
}

/** A 4×4 translation in the column-major layout gl-matrix (and Cornerstone's registration metadata) uses. */
export function translationMatrix([x, y, z]: readonly [number, number, number]): number[] {
  return [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, x, y, z, 1];
}
