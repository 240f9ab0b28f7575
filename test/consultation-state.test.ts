import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { transition, type ConsultationAction, type ConsultationFacts } from '../archive/consultation/consultation-state.ts';

const INVITER = '1';
const INVITEE = '2';
const STRANGER = '3';
const facts = (changes: Partial<ConsultationFacts> = {}): ConsultationFacts => ({ status: 'active', inviterUserId: INVITER, inviteeUserId: INVITEE, floorUserId: INVITER, floorRequestedBy: null, ...changes });
const refused = (state: ConsultationFacts, action: ConsultationAction, by: string) => {
  const result = transition(state, action, by);
  assert.equal(result.ok, false, `${action} by ${by} in ${state.status} must be refused`);
};
const next = (state: ConsultationFacts, action: ConsultationAction, by: string) => {
  const result = transition(state, action, by);
  assert.ok(result.ok, `${action} by ${by} in ${state.status}: ${result.ok ? '' : result.reason}`);
  return result.next;
};

describe('consultation state machine', () => {
  it('the invitee accepts or declines an invitation; the inviter may withdraw it', () => {
    assert.equal(next(facts({ status: 'invited' }), 'accept', INVITEE).status, 'active');
    assert.equal(next(facts({ status: 'invited' }), 'decline', INVITEE).status, 'declined');
    assert.equal(next(facts({ status: 'invited' }), 'end', INVITER).status, 'ended');
    refused(facts({ status: 'invited' }), 'accept', INVITER);
    refused(facts({ status: 'invited' }), 'end', INVITEE);
    for (const status of ['active', 'declined', 'ended'] as const) {
      refused(facts({ status }), 'accept', INVITEE);
      refused(facts({ status }), 'decline', INVITEE);
    }
  });

  it('either participant ends a session once', () => {
    assert.equal(next(facts(), 'end', INVITEE).status, 'ended');
    assert.equal(next(facts({ floorRequestedBy: INVITEE }), 'end', INVITER).floorRequestedBy, null);
    refused(facts({ status: 'ended' }), 'end', INVITER);
    refused(facts({ status: 'declined' }), 'end', INVITER);
  });

  it('the floor passes only when asked for and handed over by its holder', () => {
    refused(facts(), 'request-floor', INVITER);
    refused(facts(), 'hand-over', INVITER);
    const asked = next(facts(), 'request-floor', INVITEE);
    assert.equal(asked.floorRequestedBy, INVITEE);
    refused(asked, 'hand-over', INVITEE);
    const handed = next(asked, 'hand-over', INVITER);
    assert.deepEqual([handed.floorUserId, handed.floorRequestedBy], [INVITEE, null]);
    refused(facts({ status: 'invited' }), 'request-floor', INVITEE);
    refused(facts({ status: 'ended', floorRequestedBy: INVITEE }), 'hand-over', INVITER);
  });

  it('an opinion follows a session, and strangers do nothing', () => {
    next(facts(), 'write-opinion', INVITEE);
    next(facts({ status: 'ended' }), 'write-opinion', INVITER);
    refused(facts({ status: 'invited' }), 'write-opinion', INVITEE);
    refused(facts({ status: 'declined' }), 'write-opinion', INVITER);
    for (const action of ['accept', 'decline', 'end', 'request-floor', 'hand-over', 'write-opinion'] as const) refused(facts({ status: 'invited' }), action, STRANGER);
  });
});
