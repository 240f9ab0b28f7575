import express, { Router } from 'express';
import { PersonRefusal } from '../../../archive/person/person-service.ts';
import { PriorFetchRefusal } from '../../../archive/prior-fetch/prior-fetch-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, actorOf, noteAudited } from '../access.ts';
import { answeringRefusals, HttpProblem } from '../problem.ts';
import { rowIdParameter } from './path-parameters.ts';

const answering = answeringRefusals(PriorFetchRefusal, { 400: 'problem.badRequest', 404: 'problem.notFound' });

/**
 * Prior fetch (docs/query-retrieve.md): which hospitals' PACS Yingyun pulls earlier studies from
 * (system administrators, by the access table), and a person's fetches with their progress, asked
 * for by anyone who sees that person's studies. Handlers only translate.
 */
export function priorFetchRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const { priorFetch } = runtime;
  const body = express.json({ limit: '4kb' });

  router.get(
    '/admin/prior-fetch-sources',
    answering(async (_request, response) => {
      response.json(await priorFetch.sources());
    }),
  );
  router.put(
    '/admin/prior-fetch-sources/:peer',
    body,
    answering(async (request, response) => {
      response.json(await priorFetch.setSource(actorOf(request, response), rowIdParameter(request.params.peer, 'peer'), request.body));
    }),
  );
  router.delete(
    '/admin/prior-fetch-sources/:peer',
    answering(async (request, response) => {
      await priorFetch.removeSource(actorOf(request, response), rowIdParameter(request.params.peer, 'peer'));
      response.status(204).end();
    }),
  );

  /** The person, when the caller sees at least one of their studies; the person service's refusal (404) otherwise. */
  const visiblePerson = async (id: unknown, response: express.Response): Promise<string> => {
    const personId = rowIdParameter(id, 'person');
    try {
      await runtime.persons.studiesOf(personId, accessOf(response).visibility);
    } catch (error) {
      if (error instanceof PersonRefusal) throw new HttpProblem(404, 'problem.notFound', error.reason);
      throw error;
    }
    return personId;
  };

  router.post(
    '/persons/:id/prior-fetches',
    body,
    answering(async (request, response) => {
      const personId = await visiblePerson(request.params.id, response);
      const peer = (request.body as { peerId?: unknown } | undefined)?.peerId;
      const fetches = await priorFetch.request(personId, accessOf(response).principal.username, peer === undefined ? undefined : rowIdParameter(peer, 'peerId'));
      noteAudited(response, { detail: { personId, priorFetches: fetches.map((fetch) => fetch.id) } });
      response.status(202).json(fetches);
    }),
  );
  router.get(
    '/persons/:id/prior-fetches',
    answering(async (request, response) => {
      response.json(await priorFetch.fetchesOfPerson(await visiblePerson(request.params.id, response)));
    }),
  );
  return router;
}
