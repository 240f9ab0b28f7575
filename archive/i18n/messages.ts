/**
 * Every user-visible string, in Simplified Chinese and English. Server messages pick the language
 * from Accept-Language (zh first when it is preferred), defaulting to English for machines.
 */
const catalogue = {
  'problem.badRequest': { en: 'Bad request', zh: '请求无效' },
  'problem.unauthorized': { en: 'Authentication required', zh: '需要身份认证' },
  'problem.forbidden': { en: 'Forbidden', zh: '无权访问' },
  'problem.notFound': { en: 'Not found', zh: '未找到' },
  'problem.notAcceptable': { en: 'Not acceptable', zh: '无法提供所请求的格式' },
  'problem.conflict': { en: 'Conflict', zh: '冲突' },
  'problem.tooLarge': { en: 'Request too large', zh: '请求内容过大' },
  'problem.unsupportedMediaType': { en: 'Unsupported media type', zh: '不支持的媒体类型' },
  'problem.unavailable': { en: 'Service unavailable', zh: '服务暂不可用' },
  'problem.badGateway': { en: 'Bad gateway', zh: '网关错误' },
  'problem.internal': { en: 'Internal error', zh: '服务器内部错误' },
  'problem.notImplemented': { en: 'Not implemented', zh: '尚未实现' },
  'problem.tooManyRequests': { en: 'Too many requests', zh: '请求过于频繁' },
  'problem.readBackMismatch': { en: 'The read-back does not match the critical finding', zh: '复述内容与危急值不符' },
  'problem.notReportableHere': { en: 'This study is open to you for consultation only: its report is written by its hospital or reading centre', zh: '您仅可通过会诊或分享查看此检查，报告由其所属医院或诊断中心书写' },
  // The report PDF (archive/reading/report-pdf.ts): labels are printed in both languages, Chinese first.
  'reportPdf.title': { en: 'Diagnostic Imaging Report', zh: '影像诊断报告' },
  'reportPdf.status.preliminary': { en: 'Preliminary report, awaiting verification', zh: '初步报告（待审核）' },
  'reportPdf.status.final': { en: 'Final report', zh: '正式报告' },
  'reportPdf.status.amended': { en: 'Amended report', zh: '更正报告' },
  'reportPdf.patientName': { en: 'Name', zh: '姓名' },
  'reportPdf.patientId': { en: 'Patient ID', zh: '患者编号' },
  'reportPdf.sex': { en: 'Sex', zh: '性别' },
  'reportPdf.sex.M': { en: 'Male', zh: '男' },
  'reportPdf.sex.F': { en: 'Female', zh: '女' },
  'reportPdf.sex.O': { en: 'Other', zh: '其他' },
  'reportPdf.birthDate': { en: 'Date of birth', zh: '出生日期' },
  'reportPdf.accession': { en: 'Accession No.', zh: '检查号' },
  'reportPdf.studyDate': { en: 'Study date', zh: '检查日期' },
  'reportPdf.examination': { en: 'Examination', zh: '检查项目' },
  'reportPdf.referrer': { en: 'Referring physician', zh: '申请医生' },
  'reportPdf.findings': { en: 'Findings', zh: '检查所见' },
  'reportPdf.impression': { en: 'Impression', zh: '诊断意见' },
  'reportPdf.critical': { en: 'Critical finding', zh: '危急值' },
  'reportPdf.amendmentReason': { en: 'Reason for amendment', zh: '更正原因' },
  'reportPdf.keyImages': { en: 'Key images', zh: '关键图像' },
  'reportPdf.preliminarySigner': { en: 'Reported by', zh: '初诊医师' },
  'reportPdf.finalSigner': { en: 'Verified by', zh: '审核医师' },
  'reportPdf.licence': { en: 'Licence No.', zh: '执业证号' },
  'reportPdf.film': { en: 'Scan for your cloud film', zh: '扫码查看云胶片' },
  // The HR mark as it stood when the version was printed (a signed document is not rewritten later).
  'reportPdf.hrMark': { en: 'Mutual recognition (HR mark)', zh: '检查结果互认' },
  'reportPdf.hrValidUntil': { en: 'valid until', zh: '有效期至' },
  'reportPdf.hrNone': { en: 'No HR mark as of', zh: '无互认标识，评估日期' },
  'reportPdf.footer': { en: 'Electronically signed report, Yingyun regional imaging cloud', zh: '电子签名报告 · 影云区域影像云' },
  'fhir.unidentifiedPatient': { en: 'Patient without ID or name', zh: '无编号及姓名的患者' },
  'auth.invalidCredentials': {
    en: 'Sign-in failed: the user name or password is wrong (after repeated failures, wait a moment before trying again)',
    zh: '登录失败：用户名或密码错误（多次失败后请稍候再试）',
  },
  'auth.disabled': { en: 'This account is disabled', zh: '该账户已停用' },
  // The patient's cloud film page (gateway/http/film): server-rendered, so its text lives here.
  'film.title': { en: 'Cloud film', zh: '云胶片' },
  'film.factor.birth-date': { en: "Enter the patient's date of birth (e.g. 1980-03-07) to see the images and the report", zh: '请输入患者出生日期（例如 1980-03-07）查看影像和报告' },
  'film.factor.phone-last4': { en: "Enter the last 4 digits of the patient's mobile phone number to see the images and the report", zh: '请输入患者手机号码后 4 位查看影像和报告' },
  'film.factor.submit': { en: 'Open', zh: '查看' },
  'film.refused.wrong-factor': { en: 'That is not right. Try again: the link locks after repeated mistakes.', zh: '输入不正确，请重试。多次输入错误后链接将被锁定。' },
  'film.refused.locked': { en: 'This link is locked after repeated wrong entries. Ask the hospital to send a new one.', zh: '多次输入错误，此链接已锁定。请联系检查医院重新发送。' },
  'film.refused.expired': { en: 'This link has expired. Ask the hospital to send a new one.', zh: '此链接已过期。请联系检查医院重新发送。' },
  'film.refused.revoked': { en: 'The hospital has withdrawn this link.', zh: '此链接已被医院撤销。' },
  'film.refused.unknown': { en: 'This link is not valid. Check that the whole link from the message was opened.', zh: '链接无效。请确认打开的是短信中的完整链接。' },
  'film.refused.throttled': { en: 'Too many attempts from this network. Try again in 15 minutes.', zh: '尝试次数过多，请 15 分钟后再试。' },
  'film.refused.stale-form': { en: 'This page was already used or has timed out. Enter it again to see the images and the report.', zh: '此页面已使用或已超时，请重新输入后查看影像和报告。' },
  'film.report': { en: 'Report', zh: '诊断报告' },
  'film.findings': { en: 'Findings', zh: '检查所见' },
  'film.impression': { en: 'Impression', zh: '诊断意见' },
  'film.verifiedBy': { en: 'Verified by', zh: '审核医生' },
  'film.amended': { en: 'Amended report', zh: '更正报告' },
  'film.noReport': { en: 'The report is not published yet.', zh: '报告尚未发布。' },
  'film.keyImages': { en: 'Key images', zh: '关键图像' },
  'film.representativeImages': { en: 'Images', zh: '代表图像' },
  'film.allImages': { en: 'All images', zh: '全部影像' },
  'film.swipe': { en: 'Swipe left or right for the next image; pinch to zoom.', zh: '左右滑动查看上一幅 / 下一幅，双指缩放。' },
  'film.series': { en: 'Series', zh: '序列' },
  'film.private': { en: "For the patient and the patient's doctors only: please do not forward this link.", zh: '仅供患者本人及其医生查看，请勿转发此链接。' },
  'film.otherLanguage': { en: '中文', zh: 'English' },
  // The county edge's status page (gateway/http/edge, docs/edge.md)
  'edge.title': { en: 'Forwarding to the region', zh: '上传区域影像云' },
  'edge.region': { en: 'Region', zh: '区域平台' },
  'edge.link': { en: 'Link', zh: '链路' },
  'edge.link.up': { en: 'up', zh: '正常' },
  'edge.link.down': { en: 'down', zh: '中断' },
  'edge.link.unknown': { en: 'not tried yet', zh: '尚未连接' },
  'edge.link.since': { en: 'since', zh: '自' },
  'edge.lastError': { en: 'Last error', zh: '最近错误' },
  'edge.nextAttempt': { en: 'Next attempt', zh: '下次重试' },
  'edge.backlog': { en: 'Waiting to be sent or verified', zh: '待上传或待校验' },
  'edge.backlogBytes': { en: 'Size waiting', zh: '待上传数据量' },
  'edge.oldest': { en: 'Oldest waiting since', zh: '最早待上传影像接收于' },
  'edge.none': { en: 'none', zh: '无' },
  'edge.throughput': { en: 'Upload rate (last minute)', zh: '上传速率（近 1 分钟）' },
  'edge.cap': { en: 'Bandwidth cap', zh: '带宽上限' },
  'edge.noCap': { en: 'no cap', zh: '不限速' },
  'edge.verifiedKept': { en: 'Verified at the region, local copy kept', zh: '区域已校验、本地暂存' },
  'edge.deleted': { en: 'Verified and deleted here', zh: '已校验并已删除本地副本' },
  'edge.retention': { en: 'Local copies kept after verification', zh: '校验后本地保留时长' },
  'edge.hours': { en: 'hours', zh: '小时' },
  // Image QC (archive/quality/qc-scales.ts): the default grade scales and defect catalogue.
  'qc.grade.A': { en: 'Grade A', zh: '甲级' },
  'qc.grade.B': { en: 'Grade B', zh: '乙级' },
  'qc.grade.C': { en: 'Grade C', zh: '丙级' },
  'qc.grade.reject': { en: 'Reject', zh: '废片' },
  'qc.grade.excellent': { en: 'Excellent', zh: '优' },
  'qc.grade.good': { en: 'Good', zh: '良' },
  'qc.grade.acceptable': { en: 'Acceptable', zh: '合格' },
  'qc.grade.unacceptable': { en: 'Unacceptable (repeat)', zh: '不合格' },
  'qc.defect.positioning': { en: 'Positioning', zh: '体位不正' },
  'qc.defect.centring': { en: 'Centring off', zh: '中心线或定位中心偏离' },
  'qc.defect.scan-range': { en: 'Scan range incomplete', zh: '扫描范围不足' },
  'qc.defect.collimation': { en: 'Collimation (field too wide or cut off)', zh: '照射野或准直不当' },
  'qc.defect.artefact-motion': { en: 'Motion artefact', zh: '运动伪影' },
  'qc.defect.artefact-metal': { en: 'Metal artefact', zh: '金属伪影' },
  'qc.defect.artefact-foreign-body': { en: 'Foreign body artefact', zh: '异物伪影' },
  'qc.defect.artefact-equipment': { en: 'Equipment artefact', zh: '设备伪影' },
  'qc.defect.exposure-under': { en: 'Underexposed or noisy', zh: '曝光不足或噪声过大' },
  'qc.defect.exposure-over': { en: 'Overexposed', zh: '曝光过度' },
  'qc.defect.dose-excessive': { en: 'Dose above the reference level', zh: '剂量超出参考水平' },
  'qc.defect.labels-missing': { en: 'Labels missing (hospital, date, examination)', zh: '标识不全（医院、日期、检查信息）' },
  'qc.defect.lr-marker-missing': { en: 'Left/right marker missing', zh: '缺少左右标识' },
  'qc.defect.lr-marker-wrong': { en: 'Left/right marker wrong', zh: '左右标识错误' },
  'qc.defect.window-missing': { en: 'Required window missing', zh: '缺少必要的窗位图像' },
  'qc.defect.sequence-missing': { en: 'Required sequence missing', zh: '缺少必要序列' },
  'qc.defect.phase-missing': { en: 'Required phase missing', zh: '缺少必要期相' },
  'qc.defect.patient-data-missing': { en: 'Patient data missing', zh: '患者信息缺失' },
  'qc.defect.patient-data-wrong': { en: 'Patient data wrong', zh: '患者信息错误' },
  // Report QC (报告质控, archive/quality/qc-worklist.ts): the grades and error categories QC staff give a signed report.
  'reportQc.grade.conforming': { en: 'Conforming', zh: '符合' },
  'reportQc.grade.basically-conforming': { en: 'Basically conforming', zh: '基本符合' },
  'reportQc.grade.non-conforming': { en: 'Non-conforming', zh: '不符合' },
  'reportQc.error.missed-finding': { en: 'Missed finding', zh: '漏诊' },
  'reportQc.error.wrong-laterality': { en: 'Wrong side (left/right)', zh: '左右侧错误' },
  'reportQc.error.inconsistent-findings-impression': { en: 'Findings and impression inconsistent', zh: '描述与诊断不一致' },
  'reportQc.error.non-standard-terms': { en: 'Non-standard terms', zh: '术语不规范' },
  'reportQc.error.late': { en: 'Reported late', zh: '报告超时' },
  // The mutual-recognition mark (archive/recognition/hr-mark.ts): default items and why a study lacks it.
  'recognition.item.DR-CHEST': { en: 'Chest radiograph (DR)', zh: '胸部 DR' },
  'recognition.item.CT-HEAD': { en: 'CT head', zh: '头颅 CT' },
  'recognition.item.CT-CHEST': { en: 'CT chest', zh: '胸部 CT' },
  'recognition.item.CT-ABDOMEN': { en: 'CT abdomen', zh: '腹部 CT' },
  'recognition.item.MR-HEAD': { en: 'MR head', zh: '头颅 MR' },
  'recognition.item.MR-LSPINE': { en: 'MR lumbar spine', zh: '腰椎 MR' },
  'recognition.item.MR-KNEE': { en: 'MR knee', zh: '膝关节 MR' },
  'recognition.absent.no-examination-item': { en: 'Not an examination item recognised in this region', zh: '不属于本地区互认检查项目' },
  'recognition.absent.institution-not-accredited': { en: 'The institution is not accredited for this item', zh: '检查机构未获得该项目互认资格' },
  'recognition.absent.accreditation-not-current': { en: "The institution's accreditation for this item is not current", zh: '检查机构该项目的互认资格不在有效期内' },
  'recognition.absent.not-graded': { en: 'Image quality not graded yet', zh: '尚未进行影像质控评级' },
  'recognition.absent.no-qc-scale': { en: 'No quality grade scale for this modality', zh: '该检查类型未配置质控评级标准' },
  'recognition.absent.grade-rejected': { en: 'Rejected for quality', zh: '影像质控评为废片或不合格' },
  'recognition.absent.grade-below-minimum': { en: 'Quality grade below the recognition minimum', zh: '影像质控等级低于互认要求' },
  'recognition.absent.study-date-unknown': { en: 'Study date unknown', zh: '检查日期不详' },
  'recognition.absent.beyond-validity': { en: 'Beyond the validity period for recognition', zh: '已超出互认有效期' },
  // Recognition decisions (archive/recognition/recognition-reasons.ts): default non-recognition reasons.
  'recognition.reason.condition-changed': { en: 'Condition changed, or the result does not match the clinical picture', zh: '病情变化，已有结果与临床表现或诊断不符' },
  'recognition.reason.rapidly-changing': { en: 'Result changes quickly as the disease develops', zh: '检查结果在疾病发展过程中变化较快' },
  'recognition.reason.major-intervention': { en: 'Before a major intervention (surgery, transfusion)', zh: '手术、输血等重大医疗措施前' },
  'recognition.reason.emergency': { en: 'Emergency or life-saving care', zh: '急诊、急救等抢救生命的紧急状态' },
  'recognition.reason.appraisal': { en: 'Forensic, disability or retirement appraisal', zh: '涉及司法、伤残及病退等鉴定' },
  'recognition.reason.quality-insufficient': { en: 'Quality insufficient, or external quality assessment failed', zh: '图像质量不满足诊疗需要或未通过质控评价' },
  'recognition.reason.beyond-validity': { en: 'Done too long ago to be of value', zh: '检查时间距今较长，已无参考价值' },
  'recognition.reason.patient-request': { en: 'The patient or family asks for a new examination', zh: '患者或其亲属要求进一步检查' },
  'recognition.reason.physician-judgement': { en: 'The physician judges a new examination necessary', zh: '诊治医师认为有必要再次检查' },
  // The region's statistics (archive/statistics): dimensions, figures and the exports' labels.
  'statistics.sheet': { en: 'Statistics', zh: '统计' },
  'statistics.total': { en: 'Total', zh: '合计' },
  'statistics.dimension.institution': { en: 'Institution', zh: '医疗机构' },
  'statistics.dimension.modality': { en: 'Modality', zh: '检查类型' },
  'statistics.dimension.technologist': { en: 'Technologist', zh: '技师' },
  'statistics.dimension.month': { en: 'Month', zh: '月份' },
  'statistics.figure.studies': { en: 'Studies received', zh: '检查数' },
  'statistics.figure.graded': { en: 'Studies QC-graded', zh: '质控评级数' },
  'statistics.figure.grade': { en: 'Grade', zh: '等级' },
  'statistics.figure.aGradeRate': { en: 'A-grade rate (%)', zh: '甲片率（%）' },
  'statistics.figure.reportsFinal': { en: 'Final reports', zh: '终审报告数' },
  'statistics.figure.reportQcRate': { en: 'Report QC conforming rate (%)', zh: '报告质控符合率（%）' },
  'statistics.figure.reportQcGradedShare': { en: 'Reports QC-graded (%)', zh: '报告质控抽查率（%）' },
  'statistics.figure.turnaroundMedian': { en: 'Report turnaround, median (min)', zh: '报告时长中位数（分钟）' },
  'statistics.figure.turnaroundP90': { en: 'Report turnaround, 90th percentile (min)', zh: '报告时长第90百分位（分钟）' },
  'statistics.figure.eligibleViewed': { en: 'Eligible priors viewed', zh: '可互认检查调阅数' },
  'statistics.figure.recognised': { en: 'Recognised', zh: '互认数' },
  'statistics.figure.recognitionRate': { en: 'Recognition rate (%)', zh: '互认率（%）' },
  'statistics.figure.notRecognised': { en: 'Not recognised', zh: '未互认数' },
  'statistics.figure.repeatsAvoided': { en: 'Repeat examinations avoided', zh: '减少重复检查（人次）' },
  'statistics.figure.costAvoided': { en: 'Cost avoided (yuan)', zh: '节约费用（元）' },
} as const;

export type MessageKey = keyof typeof catalogue;
export type Language = 'en' | 'zh';

export function preferredLanguage(acceptLanguage: string | undefined): Language {
  if (!acceptLanguage) return 'en';
  const ranked = acceptLanguage
    .split(',')
    .map((part) => {
      const [tag = '', ...parameters] = part.trim().split(';');
      const quality = parameters.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag: tag.toLowerCase(), quality: quality ? Number(quality.slice(2)) || 0 : 1 };
    })
    .filter((entry) => entry.quality > 0)
    .sort((a, b) => b.quality - a.quality);
  for (const { tag } of ranked) {
    if (tag.startsWith('zh')) return 'zh';
    if (tag.startsWith('en')) return 'en';
  }
  return 'en';
}

/** Whether a configured label (a centre's QC scale, a province's reasons) names an entry of this catalogue. */
export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(catalogue, key);
}

export function message(key: MessageKey, acceptLanguage?: string): string {
  return catalogue[key][preferredLanguage(acceptLanguage)];
}
