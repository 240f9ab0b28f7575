import { requestHeaders } from '../logic/session.ts';

/**
 * A failed request, with what the archive said (its problem JSON `title` and `detail`) so the
 * reader sees a reason, not a blank screen. `status` is 0 when the server did not answer at all.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly url: string,
    readonly title = '',
    /** Retry-After, on 423 (account locked) and 429. */
    readonly retryAfterSeconds?: number,
    /** The problem's `reason`, when the archive names why in a word a client can act on. */
    readonly reason?: string,
  ) {
    super(status ? `HTTP ${status}: ${detail}` : detail);
  }
}

/** What every request needs from the page, asked at the time of the request. */
export interface ConnectionContext {
  /** `document.cookie`: the CSRF token is read from it for unsafe methods. */
  cookies(): string;
  locale(): string;
  /** The purpose of use the reader stated, if any. */
  purpose(): string | undefined;
  /** A request was refused for want of a session (expired, revoked, signed out in another tab). */
  unauthorized(): void;
}

export interface RequestOptions {
  method?: string;
  accept?: string;
  /** Sent as application/json. */
  json?: unknown;
  /** Any other body (a STOW-RS multipart), sent with its own Content-Type. */
  body?: { content: Blob; contentType: string };
  /** Patient data: carries the stated purpose of use. */
  withPurpose?: boolean;
  /** A 401 here is an answer, not a lost session (signing in, asking whether one is signed in). */
  unauthorizedIsAnswer?: boolean;
}

/**
 * The viewer's one way to the archive over HTTP: the session cookie, the CSRF header on unsafe
 * methods, the reader's language, the purpose of use on patient data, and problem JSON turned
 * into ApiError. Every client (DICOMweb, sign-in, administration) goes through it.
 */
export class Connection {
  constructor(
    private readonly context: ConnectionContext,
    private readonly fetcher: typeof fetch = (...args) => fetch(...args),
  ) {}

  async request(url: string, options: RequestOptions = {}): Promise<Response> {
    const method = options.method ?? 'GET';
    const headers = requestHeaders({
      method,
      accept: options.accept,
      json: options.json !== undefined,
      locale: this.context.locale(),
      cookies: this.context.cookies(),
      purpose: options.withPurpose ? this.context.purpose() : undefined,
    });
    if (options.body) headers['Content-Type'] = options.body.contentType;
    let response: Response;
    try {
      response = await this.fetcher(url, { method, headers, credentials: 'same-origin', body: options.json === undefined ? options.body?.content : JSON.stringify(options.json) });
    } catch (error) {
      throw new ApiError(0, error instanceof Error ? error.message : String(error), url);
    }
    if (response.ok) return response;
    const problem = await readProblem(response);
    if (response.status === 401 && !options.unauthorizedIsAnswer) this.context.unauthorized();
    const retryAfter = Number(response.headers.get('retry-after'));
    throw new ApiError(response.status, problem.detail, url, problem.title, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined, problem.reason);
  }

  /** A JSON answer (undefined for 204 No Content). */
  async json<T>(url: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(url, { accept: 'application/json', ...options });
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}

async function readProblem(response: Response): Promise<{ title: string; detail: string; reason?: string }> {
  const body = await response.text().catch(() => '');
  try {
    const problem = JSON.parse(body) as { detail?: string; title?: string; reason?: unknown };
    return { title: problem.title ?? '', detail: problem.detail ?? problem.title ?? response.statusText, reason: typeof problem.reason === 'string' ? problem.reason : undefined };
  } catch {
    return { title: '', detail: body.slice(0, 200) || response.statusText };
  }
}
