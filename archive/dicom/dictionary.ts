import dcmjs from 'dcmjs';

/**
 * VR by tag, for implicit-VR datasets. dcmjs carries the PS3.6 data dictionary; its placeholder VRs
 * ('ox' OB-or-OW, 'xs' US-or-SS, …) are resolved to the VR implicit little endian implies.
 */
const PLACEHOLDERS: Record<string, string> = { ox: 'OW', xs: 'US', lt: 'OW', up: 'UL', na: 'UN' };

const byTag = new Map<string, string>();
const tagByKeyword = new Map<string, string>();
const keywordByTag = new Map<string, string>();
for (const [keyword, entry] of Object.entries(dcmjs.data.DicomMetaDictionary.nameMap as Record<string, { tag: string; vr: string }>)) {
  const tag = entry.tag.replace(/[(),]/g, '').toUpperCase();
  if (!/^[0-9A-F]{8}$/.test(tag)) continue;
  byTag.set(tag, PLACEHOLDERS[entry.vr] ?? entry.vr);
  tagByKeyword.set(keyword, tag);
  keywordByTag.set(tag, keyword);
}

/** 'PatientName' → '00100010'; also accepts the tag itself ('00100010'). */
export function tagOf(keywordOrTag: string): string | undefined {
  if (/^[0-9A-Fa-f]{8}$/.test(keywordOrTag)) return keywordOrTag.toUpperCase();
  return tagByKeyword.get(keywordOrTag);
}

/** '00100010' → 'PatientName', for messages a person reads. */
export function keywordOf(tag: string): string | undefined {
  return keywordByTag.get(tag);
}

/** `tag` is 8 upper-case hex digits. Repeating groups (overlays 60xx, curves 50xx) use their first group. */
export function vrOfTag(tag: string): string | undefined {
  const direct = byTag.get(tag);
  if (direct) return direct;
  const group = tag.slice(0, 4);
  if (/^60[0-1][0-9A-E]$/.test(group)) return byTag.get(`6000${tag.slice(4)}`);
  if (/^50[0-1][0-9A-E]$/.test(group)) return byTag.get(`5000${tag.slice(4)}`);
  if (tag.endsWith('0000')) return 'UL';
  return undefined;
}
