import type pg from 'pg';

export const INSTITUTION_KINDS = ['hospital', 'reading_centre', 'quarantine'] as const;
export type InstitutionKind = (typeof INSTITUTION_KINDS)[number];
export const REGION_LEVELS = ['province', 'city', 'district', 'county'] as const;
export type RegionLevel = (typeof REGION_LEVELS)[number];

export interface Region {
  id: string;
  parentId: string | null;
  code: string;
  name: string;
  level: RegionLevel;
}

export interface Institution {
  id: string;
  code: string;
  name: string;
  kind: InstitutionKind;
  regionId: string | null;
}

export interface DicomPeer {
  id: string;
  institutionId: string;
  aeTitle: string;
  /** CIDR blocks the peer may call from; empty means any address. */
  allowedNetworks: string[];
  host: string | null;
  port: number | null;
  tlsRequired: boolean;
  /** Character set to decode with instead of the one the peer declares. */
  characterSet: string | null;
}

export type NewDicomPeer = Omit<DicomPeer, 'id'>;

const REGION_COLUMNS = 'id, parent_id AS "parentId", code, name, level';
const INSTITUTION_COLUMNS = 'id, code, name, kind, region_id AS "regionId"';
const PEER_COLUMNS = `id, institution_id AS "institutionId", ae_title AS "aeTitle",
  allowed_networks::text[] AS "allowedNetworks", host, port, tls_required AS "tlsRequired", character_set AS "characterSet"`;

/** The only place with SQL for regions, institutions and DICOM peers. */
export class InstitutionsRepository {
  constructor(private readonly pool: pg.Pool) {}

  async listRegions(): Promise<Region[]> {
    return (await this.pool.query<Region>(`SELECT ${REGION_COLUMNS} FROM regions ORDER BY code`)).rows;
  }

  async createRegion(region: Omit<Region, 'id'>): Promise<Region> {
    const result = await this.pool.query<Region>(
      `INSERT INTO regions (parent_id, code, name, level) VALUES ($1, $2, $3, $4) RETURNING ${REGION_COLUMNS}`,
      [region.parentId, region.code, region.name, region.level],
    );
    return result.rows[0]!;
  }

  async findRegionByCode(code: string): Promise<Region | null> {
    return (await this.pool.query<Region>(`SELECT ${REGION_COLUMNS} FROM regions WHERE code = $1`, [code])).rows[0] ?? null;
  }

  async listInstitutions(): Promise<Institution[]> {
    return (await this.pool.query<Institution>(`SELECT ${INSTITUTION_COLUMNS} FROM institutions ORDER BY code`)).rows;
  }

  async findInstitution(id: string): Promise<Institution | null> {
    return (await this.pool.query<Institution>(`SELECT ${INSTITUTION_COLUMNS} FROM institutions WHERE id = $1`, [id])).rows[0] ?? null;
  }

  async findInstitutionByCode(code: string): Promise<Institution | null> {
    return (await this.pool.query<Institution>(`SELECT ${INSTITUTION_COLUMNS} FROM institutions WHERE code = $1`, [code])).rows[0] ?? null;
  }

  async createInstitution(institution: Omit<Institution, 'id'>): Promise<Institution> {
    const result = await this.pool.query<Institution>(
      `INSERT INTO institutions (code, name, kind, region_id) VALUES ($1, $2, $3, $4) RETURNING ${INSTITUTION_COLUMNS}`,
      [institution.code, institution.name, institution.kind, institution.regionId],
    );
    return result.rows[0]!;
  }

  async quarantineInstitutionId(): Promise<string> {
    const result = await this.pool.query<{ id: string }>("SELECT id FROM institutions WHERE kind = 'quarantine' ORDER BY id LIMIT 1");
    return result.rows[0]!.id;
  }

  /**
   * The institutions a region covers: those in the region itself and in every region below it
   * (a city's reading centre sees its districts' and counties' hospitals).
   */
  async institutionsInRegion(regionId: string): Promise<string[]> {
    const result = await this.pool.query<{ id: string }>(
      `WITH RECURSIVE covered AS (
         SELECT id FROM regions WHERE id = $1
         UNION SELECT regions.id FROM regions JOIN covered ON regions.parent_id = covered.id
       )
       SELECT institutions.id FROM institutions JOIN covered ON institutions.region_id = covered.id
       WHERE institutions.kind <> 'quarantine' ORDER BY institutions.id`,
      [regionId],
    );
    return result.rows.map((row) => row.id);
  }

  async listPeers(institutionId?: string): Promise<DicomPeer[]> {
    const result = await this.pool.query<DicomPeer>(
      `SELECT ${PEER_COLUMNS} FROM dicom_peers WHERE $1::bigint IS NULL OR institution_id = $1 ORDER BY ae_title`,
      [institutionId ?? null],
    );
    return result.rows;
  }

  async findPeerByAeTitle(aeTitle: string): Promise<DicomPeer | null> {
    return (await this.pool.query<DicomPeer>(`SELECT ${PEER_COLUMNS} FROM dicom_peers WHERE ae_title = $1`, [aeTitle])).rows[0] ?? null;
  }

  async findPeer(id: string): Promise<DicomPeer | null> {
    return (await this.pool.query<DicomPeer>(`SELECT ${PEER_COLUMNS} FROM dicom_peers WHERE id = $1`, [id])).rows[0] ?? null;
  }

  async createPeer(peer: NewDicomPeer): Promise<DicomPeer> {
    const result = await this.pool.query<DicomPeer>(
      `INSERT INTO dicom_peers (institution_id, ae_title, allowed_networks, host, port, tls_required, character_set)
       VALUES ($1, $2, $3::cidr[], $4, $5, $6, $7) RETURNING ${PEER_COLUMNS}`,
      [peer.institutionId, peer.aeTitle, peer.allowedNetworks, peer.host, peer.port, peer.tlsRequired, peer.characterSet],
    );
    return result.rows[0]!;
  }

  async updatePeer(id: string, changes: Partial<Omit<NewDicomPeer, 'institutionId'>>): Promise<DicomPeer | null> {
    const current = await this.findPeer(id);
    if (!current) return null;
    // Only the fields given change; an undefined one means "leave as it is".
    const next = { ...current, ...Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) };
    const result = await this.pool.query<DicomPeer>(
      `UPDATE dicom_peers SET ae_title = $2, allowed_networks = $3::cidr[], host = $4, port = $5, tls_required = $6, character_set = $7
       WHERE id = $1 RETURNING ${PEER_COLUMNS}`,
      [id, next.aeTitle, next.allowedNetworks, next.host, next.port, next.tlsRequired, next.characterSet],
    );
    return result.rows[0] ?? null;
  }

  async deletePeer(id: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM dicom_peers WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }
}
