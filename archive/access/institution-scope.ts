import type { InstitutionsRepository } from '../db/institutions-repository.ts';

/**
 * An institution's kind and, for a reading centre, the institutions of its region: what
 * visibilityFor (HTTP, WebSocket) and peerVisibility (DIMSE) take. Asked on every request, changed
 * rarely: kept for 30 seconds.
 */
export class InstitutionScopeCache {
  private readonly entries = new Map<string, { at: number; value: Promise<{ kind: string | null; regionInstitutionIds: string[] }> }>();

  constructor(private readonly institutions: Pick<InstitutionsRepository, 'findInstitution' | 'institutionsInRegion'>) {}

  of(institutionId: string | null): Promise<{ kind: string | null; regionInstitutionIds: string[] }> {
    if (!institutionId) return Promise.resolve({ kind: null, regionInstitutionIds: [] });
    const cached = this.entries.get(institutionId);
    if (cached && Date.now() - cached.at < 30_000) return cached.value;
    const value = (async () => {
      const institution = await this.institutions.findInstitution(institutionId);
      if (!institution) return { kind: null, regionInstitutionIds: [] };
      const regionInstitutionIds = institution.kind === 'reading_centre' && institution.regionId ? await this.institutions.institutionsInRegion(institution.regionId) : [];
      return { kind: institution.kind, regionInstitutionIds };
    })();
    value.catch(() => this.entries.delete(institutionId));
    this.entries.set(institutionId, { at: Date.now(), value });
    return value;
  }
}
