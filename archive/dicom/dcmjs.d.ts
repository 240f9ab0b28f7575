// dcmjs ships no types; this is the part of its API Yingyun uses (its PS3.6 data dictionary).
declare module 'dcmjs' {
  const dcmjs: {
    data: {
      DicomMetaDictionary: { nameMap: Record<string, { tag: string; vr: string; name: string }> };
    };
  };
  export default dcmjs;
}
