// dcmjs ships no types; this is the part of its API Yingyun uses: its PS3.6 data dictionary, and
// reading and writing a Part 10 file (tests derive edited copies of real files; the report SR job writes new ones).
declare module 'dcmjs' {
  interface DicomDict {
    dict: Record<string, { vr: string; Value: unknown[] }>;
    write(): ArrayBuffer;
  }
  const dcmjs: {
    data: {
      DicomMetaDictionary: { nameMap: Record<string, { tag: string; vr: string; name: string }> };
      DicomMessage: { readFile(part10: ArrayBuffer): DicomDict };
      DicomDict: new (meta: Record<string, { vr: string; Value: unknown[] }>) => DicomDict;
    };
  };
  export default dcmjs;
}
