/**
 * The documents a reader adds to a study while reading it: a TID 1500 measurement report (Enhanced
 * SR, or Comprehensive 3D SR for measurements in patient space; Comprehensive SR as other viewers
 * write it) and a Key Object Selection Document. A reading centre may add these, and only these, to
 * the studies of its region's hospitals by STOW-RS (gateway/http/dicomweb/stow-routes.ts); the viewer
 * writes them (viewer/src/measurements/structured-report.ts).
 */
export const READER_DOCUMENT_SOP_CLASS = {
  enhancedSr: '1.2.840.10008.5.1.4.1.1.88.22',
  comprehensiveSr: '1.2.840.10008.5.1.4.1.1.88.33',
  comprehensive3dSr: '1.2.840.10008.5.1.4.1.1.88.34',
  keyObjectSelection: '1.2.840.10008.5.1.4.1.1.88.59',
} as const;

export const READER_DOCUMENT_SOP_CLASSES: readonly string[] = Object.values(READER_DOCUMENT_SOP_CLASS);
