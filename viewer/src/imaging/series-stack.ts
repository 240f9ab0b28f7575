import { wadors } from '@cornerstonejs/dicom-image-loader';
import { numbers, text, type DicomJson } from '../dicom/dataset.ts';
import type { DicomWebClient } from '../dicomweb/client.ts';
import { orderStack, type StackFrame } from '../logic/stack.ts';
import type { StackInput } from './engine.ts';

export interface SeriesStack extends StackInput {
  frames: StackFrame[];
}

/**
 * A series' WADO-RS metadata as a Cornerstone stack: frames in reading order, each frame's image
 * id a WADO-RS frame URL, and the instance's header registered for it so Cornerstone knows
 * spacing, rescale, windows and orientation without fetching anything else.
 */
export function seriesStack(client: DicomWebClient, studyInstanceUid: string, seriesInstanceUid: string, metadata: readonly DicomJson[]): SeriesStack {
  const frames = orderStack(metadata);
  const imageIds = frames.map((frame) => {
    const imageId = client.frameImageId(studyInstanceUid, seriesInstanceUid, frame.sopInstanceUid, frame.frameNumber);
    wadors.metaDataManager.add(imageId, frame.instance as Parameters<typeof wadors.metaDataManager.add>[1]);
    return imageId;
  });
  const first = frames[0]?.instance ?? {};
  const detector = numbers(first, 'ImagerPixelSpacing');
  const orientation = numbers(first, 'ImageOrientationPatient');
  const position = numbers(first, 'ImagePositionPatient');
  return {
    frames,
    imageIds,
    initialIndex: 0,
    // Radiographs often carry only the spacing at the detector, which Cornerstone's WADO-RS
    // metadata ignores (lengths would stay in pixels): measuring at the detector plane is what
    // PS3.3 10.7.1.3 allows without a magnification factor, and the overlay says so.
    detectorSpacing: numbers(first, 'PixelSpacing').length === 2 ? undefined : detector[0],
    geometry: {
      frameOfReferenceUid: text(first, 'FrameOfReferenceUID'),
      modality: text(first, 'Modality'),
      normal: orientation.length === 6 ? normalOf(orientation) : undefined,
      position: position.length === 3 ? [position[0]!, position[1]!, position[2]!] : undefined,
      color: !text(first, 'PhotometricInterpretation').startsWith('MONOCHROME'),
    },
  };
}

function normalOf(orientation: number[]): [number, number, number] {
  const [a0, a1, a2, b0, b1, b2] = orientation as [number, number, number, number, number, number];
  return [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0];
}

