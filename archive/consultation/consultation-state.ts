import type { ConsultationStatus } from './wire.ts';

/**
 * The life of a consultation, as a pure function of its state and what a participant does:
 *
 *   invited ──accept (invitee)──► active ──end (either)──► ended
 *      │ └──end (inviter withdraws)──────────────────────► ended
 *      └──decline (invitee)──► declined
 *
 * While active, one participant holds the floor (the inviter at first): the other follows their
 * view. The follower asks for it; only the holder hands it over, so nobody's view is taken from
 * them mid-gesture. An opinion is written while active or after the end, by either participant.
 */
export interface ConsultationFacts {
  status: ConsultationStatus;
  inviterUserId: string;
  inviteeUserId: string;
  floorUserId: string;
  floorRequestedBy: string | null;
}

export type ConsultationAction = 'accept' | 'decline' | 'end' | 'request-floor' | 'hand-over' | 'write-opinion';

export type Transition = { ok: true; next: ConsultationFacts } | { ok: false; reason: string };

export function transition(facts: ConsultationFacts, action: ConsultationAction, byUserId: string): Transition {
  const refuse = (reason: string): Transition => ({ ok: false, reason });
  const to = (changes: Partial<ConsultationFacts>): Transition => ({ ok: true, next: { ...facts, ...changes } });
  const isInvitee = byUserId === facts.inviteeUserId;
  if (!isInvitee && byUserId !== facts.inviterUserId) return refuse('only its two participants act on a consultation');
  switch (action) {
    case 'accept':
    case 'decline':
      if (!isInvitee) return refuse(`only the invited doctor may ${action} the invitation`);
      if (facts.status !== 'invited') return refuse(`the consultation is ${facts.status}, not waiting for an answer`);
      return to({ status: action === 'accept' ? 'active' : 'declined' });
    case 'end':
      if (facts.status === 'invited' && isInvitee) return refuse('decline the invitation instead of ending it');
      if (facts.status !== 'invited' && facts.status !== 'active') return refuse(`the consultation is ${facts.status} already`);
      return to({ status: 'ended', floorRequestedBy: null });
    case 'request-floor':
      if (facts.status !== 'active') return refuse(`the consultation is ${facts.status}, not in session`);
      if (facts.floorUserId === byUserId) return refuse('you have the floor already');
      return to({ floorRequestedBy: byUserId });
    case 'hand-over':
      if (facts.status !== 'active') return refuse(`the consultation is ${facts.status}, not in session`);
      if (facts.floorUserId !== byUserId) return refuse('only the one who has the floor hands it over');
      if (!facts.floorRequestedBy) return refuse('nobody asked for the floor');
      return to({ floorUserId: facts.floorRequestedBy, floorRequestedBy: null });
    case 'write-opinion':
      if (facts.status !== 'active' && facts.status !== 'ended') return refuse(`the consultation is ${facts.status}: an opinion follows a session`);
      return to({});
  }
}
