import type { NextFunction, Request, Response } from 'express';
import { message, type MessageKey } from '../../archive/i18n/messages.ts';

/**
 * An error a client can act on, sent as RFC 9457 problem JSON. `title` comes from the zh-CN/en
 * catalogue in the caller's Accept-Language; `detail` says what exactly was wrong.
 */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly titleKey: MessageKey,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

/** What a domain service throws when it refuses: the HTTP status it maps to, and why. */
interface ServiceRefusal extends Error {
  readonly httpStatus: number;
  readonly reason: string;
}

/**
 * Wraps a route handler so that its service's refusals (of `refusal`'s class) are answered as problem
 * JSON titled from `titles`; any other error goes on to the error handler as a failure.
 */
export function answeringRefusals<E extends ServiceRefusal, S extends E['httpStatus']>(
  refusal: abstract new (...args: never[]) => E,
  titles: Record<S, MessageKey>,
) {
  return (handler: (request: Request, response: Response) => Promise<void>) => async (request: Request, response: Response) => {
    try {
      await handler(request, response);
    } catch (error) {
      if (!(error instanceof refusal)) throw error;
      throw new HttpProblem(error.httpStatus, titles[error.httpStatus as S], error.reason);
    }
  };
}

export function sendProblem(request: Request, response: Response, problem: HttpProblem): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response
    .status(problem.status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: 'about:blank',
        status: problem.status,
        title: message(problem.titleKey, request.headers['accept-language']),
        detail: problem.detail,
        ...problem.extra,
      }),
    );
}

/** The last middleware: every error becomes problem JSON; no stack trace ever reaches a client. */
export function problemHandler(log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void }) {
  return (error: unknown, request: Request, response: Response, _next: NextFunction): void => {
    const problem = toProblem(error);
    const context = { method: request.method, url: request.originalUrl, remoteAddress: request.socket.remoteAddress, status: problem.status };
    if (problem.status >= 500) log.error({ ...context, err: error }, 'request failed');
    else log.warn({ ...context, detail: problem.detail }, 'request rejected');
    sendProblem(request, response, problem);
  };
}

function toProblem(error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error;
  const status = (error as { status?: unknown; statusCode?: unknown })?.status ?? (error as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // body-parser and express raise these for oversized or unparseable bodies
    return new HttpProblem(status, status === 413 ? 'problem.tooLarge' : 'problem.badRequest', (error as Error).message);
  }
  return new HttpProblem(500, 'problem.internal', 'the server could not complete the request; it has been logged');
}
