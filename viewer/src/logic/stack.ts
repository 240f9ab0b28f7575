import { number, numbers, text, type DicomJson } from '../dicom/dataset.ts';

/** One image of a stack: a frame of an instance (single-frame instances have frame 1 only). */
export interface StackFrame {
  sopInstanceUid: string;
  frameNumber: number;
  instance: DicomJson;
}

function cross(a: number[], b: number[]): [number, number, number] {
  return [a[1]! * b[2]! - a[2]! * b[1]!, a[2]! * b[0]! - a[0]! * b[2]!, a[0]! * b[1]! - a[1]! * b[0]!];
}

/**
 * Orders a series' instances for scrolling and expands multi-frame instances into their frames.
 * Cross-sectional slices that share one orientation go by position along the slice normal,
 * head first for axial (descending along normal = row × column), as radiologists page a CT;
 * anything else (radiographs, cine loops, mixed orientations) by Instance Number.
 */
export function orderStack(instances: readonly DicomJson[]): StackFrame[] {
  const orientation = numbers(instances[0] ?? {}, 'ImageOrientationPatient');
  const sameOrientation =
    orientation.length === 6 &&
    instances.every((instance) => {
      const other = numbers(instance, 'ImageOrientationPatient');
      return other.length === 6 && other.every((value, index) => Math.abs(value - orientation[index]!) < 1e-3);
    });
  const positioned = sameOrientation && instances.every((instance) => numbers(instance, 'ImagePositionPatient').length === 3);
  let ordered: DicomJson[];
  if (positioned && instances.length > 1) {
    const normal = cross(orientation.slice(0, 3), orientation.slice(3, 6));
    const along = (instance: DicomJson) => {
      const position = numbers(instance, 'ImagePositionPatient');
      return position[0]! * normal[0] + position[1]! * normal[1] + position[2]! * normal[2];
    };
    ordered = [...instances].sort((a, b) => along(b) - along(a) || instanceNumber(a) - instanceNumber(b));
  } else {
    ordered = [...instances].sort((a, b) => instanceNumber(a) - instanceNumber(b));
  }
  return ordered.flatMap((instance) => {
    const frames = Math.max(1, number(instance, 'NumberOfFrames') ?? 1);
    const sopInstanceUid = text(instance, 'SOPInstanceUID');
    return Array.from({ length: frames }, (_, index) => ({ sopInstanceUid, frameNumber: index + 1, instance }));
  });
}

function instanceNumber(instance: DicomJson): number {
  return number(instance, 'InstanceNumber') ?? Number.MAX_SAFE_INTEGER;
}
