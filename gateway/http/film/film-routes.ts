import fs from 'node:fs';
import express, { Router, type Request, type Response } from 'express';
import { preferredLanguage, type Language } from '../../../archive/i18n/messages.ts';
import { RenderUnsupported, type RenderedImage } from '../../../archive/render/render.ts';
import { FrameOutOfRange } from '../../../archive/retrieve/frames.ts';
import { NotStored, RetrieveService } from '../../../archive/retrieve/retrieve-service.ts';
import { FILM_PATH, type FilmContent, type FilmRefusal } from '../../../archive/reading/share-links.ts';
import type { StoredShareLink } from '../../../archive/db/share-links-repository.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { isSecure } from '../access.ts';
import { isUid } from '../dicomweb/urls.ts';
import { HttpProblem } from '../problem.ts';
import { factorPage, filmPage, refusalPage, type FilmPageContext } from './film-page.ts';

/** The film session, set once the second factor is right; its path is the one link's. */
export const FILM_COOKIE = 'yingyun_film';

const STYLESHEET = fs.readFileSync(new URL('./film.css', import.meta.url));

/** Sharp enough on a phone (a 3× screen 400 points wide), small enough for a slow network. */
const FILM_IMAGE_SIZE = 1024;

type FilmImage = FilmContent['keyImages'][number];

const REFUSAL_STATUS: Record<FilmRefusal, number> = { unknown: 404, expired: 410, revoked: 410, locked: 403, throttled: 429, 'wrong-factor': 401, 'stale-form': 409 };

/**
 * The patient's cloud film, public in the access table and guarded here: /film/{token} asks for the
 * second factor, then shows the study; its images are served only with the film session cookie of
 * that link, and only from that link's study. Everything it does goes through ShareLinksService,
 * which audits each opening and each failure.
 */
export function filmRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = runtime.shareLinks;
  const retrieve = new RetrieveService(runtime.db.pool, runtime.store, runtime.renderer);

  router.get(`${FILM_PATH}/film.css`, (_request, response) => {
    response.status(200).type('text/css').setHeader('Cache-Control', 'public, max-age=3600').send(STYLESHEET);
  });

  /**
   * One frame of the link's study as the film shows it (JPEG), recorded before it leaves; null when
   * the link's study has no such image (one of another study is recorded as a probe).
   */
  const filmImage = async (link: StoredShareLink, request: Request, image: FilmImage): Promise<RenderedImage | null> => {
    const { seriesInstanceUid, sopInstanceUid, frameNumber } = image;
    let rendered: RenderedImage;
    try {
      const stored = await retrieve.instance({ studyInstanceUid: link.studyInstanceUid, seriesInstanceUid, sopInstanceUid });
      rendered = await retrieve.render(stored, { format: 'jpeg', maxSize: FILM_IMAGE_SIZE, frameNumber });
    } catch (error) {
      if (error instanceof NotStored) await service.recordForeignImage(link, caller(request), { seriesInstanceUid, sopInstanceUid });
      if (error instanceof NotStored || error instanceof FrameOutOfRange || error instanceof RenderUnsupported) return null;
      throw error;
    }
    await service.recordImageAccess(link, caller(request), image);
    return rendered;
  };

  /**
   * The first key image as a data: URL, or undefined to let it load by its URL: a failure to draw it
   * here (a lost object, a renderer fault) must not cost the patient the whole page, and the image's
   * own request says what is wrong again should it fail there too.
   */
  const inlinedImage = async (link: StoredShareLink, request: Request, image: FilmImage): Promise<string | undefined> => {
    try {
      const inlined = await filmImage(link, request, image);
      return inlined ? `data:${inlined.contentType};base64,${inlined.bytes.toString('base64')}` : undefined;
    } catch (error) {
      runtime.log.warn({ err: error, shareLinkId: link.id, sopInstanceUid: image.sopInstanceUid }, 'cloud film: first key image not inlined, it loads by its URL');
      return undefined;
    }
  };

  /**
   * The film, with its first key image inside the page as a data: URL: on a phone's slow network each
   * request costs a round trip (0.56 s on DevTools' Slow 4G), and the first key image is what the
   * patient opened the link to see. The other images load by their URLs as they come near the screen.
   * The opening is recorded only once there is a film to show (a study gone since is a 404, no opening).
   */
  const sendFilm = async (request: Request, response: Response, context: FilmPageContext, link: StoredShareLink): Promise<void> => {
    const content = await service.content(link);
    if (!content) return sendPage(response, 404, refusalPage(context, 'unknown'));
    await service.recordPageOpening(link, caller(request));
    const first = content.keyImages[0];
    sendPage(response, 200, filmPage(context, content, first ? await inlinedImage(link, request, first) : undefined));
  };

  const sendFactorForm = async (response: Response, status: number, context: FilmPageContext, link: StoredShareLink, refusal?: FilmRefusal): Promise<void> => {
    sendPage(response, status, factorPage(context, link.factorKind!, await service.issueFormToken(link), refusal));
  };

  router.get(`${FILM_PATH}/:token`, async (request, response) => {
    const token = request.params.token as string;
    const context = pageContext(request, token);
    const opening = await service.open(token, caller(request));
    if (opening.kind === 'refused') return sendPage(response, REFUSAL_STATUS[opening.refusal], refusalPage(context, opening.refusal));
    if (opening.kind === 'ask-factor') return sendFactorForm(response, 200, context, opening.link);
    await sendFilm(request, response, context, opening.link);
  });

  router.post(`${FILM_PATH}/:token`, express.urlencoded({ extended: false, limit: '1kb' }), async (request, response) => {
    const token = request.params.token as string;
    const context = pageContext(request, token);
    const field = (name: string) => (typeof request.body?.[name] === 'string' ? (request.body[name] as string).slice(0, 128) : '');
    const result = await service.verifyFactor(token, field('factor').slice(0, 64), field('form'), caller(request));
    if (result.kind === 'verified') {
      response.cookie(FILM_COOKIE, result.session, { httpOnly: true, secure: isSecure(request), sameSite: 'strict', path: `${FILM_PATH}/${token}`, expires: result.expiresAt });
      // The film answers the right factor itself, not a redirect to it: one round trip less on a slow
      // network. A reload or Back sends this POST again, but its form token is spent by then: the form again.
      await sendFilm(request, response, context, result.link);
      return;
    }
    if (result.kind === 'refused' && (result.refusal === 'wrong-factor' || result.refusal === 'stale-form')) {
      return sendFactorForm(response, REFUSAL_STATUS[result.refusal], context, result.link!, result.refusal);
    }
    if (result.kind === 'refused') return sendPage(response, REFUSAL_STATUS[result.refusal], refusalPage(context, result.refusal));
    await sendFactorForm(response, 200, context, result.link);
  });

  // One frame of the link's study as JPEG. Anything else — another study, no cookie, a dead link — is 404.
  router.get(`${FILM_PATH}/:token/images/:series/:instance/:frame`, async (request, response) => {
    const { token, series, instance, frame } = request.params as { token: string; series: string; instance: string; frame: string };
    const notInFilm = new HttpProblem(404, 'problem.notFound', 'no such image in this film');
    const link = await service.openedLink(token, cookieOf(request));
    if (!link || !isUid(series) || !isUid(instance) || !/^[1-9][0-9]{0,5}$/.test(frame)) throw notInFilm;
    const rendered = await filmImage(link, request, { seriesInstanceUid: series, sopInstanceUid: instance, frameNumber: Number(frame) });
    if (!rendered) throw notInFilm;
    // As the pages: a shared phone keeps no image of the film once the tab is closed or the link revoked.
    response.status(200).type(rendered.contentType).setHeader('Cache-Control', 'no-store').send(rendered.bytes);
  });

  return router;
}

function pageContext(request: Request, token: string): FilmPageContext {
  const asked = request.query.lang;
  const language: Language = asked === 'zh' || asked === 'en' ? asked : preferredLanguage(request.headers['accept-language']);
  return { language, basePath: `${FILM_PATH}/${encodeURIComponent(token)}` };
}

function caller(request: Request) {
  return { sourceAddress: request.ip ?? 'unknown', session: cookieOf(request) };
}

function cookieOf(request: Request): string | undefined {
  return (request.cookies as Record<string, string> | undefined)?.[FILM_COOKIE];
}

function sendPage(response: Response, status: number, html: string): void {
  // Nothing of a film is kept by a shared phone's browser or a proxy; the token never leaves as a Referer.
  response.status(status).type('text/html; charset=utf-8').setHeader('Cache-Control', 'no-store').setHeader('Referrer-Policy', 'no-referrer');
  if (status === 429) response.setHeader('Retry-After', '900');
  response.send(html);
}
