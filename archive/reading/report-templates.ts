import type { ReportTemplate } from './report.ts';

/**
 * The templates and phrases Yingyun ships, in Chinese and English, by modality and body part: the
 * normal report a reader edits from, as Chinese departments write them. Centres add their own
 * (report_templates); these stay as data here so that an upgrade can improve them.
 */
const shipped = (entry: Omit<ReportTemplate, 'institutionId'>): ReportTemplate => ({ ...entry, institutionId: null });

export const SHIPPED_TEMPLATES: readonly ReportTemplate[] = [
  shipped({
    id: 'ct-chest-zh',
    kind: 'template',
    modality: 'CT',
    bodyPart: 'CHEST',
    language: 'zh-CN',
    name: '胸部CT平扫（正常）',
    findings: '胸廓对称，气管居中。双肺纹理清晰，走行自然，肺野内未见明确实变及结节影。各叶段支气管通畅。双侧肺门不大，纵隔内未见肿大淋巴结。心影大小、形态未见异常。双侧胸腔未见积液，胸膜无增厚。',
    impression: '胸部CT平扫未见明显异常。',
  }),
  shipped({
    id: 'ct-chest-en',
    kind: 'template',
    modality: 'CT',
    bodyPart: 'CHEST',
    language: 'en',
    name: 'CT chest without contrast (normal)',
    findings: 'The thorax is symmetric and the trachea midline. The lungs are clear, without consolidation or nodules. The airways are patent. The hila are not enlarged; no mediastinal lymphadenopathy. Heart size and shape are normal. No pleural effusion or thickening.',
    impression: 'Normal CT of the chest.',
  }),
  shipped({
    id: 'ct-head-zh',
    kind: 'template',
    modality: 'CT',
    bodyPart: 'HEAD',
    language: 'zh-CN',
    name: '颅脑CT平扫（正常）',
    findings: '脑实质密度均匀，灰白质分界清楚，未见异常密度影。脑室系统大小、形态正常，脑沟、脑裂、脑池未见增宽，中线结构居中。颅骨未见骨折征象。',
    impression: '颅脑CT平扫未见明显异常。',
  }),
  shipped({
    id: 'ct-head-en',
    kind: 'template',
    modality: 'CT',
    bodyPart: 'HEAD',
    language: 'en',
    name: 'CT head without contrast (normal)',
    findings: 'Brain parenchyma of uniform density with normal grey-white differentiation; no abnormal density. Ventricles, sulci and cisterns of normal size; midline structures central. No skull fracture.',
    impression: 'Normal CT of the head.',
  }),
  shipped({
    id: 'mr-head-zh',
    kind: 'template',
    modality: 'MR',
    bodyPart: 'HEAD',
    language: 'zh-CN',
    name: '颅脑MRI平扫（正常）',
    findings: '脑实质内未见异常信号影，DWI未见弥散受限。脑室系统未见扩大，脑沟、脑裂未见增宽，中线结构居中。',
    impression: '颅脑MRI平扫未见明显异常。',
  }),
  shipped({
    id: 'dx-chest-zh',
    kind: 'template',
    modality: 'DX',
    bodyPart: 'CHEST',
    language: 'zh-CN',
    name: '胸部正位片（正常）',
    findings: '双肺纹理清晰，肺野内未见实变影。双侧肺门影不大。心影大小、形态正常。双膈面光整，肋膈角锐利。',
    impression: '心肺膈未见明显异常。',
  }),
  shipped({
    id: 'dx-chest-en',
    kind: 'template',
    modality: 'DX',
    bodyPart: 'CHEST',
    language: 'en',
    name: 'Chest radiograph PA (normal)',
    findings: 'The lungs are clear. The hila are normal. Heart size is normal. The diaphragm is smooth and the costophrenic angles are sharp.',
    impression: 'No acute cardiopulmonary abnormality.',
  }),
  shipped({ id: 'phrase-nodule-followup-zh', kind: 'phrase', modality: 'CT', bodyPart: 'CHEST', language: 'zh-CN', name: '结节随访建议', findings: '', impression: '建议3-6个月后复查胸部CT。' }),
  shipped({ id: 'phrase-compare-prior-zh', kind: 'phrase', modality: null, bodyPart: null, language: 'zh-CN', name: '与前片比较', findings: '与前片比较，', impression: '' }),
  shipped({ id: 'phrase-clinical-correlation-zh', kind: 'phrase', modality: null, bodyPart: null, language: 'zh-CN', name: '结合临床', findings: '', impression: '请结合临床。' }),
  shipped({ id: 'phrase-clinical-correlation-en', kind: 'phrase', modality: null, bodyPart: null, language: 'en', name: 'Clinical correlation', findings: '', impression: 'Clinical correlation is recommended.' }),
];
