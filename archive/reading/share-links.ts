import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { renderSVG } from 'uqr';
import { hasPermission, type Principal } from '../access/policy.ts';
import { auditPatientId } from '../audit/audit-event.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { StudyOwnership } from '../db/query-repository.ts';
import type { FilmStudy, ShareLinksRepository, StoredShareLink } from '../db/share-links-repository.ts';
import type { UsersRepository } from '../db/users-repository.ts';
import type { Report } from './report.ts';
import type { IssuedShareLink, SecondFactorKind, ShareLinkState, ShareLinkSummary } from './share-link-types.ts';

/**
 * Cloud film (云胶片) and share links: one study opened by a patient without an account, or by a
 * named doctor of another institution. A patient link is a 256-bit random token in a URL (SMS,
 * WeChat, the QR code on the report's PDF) plus a second factor the hospital chose; the link
 * expires, can be revoked, locks after repeated wrong factors, and every opening and every failure
 * is in the audit trail. A doctor's link is a study access grant to their account.
 *
 * Re-showing a link: the database keeps only each token's SHA-256, so a copy of the database (a
 * backup, a replica, a dump taken by an intruder) opens no film. The price is that the server cannot
 * show a token again; staff who need the link again (a second SMS, a lost QR code, the PDF made
 * after signing) get a NEW token for the SAME link — same study, expiry, factor, failure counter
 * and revocation — while tokens already sent keep working. Keeping the tokens decryptable instead
 * would need a key the same database dump could not reach, which a single-machine deployment does
 * not have.
 */

export interface ShareLinkSettings {
  /** Patient links, from creation (default 30). */
  patientLinkDays: number;
  /** Doctor share links when the doctor does not say (default 72). */
  doctorLinkHours: number;
  /** Wrong second factors after which a patient link locks for good (default 5). */
  lockAfterFailures: number;
  /** Failed openings (unknown token, wrong factor) from one address per window before it must wait. */
  addressFailureLimit: number;
  addressWindowMinutes: number;
  /** How long a verified second factor opens the film without asking again. */
  filmSessionMinutes: number;
  /** How long the second factor's form may be submitted after it was shown (its one-time token). */
  factorFormMinutes: number;
}

export const DEFAULT_SHARE_LINK_SETTINGS: ShareLinkSettings = {
  patientLinkDays: 30,
  doctorLinkHours: 72,
  lockAfterFailures: 5,
  addressFailureLimit: 20,
  addressWindowMinutes: 15,
  filmSessionMinutes: 60,
  factorFormMinutes: 10,
};

/** The final report as the patient sees it: the current signed version, once 审核 is signed. */
export interface FilmReport {
  findings: string;
  impression: string;
  /** The verifier's name as DICOM PN text ('Li^Ming=李^明'). */
  signedBy: string;
  signedAt: string;
  /** True when the current version amends an earlier one. */
  amended: boolean;
}

/** Where reports come from (the reports' repository or service: anything that finds a study's report). */
export interface ReportSource {
  findByStudy(studyInstanceUid: string): Promise<Report | null>;
}

/** The newest final or amended version: a preliminary (初诊) alone is never shown to the patient. */
export function filmReportOf(report: Report | null): FilmReport | null {
  const current = report?.versions.at(-1);
  if (!current || (current.status !== 'final' && current.status !== 'amended')) return null;
  const verifier = [...current.signatures].reverse().find((signature) => signature.role === 'final') ?? current.signatures.at(-1);
  return {
    findings: current.content.findings,
    impression: current.content.impression,
    signedBy: verifier?.name ?? '',
    signedAt: verifier?.signedAt ?? current.createdAt,
    amended: current.status === 'amended',
  };
}

/** The study access grants this service makes doctor links with (the consultation's mechanism). */
export interface StudyGrants {
  grant(grant: { granteeUserId: string; studyInstanceUid: string; grantedByUserId: string; reason: string; source: 'share'; expiresAt: Date }): Promise<string>;
  revoke(grantId: string): Promise<boolean>;
}

/** A refusal a person can act on; the route turns it into a problem (status) or a page. */
export class ShareLinkError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'ShareLinkError';
  }
}

/**
 * Why a film does not open: each is a page of its own for the patient, and an audit event.
 * 'stale-form': the second factor came with a form token already spent or expired (see verifyFactor).
 */
export type FilmRefusal = 'unknown' | 'expired' | 'revoked' | 'locked' | 'throttled' | 'wrong-factor' | 'stale-form';

export type FilmOpening =
  | { kind: 'refused'; refusal: FilmRefusal; link?: StoredShareLink }
  | { kind: 'ask-factor'; link: StoredShareLink }
  | { kind: 'open'; link: StoredShareLink };

export interface FilmCaller {
  sourceAddress: string;
  /** The film session cookie, when the browser sent one. */
  session?: string;
}

export interface FilmContent {
  study: FilmStudy;
  report: FilmReport | null;
  /** Images the report points at (Key Object Selection documents), else one per series. */
  keyImages: { seriesInstanceUid: string; sopInstanceUid: string; frameNumber: number }[];
  keyImagesAreMarked: boolean;
}

/** What the patient's page is reached by: /film/{token}. */
export const FILM_PATH = '/film';

export class ShareLinksService {
  private sessionKey?: Promise<Buffer>;

  private readonly links: ShareLinksRepository;
  private readonly users: UsersRepository;
  private readonly grants: StudyGrants;
  private readonly audit: AuditLog;
  private readonly settings: ShareLinkSettings;
  private readonly reports: ReportSource;
  private readonly publicUrl: () => string;

  constructor(dependencies: {
    links: ShareLinksRepository;
    users: UsersRepository;
    grants: StudyGrants;
    audit: AuditLog;
    settings: ShareLinkSettings;
    reports: ReportSource;
    /** Where people reach Yingyun: the base of links made without a request to take it from (the PDF's). Asked each time: it may be known only once the server listens. */
    publicUrl: () => string;
  }) {
    ({ links: this.links, users: this.users, grants: this.grants, audit: this.audit, settings: this.settings, reports: this.reports } = dependencies);
    this.publicUrl = () => dependencies.publicUrl().replace(/\/+$/, '');
  }

  // ---- Staff and doctors: making, listing, showing again and revoking links

  /**
   * A patient link to the study: the second factor is the birth date the study records, or the last
   * 4 digits of a phone number (staff's, else Patient's Telephone Numbers in the study).
   */
  async createPatientLink(
    study: Pick<StudyOwnership, 'studyInstanceUid' | 'institutionId'>,
    request: { factor: SecondFactorKind; phoneLast4?: string; days?: number },
    by: { userId: string | null; via: 'staff' | 'report-signed' },
    baseUrl: string,
  ): Promise<IssuedShareLink> {
    const factorValue = await this.factorValueFor(study.studyInstanceUid, request.factor, request.phoneLast4);
    const days = request.days ?? this.settings.patientLinkDays;
    if (!Number.isInteger(days) || days < 1 || days > 366) throw new ShareLinkError(400, 'days must be a whole number from 1 to 366');
    const id = await this.links.create({
      studyInstanceUid: study.studyInstanceUid,
      institutionId: study.institutionId,
      audience: 'patient',
      createdVia: by.via,
      createdByUserId: by.userId,
      expiresAt: new Date(Date.now() + days * 86_400_000),
      factor: { kind: request.factor, value: factorValue },
    });
    return this.issueToken((await this.links.find(id))!, by.userId, baseUrl);
  }

  /**
   * The study's patient link, made when the study never had one: what signing the final report
   * calls. Its second factor is the birth date when the study records one, else the phone's last 4
   * digits (0010,2154). No token yet: one is minted whenever the link is shown (patientLinkFor,
   * reissue). Null when the study is not stored or records neither factor (staff then make one by
   * hand), and when its newest link is revoked, locked or expired: a link staff revoked (wrong
   * patient, leaked) must not come back by itself with the next signature or PDF; staff decide
   * whether the patient gets a new one.
   */
  async ensurePatientLink(studyInstanceUid: string, by: { userId: string | null; username?: string }): Promise<StoredShareLink | null> {
    const newest = await this.links.newestPatientLink(studyInstanceUid);
    if (newest) return stateOf(newest) === 'active' ? newest : null;
    const patient = await this.links.studyPatient(studyInstanceUid);
    if (!patient) return null;
    const factor: SecondFactorKind = (await this.links.patientBirthDate(studyInstanceUid)) ? 'birth-date' : 'phone-last4';
    let factorValue: string;
    try {
      factorValue = await this.factorValueFor(studyInstanceUid, factor, undefined);
    } catch (error) {
      if (error instanceof ShareLinkError) return null;
      throw error;
    }
    const id = await this.links.create({
      studyInstanceUid,
      institutionId: patient.institutionId,
      audience: 'patient',
      createdVia: 'report-signed',
      createdByUserId: by.userId,
      expiresAt: new Date(Date.now() + this.settings.patientLinkDays * 86_400_000),
      factor: { kind: factor, value: factorValue },
    });
    await this.recordDisclosure(studyInstanceUid, by, { shareLinkId: id, audience: 'patient', via: 'report-signed' });
    return this.links.find(id);
  }

  /**
   * The patient link of a study as a URL with a fresh token (see the class comment): for the QR code
   * of the report's PDF. Null as for ensurePatientLink, so no QR code is printed for a link revoked,
   * locked or expired.
   *
   * `printed` is the URL an earlier run printed on the same document (the PDF job of one report
   * version, run again after a failure, renders the PDF again): while its token still opens the
   * study's current link it is given back unchanged, so every copy of that version shows one URL
   * and reruns add no tokens. The caller keeps it beside the PDF it printed it on (the object
   * store), never in the database, which holds token hashes only. A new version (an amendment) is a
   * new document and gets a token of its own; the earlier PDF's keeps working.
   */
  async patientLinkFor(studyInstanceUid: string, by: { userId: string | null; username?: string }, baseUrl = this.publicUrl(), printed?: string): Promise<IssuedShareLink | null> {
    const link = await this.ensurePatientLink(studyInstanceUid, by);
    if (!link) return null;
    const printedToken = printed?.split('/').pop() ?? '';
    if (isTokenShaped(printedToken) && (await this.links.findByToken(sha256(printedToken)))?.id === link.id) {
      return { link: summaryOf(link), url: printed!, qrSvg: renderSVG(printed!) };
    }
    const issued = await this.issueToken(link, by.userId, baseUrl);
    await this.recordDisclosure(studyInstanceUid, by, { shareLinkId: link.id, audience: 'patient', newToken: true });
    return issued;
  }

  // Calls from inside the archive (signing, the PDF) pass no HTTP rule that would audit them.
  private async recordDisclosure(studyInstanceUid: string, by: { username?: string }, detail: Record<string, unknown>): Promise<void> {
    const patient = await this.links.studyPatient(studyInstanceUid);
    await this.audit.record({
      eventType: 'export',
      action: 'C',
      outcome: 0,
      userName: by.username,
      ...(patient ? { patientId: auditPatientId(patient.issuer, patient.patientId), patientName: patient.patientName ?? undefined } : {}),
      studyUids: [studyInstanceUid],
      detail,
    });
  }

  /** A new token for a patient link still usable, for staff to send again. */
  async reissue(study: StudyOwnership, linkId: string, by: Principal, baseUrl: string): Promise<IssuedShareLink> {
    const link = await this.linkOfStudy(study, linkId);
    if (link.audience !== 'patient') throw new ShareLinkError(400, `link ${linkId} is a doctor's share link: it has no token to show`);
    const state = stateOf(link);
    if (state !== 'active') throw new ShareLinkError(409, `link ${linkId} is ${state}: make a new one`);
    return this.issueToken(link, by.userId, baseUrl);
  }

  /**
   * A doctor of another institution may read the study until the link expires: a study access grant
   * to their account, with the reason. The URL opens the study in the viewer after their sign-in.
   */
  async shareWithDoctor(study: StudyOwnership, request: { username: string; reason: string; hours?: number }, by: Principal, baseUrl: string): Promise<IssuedShareLink> {
    const reason = request.reason.trim();
    if (reason === '' || reason.length > 500) throw new ShareLinkError(400, 'say why the study is shared (at most 500 characters)');
    const hours = request.hours ?? this.settings.doctorLinkHours;
    if (!Number.isInteger(hours) || hours < 1 || hours > 24 * 30) throw new ShareLinkError(400, 'hours must be a whole number from 1 to 720');
    const grantee = await this.users.findByUsername(request.username);
    // One answer for "no such user" and "not a doctor": the form is no way to list accounts.
    if (!grantee || grantee.disabled || !hasPermission(grantee.role, 'read-images') || grantee.role === 'system_admin') {
      throw new ShareLinkError(404, `no doctor ${JSON.stringify(request.username)} can be shared with`);
    }
    if (grantee.institutionId === study.institutionId) throw new ShareLinkError(400, `${grantee.username} works at the study's institution and sees it already`);
    const expiresAt = new Date(Date.now() + hours * 3_600_000);
    const grantId = await this.grants.grant({ granteeUserId: grantee.id, studyInstanceUid: study.studyInstanceUid, grantedByUserId: by.userId, reason, source: 'share', expiresAt });
    const id = await this.links.create({
      studyInstanceUid: study.studyInstanceUid,
      institutionId: study.institutionId,
      audience: 'doctor',
      createdVia: 'doctor',
      createdByUserId: by.userId,
      expiresAt,
      granteeUserId: grantee.id,
      grantId,
    });
    const url = `${baseUrl}/viewer?StudyInstanceUIDs=${encodeURIComponent(study.studyInstanceUid)}`;
    return { link: summaryOf((await this.links.find(id))!), url, qrSvg: renderSVG(url) };
  }

  async list(study: StudyOwnership): Promise<ShareLinkSummary[]> {
    return (await this.links.ofStudy(study.studyInstanceUid)).map(summaryOf);
  }

  /** Revokes either kind: a patient link stops opening, a doctor's grant ends at their next request. */
  async revoke(study: StudyOwnership, linkId: string, by: Principal): Promise<ShareLinkSummary> {
    const link = await this.linkOfStudy(study, linkId);
    if (!(await this.links.revoke(link.id, by.userId))) throw new ShareLinkError(409, `link ${linkId} is revoked already`);
    if (link.grantId) await this.grants.revoke(link.grantId);
    return summaryOf((await this.links.find(link.id))!);
  }

  // ---- The patient: opening a film

  /** A GET of /film/{token}: the film when the session cookie is good, else the second factor's form, else why not. */
  async open(token: string, caller: FilmCaller): Promise<FilmOpening> {
    const found = await this.usableLink(token, caller);
    if (found.kind === 'refused') return found;
    const { link } = found;
    // The opening is recorded by the route once the film's content is found (recordPageOpening).
    if (caller.session && (await this.sessionOpens(caller.session, link))) return { kind: 'open', link };
    return { kind: 'ask-factor', link };
  }

  /**
   * A POST of the second factor, with the form's one-time token (issueFormToken). Right: a session
   * value for the cookie (the answer to the POST is the film itself, which the route records with
   * recordPageOpening). Wrong: counted against the link (locking it at the limit) and the address.
   * Both counts are taken before the comparison and given back when it is right, so parallel guesses
   * get no more comparisons than the limits allow (reserveFactorAttempt).
   *
   * The token is spent first, whatever the factor: the answer to a right factor is the film itself,
   * so the browser's history holds that POST with the factor in its body, and on a shared phone Back
   * or Reload would send it again once the film session has ended. Spent or expired, the token opens
   * nothing ('stale-form': the form again, nothing compared or counted, as no guess was made).
   */
  async verifyFactor(token: string, presented: string, formToken: string, caller: FilmCaller): Promise<FilmOpening | { kind: 'verified'; link: StoredShareLink; session: string; expiresAt: Date }> {
    const found = await this.usableLink(token, caller);
    if (found.kind === 'refused') return found;
    const { link } = found;
    const form = await this.spendFormToken(formToken, link);
    if (form !== 'spent-now') {
      await this.refusalEvent('stale-form', caller, link, { form });
      return { kind: 'refused', refusal: 'stale-form', link };
    }
    if (!(await this.links.reserveAddressAttempt(caller.sourceAddress, this.settings.addressFailureLimit, this.settings.addressWindowMinutes))) {
      await this.refusalEvent('throttled', caller);
      return { kind: 'refused', refusal: 'throttled' };
    }
    const attempt = await this.links.reserveFactorAttempt(link.id, this.settings.lockAfterFailures);
    if (!attempt) {
      // Locked (or revoked, expired) since usableLink read it: this guess is never compared.
      await this.links.releaseAddressAttempt(caller.sourceAddress);
      return this.refuseChanged(link, caller);
    }
    if (!factorMatches(link.factorKind!, link.factorValue!, presented)) {
      await this.refusalEvent(attempt.locked ? 'locked' : 'wrong-factor', caller, link, { attempt: attempt.attempt });
      return { kind: 'refused', refusal: attempt.locked ? 'locked' : 'wrong-factor', link };
    }
    await this.links.releaseAddressAttempt(caller.sourceAddress);
    if (!(await this.links.releaseFactorAttempt(link.id, attempt.locked))) return this.refuseChanged(link, caller);
    const expiresAt = new Date(Date.now() + this.settings.filmSessionMinutes * 60_000);
    return { kind: 'verified', link, session: await this.sessionFor(link, expiresAt), expiresAt };
  }

  /**
   * The one-time token the second factor's form carries: link id, expiry and a random nonce, signed,
   * so showing the form writes nothing; verifyFactor spends it.
   */
  async issueFormToken(link: StoredShareLink): Promise<string> {
    const payload = `${link.id}.${Date.now() + this.settings.factorFormMinutes * 60_000}.${randomBytes(16).toString('base64url')}`;
    return `${payload}.${await this.sign(`form:${payload}`)}`;
  }

  /** Each time the film's page is shown (a GET with the session, or the answer to the right factor), once its content is found. */
  async recordPageOpening(link: StoredShareLink, caller: FilmCaller): Promise<void> {
    await this.audit.record(await this.accessEvent(link, caller, { what: 'film page' }));
  }

  /** The link of an image request when its session cookie still opens it; else null (the route answers 404). */
  async openedLink(token: string, session: string | undefined): Promise<StoredShareLink | null> {
    if (!session || !isTokenShaped(token)) return null;
    const link = await this.links.findByToken(sha256(token));
    if (!link || link.audience !== 'patient' || stateOf(link) !== 'active') return null;
    return (await this.sessionOpens(session, link)) ? link : null;
  }

  /**
   * Each image a film serves is recorded before it leaves, as every other image request of the
   * archive is (no patient data without its audit event); the caller withholds the image when this fails.
   */
  async recordImageAccess(link: StoredShareLink, caller: FilmCaller, image: { seriesInstanceUid: string; sopInstanceUid: string; frameNumber: number }): Promise<void> {
    await this.audit.record(await this.accessEvent(link, caller, { what: 'image', ...image }));
  }

  /** An image asked for with a good film session but not of its study: someone probing, recorded. */
  async recordForeignImage(link: StoredShareLink, caller: FilmCaller, image: { seriesInstanceUid: string; sopInstanceUid: string }): Promise<void> {
    await this.refusalEvent('not-in-film', caller, link, image);
  }

  async content(link: StoredShareLink): Promise<FilmContent | null> {
    const study = await this.links.filmStudy(link.studyInstanceUid);
    if (!study) return null;
    const report = filmReportOf(await this.reports.findByStudy(link.studyInstanceUid));
    const marked = await this.links.keyImages(link.studyInstanceUid);
    const shown = new Set(study.series.flatMap((series) => series.images.map((image) => image.sopInstanceUid)));
    const keyImages = marked.filter((image) => shown.has(image.sopInstanceUid));
    if (keyImages.length) return { study, report, keyImages, keyImagesAreMarked: true };
    // No key images marked: the middle image of each series stands for it, as the thumbnails do.
    const representative = study.series
      .filter((series) => series.images.length)
      .map((series) => ({ seriesInstanceUid: series.seriesInstanceUid, ...series.images[Math.floor((series.images.length - 1) / 2)]! }));
    return { study, report, keyImages: representative, keyImagesAreMarked: false };
  }

  // ---- inside

  private async usableLink(token: string, caller: FilmCaller): Promise<{ kind: 'usable'; link: StoredShareLink } | { kind: 'refused'; refusal: FilmRefusal; link?: StoredShareLink }> {
    if ((await this.links.addressFailures(caller.sourceAddress, this.settings.addressWindowMinutes)) >= this.settings.addressFailureLimit) {
      await this.refusalEvent('throttled', caller);
      return { kind: 'refused', refusal: 'throttled' };
    }
    const link = isTokenShaped(token) ? await this.links.findByToken(sha256(token)) : null;
    if (!link || link.audience !== 'patient') {
      // Someone guessing tokens: counted against the address, as a wrong factor is.
      await this.links.recordAddressFailure(caller.sourceAddress, this.settings.addressWindowMinutes);
      await this.refusalEvent('unknown', caller);
      return { kind: 'refused', refusal: 'unknown' };
    }
    const state = stateOf(link);
    if (state !== 'active') {
      await this.refusalEvent(state, caller, link);
      return { kind: 'refused', refusal: state, link };
    }
    return { kind: 'usable', link };
  }

  /** A link that stopped being usable during a request: refused as it is now (locked when not stated otherwise). */
  private async refuseChanged(link: StoredShareLink, caller: FilmCaller): Promise<FilmOpening> {
    const now = await this.links.find(link.id);
    const state = now ? stateOf(now) : 'locked';
    const refusal: FilmRefusal = state === 'active' ? 'locked' : state;
    await this.refusalEvent(refusal, caller, link);
    return { kind: 'refused', refusal, link };
  }

  private async factorValueFor(studyInstanceUid: string, kind: SecondFactorKind, phoneLast4: string | undefined): Promise<string> {
    if (kind === 'birth-date') {
      const birthDate = await this.links.patientBirthDate(studyInstanceUid);
      if (!birthDate) throw new ShareLinkError(400, "the study records no Patient's Birth Date: choose the phone's last 4 digits as the second factor");
      return birthDate.replaceAll('-', '');
    }
    const digits = phoneLast4 !== undefined ? phoneLast4.trim() : ((await this.links.patientTelephone(studyInstanceUid)) ?? '').replace(/\D/g, '').slice(-4);
    if (!/^[0-9]{4}$/.test(digits)) {
      throw new ShareLinkError(400, phoneLast4 !== undefined ? 'phoneLast4 must be 4 digits' : "the study records no Patient's Telephone Numbers: enter the last 4 digits of the patient's phone");
    }
    return digits;
  }

  private async issueToken(link: StoredShareLink, byUserId: string | null, baseUrl: string): Promise<IssuedShareLink> {
    const token = randomBytes(32).toString('base64url');
    await this.links.addToken(link.id, sha256(token), byUserId);
    const url = `${baseUrl}${FILM_PATH}/${token}`;
    return { link: summaryOf(link), url, qrSvg: renderSVG(url) };
  }

  private async linkOfStudy(study: StudyOwnership, linkId: string): Promise<StoredShareLink> {
    const link = /^[0-9]{1,18}$/.test(linkId) ? await this.links.find(linkId) : null;
    if (!link || link.studyInstanceUid !== study.studyInstanceUid) throw new ShareLinkError(404, `no share link ${linkId} of study ${study.studyInstanceUid}`);
    return link;
  }

  private async spendFormToken(formToken: string, link: StoredShareLink): Promise<'spent-now' | 'spent' | 'expired' | 'invalid'> {
    const match = /^([0-9]+)\.([0-9]+)\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]+)$/.exec(formToken);
    if (!match || match[1] !== link.id || !(await this.signatureMatches(`form:${match[1]}.${match[2]}.${match[3]}`, match[4]!))) return 'invalid';
    const expiresAt = new Date(Number(match[2]));
    if (expiresAt.getTime() <= Date.now()) return 'expired';
    return (await this.links.spendFormToken(match[3]!, link.id, expiresAt)) ? 'spent-now' : 'spent';
  }

  // The cookie: link id and expiry, signed with a key every gateway of the deployment shares.
  private async sessionFor(link: StoredShareLink, expiresAt: Date): Promise<string> {
    const payload = `${link.id}.${expiresAt.getTime()}`;
    return `${payload}.${await this.sign(payload)}`;
  }

  private async sessionOpens(session: string, link: StoredShareLink): Promise<boolean> {
    const match = /^([0-9]+)\.([0-9]+)\.([A-Za-z0-9_-]+)$/.exec(session);
    if (!match || match[1] !== link.id || Number(match[2]) <= Date.now()) return false;
    return this.signatureMatches(`${match[1]}.${match[2]}`, match[3]!);
  }

  private async signatureMatches(payload: string, signature: string): Promise<boolean> {
    const expected = Buffer.from(await this.sign(payload));
    const presented = Buffer.from(signature);
    return expected.length === presented.length && timingSafeEqual(expected, presented);
  }

  private async sign(payload: string): Promise<string> {
    this.sessionKey ??= this.users.secret('film-session-key', () => randomBytes(32));
    return createHmac('sha256', await this.sessionKey).update(`film-session:${payload}`).digest('base64url');
  }

  private async accessEvent(link: StoredShareLink, caller: FilmCaller, detail: Record<string, unknown>) {
    const patient = await this.links.studyPatient(link.studyInstanceUid);
    return {
      eventType: 'instances-accessed' as const,
      action: 'R' as const,
      outcome: 0 as const,
      userName: `share-link:${link.id}`,
      userRole: 'patient',
      sourceAddress: caller.sourceAddress,
      ...(patient ? { patientId: auditPatientId(patient.issuer, patient.patientId), patientName: patient.patientName ?? undefined } : {}),
      studyUids: [link.studyInstanceUid],
      detail: { route: FILM_PATH, shareLinkId: link.id, ...detail },
    };
  }

  private async refusalEvent(refusal: FilmRefusal | 'not-in-film', caller: FilmCaller, link?: StoredShareLink, extra: Record<string, unknown> = {}): Promise<void> {
    await this.audit.record({
      eventType: 'access-denied',
      action: 'R',
      outcome: 4,
      userName: link ? `share-link:${link.id}` : 'share-link:unknown',
      userRole: 'patient',
      sourceAddress: caller.sourceAddress,
      ...(link ? { studyUids: [link.studyInstanceUid] } : {}),
      detail: { route: FILM_PATH, refusal, ...(link ? { shareLinkId: link.id } : {}), ...extra },
    });
  }
}

export function stateOf(link: Pick<StoredShareLink, 'revokedAt' | 'lockedAt' | 'expiresAt'>, now = new Date()): ShareLinkState {
  if (link.revokedAt) return 'revoked';
  if (link.lockedAt) return 'locked';
  return link.expiresAt <= now ? 'expired' : 'active';
}

function summaryOf(link: StoredShareLink): ShareLinkSummary {
  return {
    id: link.id,
    studyInstanceUid: link.studyInstanceUid,
    audience: link.audience,
    createdVia: link.createdVia,
    createdBy: link.createdBy,
    createdAt: link.createdAt.toISOString(),
    expiresAt: link.expiresAt.toISOString(),
    state: stateOf(link),
    factorKind: link.factorKind,
    failedAttempts: link.failedAttempts,
    grantee: link.grantee,
  };
}

/** Digits only for a phone; a birth date as 8 digits, typed as 1980-03-07, 1980/3/7 or 19800307. */
export function normaliseFactor(kind: SecondFactorKind, presented: string): string {
  const text = presented.trim();
  if (kind === 'phone-last4') return text.replace(/\D/g, '');
  const parts = /^([0-9]{4})\D?([0-9]{1,2})\D?([0-9]{1,2})$/.exec(text);
  if (!parts) return text;
  return `${parts[1]}${parts[2]!.padStart(2, '0')}${parts[3]!.padStart(2, '0')}`;
}

function factorMatches(kind: SecondFactorKind, stored: string, presented: string): boolean {
  const expected = Buffer.from(stored);
  const given = Buffer.from(normaliseFactor(kind, presented));
  return expected.length === given.length && timingSafeEqual(expected, given);
}

// 32 random bytes in base64url: exactly 43 characters. Anything else is not looked up at all.
function isTokenShaped(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

function sha256(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
