import { h, hideBrokenImage } from './dom.ts';

/** A series thumbnail as an object URL: fetched by the DICOMweb client, which sends the purpose of use an <img> could not. */
export type ThumbnailSource = (studyInstanceUid: string, seriesInstanceUid: string) => Promise<string>;

/** An <img> that shows the thumbnail once it has arrived, and stays an empty frame if it cannot. */
export function thumbnailImage(source: ThumbnailSource, studyInstanceUid: string, seriesInstanceUid: string, size: number, draggable = true): HTMLImageElement {
  const image = h('img', { onerror: hideBrokenImage, alt: '', width: size, height: size, draggable: draggable ? undefined : 'false' });
  source(studyInstanceUid, seriesInstanceUid).then(
    (url) => {
      image.src = url;
    },
    () => {
      image.style.visibility = 'hidden';
    },
  );
  return image;
}
