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
  'auth.invalidCredentials': {
    en: 'Sign-in failed: the user name or password is wrong (after repeated failures, wait a moment before trying again)',
    zh: '登录失败：用户名或密码错误（多次失败后请稍候再试）',
  },
  'auth.disabled': { en: 'This account is disabled', zh: '该账户已停用' },
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

export function message(key: MessageKey, acceptLanguage?: string): string {
  return catalogue[key][preferredLanguage(acceptLanguage)];
}
