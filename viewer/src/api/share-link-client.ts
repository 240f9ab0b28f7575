import type { CreateDoctorShareRequest, CreatePatientLinkRequest, IssuedShareLink, ShareLinkSummary } from '../../../archive/reading/share-link-types.ts';
import type { Connection } from './http.ts';

/** /api/studies/{study}/share-links: a study's cloud-film links and doctors' shares. */
export class ShareLinkClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  private root(study: string): string {
    return `${this.apiRoot}/studies/${encodeURIComponent(study)}/share-links`;
  }

  list(study: string): Promise<ShareLinkSummary[]> {
    return this.connection.json(this.root(study));
  }

  createPatientLink(study: string, request: CreatePatientLinkRequest): Promise<IssuedShareLink> {
    return this.connection.json(`${this.root(study)}/patient`, { method: 'POST', json: request });
  }

  shareWithDoctor(study: string, request: CreateDoctorShareRequest): Promise<IssuedShareLink> {
    return this.connection.json(`${this.root(study)}/doctor`, { method: 'POST', json: request });
  }

  /** The same link as a new URL (the archive keeps no way back to one it showed before). */
  show(study: string, linkId: string): Promise<IssuedShareLink> {
    return this.connection.json(`${this.root(study)}/${encodeURIComponent(linkId)}/token`, { method: 'POST' });
  }

  revoke(study: string, linkId: string): Promise<ShareLinkSummary> {
    return this.connection.json(`${this.root(study)}/${encodeURIComponent(linkId)}`, { method: 'DELETE' });
  }
}
