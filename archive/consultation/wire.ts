/**
 * What a consultation looks like on the wire, to the REST routes and over its WebSocket: defined once
 * here and imported by the server and the viewer alike. Nothing here may import Node or browser code.
 */

export type ConsultationStatus = 'invited' | 'active' | 'declined' | 'ended';

export interface ConsultationParticipant {
  username: string;
  displayName: string;
  institutionName: string | null;
}

export interface Consultation {
  id: string;
  studyInstanceUid: string;
  reason: string;
  status: ConsultationStatus;
  inviter: ConsultationParticipant;
  invitee: ConsultationParticipant;
  /** The username whose view the other follows. */
  floorHolder: string;
  /** The username that asked to take the floor over, until the holder hands it over. */
  floorRequestedBy: string | null;
  opinion: { text: string; author: string; writtenAt: string } | null;
  createdAt: string;
  endedAt: string | null;
}

/** POST /api/consultations */
export interface ConsultationInvitation {
  inviteeUsername: string;
  studyInstanceUid: string;
  reason: string;
}

/**
 * The presenter's view, applied as it is on the follower's screen. Camera values are Cornerstone's
 * (world coordinates), so both screens show the same region whatever their size.
 */
export interface SharedView {
  layout: string;
  /** The cell the presenter works in, and each cell's series (null: empty) and slice. */
  activeCell: number;
  cells: ({ studyInstanceUid: string; seriesInstanceUid: string; imageIndex: number } | null)[];
  voi: { windowCenter: number; windowWidth: number } | null;
  camera: { parallelScale: number; focalPoint: [number, number, number]; position: [number, number, number] } | null;
  /** The measurements drawn, as Cornerstone's annotation state serialises them. */
  annotations: unknown[];
}

/** Where a participant points, as a fraction of the viewport grid (0..1 across, 0..1 down): both show the same layout. */
export interface SharedPointer {
  x: number;
  y: number;
}

export type ConsultationClientMessage =
  | { type: 'view'; view: SharedView }
  | { type: 'pointer'; pointer: SharedPointer }
  | { type: 'chat'; text: string }
  /** Ask the holder for the floor. */
  | { type: 'floor-request' }
  /** The holder gives the floor to the one who asked. */
  | { type: 'floor-hand-over' };

export type ConsultationServerMessage =
  /** First message on a socket, and again whenever the consultation changes (floor, opinion, end). */
  | { type: 'consultation'; consultation: Consultation; you: string }
  | { type: 'view'; from: string; view: SharedView }
  | { type: 'pointer'; from: string; pointer: SharedPointer }
  | { type: 'chat'; from: string; text: string; sentAt: string }
  /** Someone opened the session: the presenter answers with its whole view. */
  | { type: 'joined'; username: string }
  | { type: 'refused'; reason: string };

/** The longest chat message and opinion accepted. */
export const CHAT_MAX_LENGTH = 2000;
export const OPINION_MAX_LENGTH = 20_000;
