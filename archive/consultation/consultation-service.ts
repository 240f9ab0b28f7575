import { hasPermission, type Principal, type Visibility } from '../access/policy.ts';
import type { AccessGrantsRepository } from '../db/access-grants-repository.ts';
import type { ConsultationRow, ConsultationsRepository } from '../db/consultations-repository.ts';
import type { QueryRepository } from '../db/query-repository.ts';
import type { UsersRepository } from '../db/users-repository.ts';
import { transition, type ConsultationAction } from './consultation-state.ts';
import { RelayRefusal, type ConsultationRelay, type RelayEvent } from './consultation-relay.ts';
import { CHAT_MAX_LENGTH, OPINION_MAX_LENGTH, type Consultation, type ConsultationInvitation, type SharedPointer, type SharedView } from './wire.ts';

/** A request the consultation cannot honour, with the HTTP status and a reason a person can act on. */
export class ConsultationRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 404 | 409,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** What a route notes for the audit event of a consultation: the study, and both participants. */
export interface ConsultationAudit {
  studyUids: string[];
  detail: { consultationId: string; participants: string[]; accessGrantId?: string };
}

export function consultationAudit(consultation: Consultation, grantId?: string | null): ConsultationAudit {
  return {
    studyUids: [consultation.studyInstanceUid],
    detail: { consultationId: consultation.id, participants: [consultation.inviter.username, consultation.invitee.username], ...(grantId ? { accessGrantId: grantId } : {}) },
  };
}

// A consultation is a sitting, not a standing share: a grant forgotten by both ends lapses by itself.
const SESSION_HOURS = 12;

/**
 * Live consultations (远程会诊): a doctor invites another to look at one study together. Accepting
 * gives the invitee a study access grant for that study alone, for the session (at most
 * SESSION_HOURS); ending or declining revokes it. Every change reaches both participants through
 * the relay, whichever gateway process they are connected to.
 */
export class ConsultationService {
  constructor(
    private readonly deps: {
      consultations: ConsultationsRepository;
      users: UsersRepository;
      studies: QueryRepository;
      relay: ConsultationRelay;
    },
  ) {}

  /**
   * The inviter must see the study through their own institution scope: a study they only see
   * through a grant of their own cannot be passed on to a third doctor.
   */
  async invite(inviter: Principal, visibility: Visibility, invitation: ConsultationInvitation): Promise<Consultation> {
    const reason = invitation.reason.trim();
    if (reason === '' || reason.length > 500) throw new ConsultationRefusal(400, 'say in a few words (at most 500 characters) what the consultation is about');
    const study = await this.deps.studies.studyOwnership(invitation.studyInstanceUid, { ...visibility, grantedStudies: undefined });
    if (!study?.visible) throw new ConsultationRefusal(404, `no study ${invitation.studyInstanceUid} is stored here`);
    const invitee = await this.deps.users.findByUsername(invitation.inviteeUsername);
    if (!invitee || invitee.disabled || !hasPermission(invitee.role, 'read-images')) throw new ConsultationRefusal(404, `no doctor ${invitation.inviteeUsername} who may read images`);
    if (invitee.id === inviter.userId) throw new ConsultationRefusal(400, 'invite another doctor than yourself');
    const id = await this.deps.consultations.create({ studyInstanceUid: invitation.studyInstanceUid, inviterUserId: inviter.userId, inviteeUserId: invitee.id, reason });
    return (await this.deps.consultations.find(id))!.consultation;
  }

  async listFor(principal: Principal): Promise<Consultation[]> {
    return (await this.deps.consultations.listFor(principal.userId)).map((row) => row.consultation);
  }

  /** The written opinions on a study, for whoever may read the study (the access policy checked that). */
  async opinionsOn(studyInstanceUid: string): Promise<Consultation[]> {
    return (await this.deps.consultations.withOpinionOn(studyInstanceUid)).map((row) => row.consultation);
  }

  /** A consultation, for its participants only: anyone else is told it does not exist. */
  async get(principal: Principal, id: string): Promise<ConsultationRow> {
    const row = await this.deps.consultations.find(id);
    if (!row || (row.inviterUserId !== principal.userId && row.inviteeUserId !== principal.userId)) throw new ConsultationRefusal(404, `no consultation ${id}`);
    return row;
  }

  async accept(principal: Principal, id: string): Promise<ConsultationRow> {
    return this.change(principal, id, 'accept', async (row, grants) => {
      const grantId = await grants.grant({
        granteeUserId: row.inviteeUserId,
        studyInstanceUid: row.consultation.studyInstanceUid,
        grantedByUserId: row.inviterUserId,
        reason: `consultation ${row.id}: ${row.consultation.reason}`,
        source: 'consultation',
        expiresAt: new Date(Date.now() + SESSION_HOURS * 3_600_000),
      });
      return { grantId };
    });
  }

  async decline(principal: Principal, id: string): Promise<ConsultationRow> {
    return this.change(principal, id, 'decline', async () => ({}));
  }

  async end(principal: Principal, id: string): Promise<ConsultationRow> {
    return this.change(principal, id, 'end', async (row, grants) => {
      if (row.grantId) await grants.revoke(row.grantId);
      return {};
    });
  }

  async requestFloor(principal: Principal, id: string): Promise<ConsultationRow> {
    return this.change(principal, id, 'request-floor', async () => ({}));
  }

  async handOver(principal: Principal, id: string): Promise<ConsultationRow> {
    return this.change(principal, id, 'hand-over', async () => ({}));
  }

  async writeOpinion(principal: Principal, id: string, text: string): Promise<ConsultationRow> {
    const opinion = text.trim();
    if (opinion === '' || opinion.length > OPINION_MAX_LENGTH) throw new ConsultationRefusal(400, `an opinion is between 1 and ${OPINION_MAX_LENGTH} characters`);
    return this.change(principal, id, 'write-opinion', async () => ({ opinion: { text: opinion, authorUserId: principal.userId } }));
  }

  /** The chat so far, for a participant opening the session. */
  async chatHistory(row: ConsultationRow): Promise<{ from: string; text: string; sentAt: string }[]> {
    return this.deps.consultations.messages(row.id);
  }

  async chat(principal: Principal, row: ConsultationRow, text: string): Promise<void> {
    const message = text.trim();
    if (message === '' || message.length > CHAT_MAX_LENGTH) throw new ConsultationRefusal(400, `a chat message is between 1 and ${CHAT_MAX_LENGTH} characters`);
    const sentAt = await this.deps.consultations.addMessage(row.id, principal.userId, message);
    await this.relay(row.id, { message: { type: 'chat', from: principal.username, text: message, sentAt: sentAt.toISOString() } });
  }

  /** The view of the one who has the floor (the socket checks who that is, on every message). */
  async shareView(principal: Principal, consultationId: string, view: SharedView): Promise<void> {
    await this.relay(consultationId, { message: { type: 'view', from: principal.username, view } });
  }

  async sharePointer(principal: Principal, consultationId: string, pointer: SharedPointer): Promise<void> {
    await this.relay(consultationId, { message: { type: 'pointer', from: principal.username, pointer } });
  }

  async announceJoined(principal: Principal, consultationId: string): Promise<void> {
    await this.relay(consultationId, { message: { type: 'joined', username: principal.username } });
  }

  subscribe(consultationId: string, deliver: (event: RelayEvent) => void): () => void {
    return this.deps.relay.subscribe(consultationId, deliver);
  }

  private async change(
    principal: Principal,
    id: string,
    action: ConsultationAction,
    effect: (row: ConsultationRow, grants: AccessGrantsRepository) => Promise<{ grantId?: string; opinion?: { text: string; authorUserId: string } }>,
  ): Promise<ConsultationRow> {
    const changed = await this.deps.consultations.transaction(async ({ consultations, grants }) => {
      const row = await consultations.find(id, { forUpdate: true });
      if (!row || (row.inviterUserId !== principal.userId && row.inviteeUserId !== principal.userId)) throw new ConsultationRefusal(404, `no consultation ${id}`);
      const decided = transition(row, action, principal.userId);
      if (!decided.ok) throw new ConsultationRefusal(409, decided.reason);
      const extra = await effect(row, grants);
      const { next } = decided;
      await consultations.save(id, { status: next.status, floorUserId: next.floorUserId, floorRequestedBy: next.floorRequestedBy, ...extra });
      return (await consultations.find(id))!;
    });
    await this.relay(id, { consultation: changed.consultation });
    return changed;
  }

  private async relay(consultationId: string, event: RelayEvent): Promise<void> {
    try {
      await this.deps.relay.publish(consultationId, event);
    } catch (error) {
      if (error instanceof RelayRefusal) throw new ConsultationRefusal(400, error.message);
      throw error;
    }
  }
}
