import ipaddr from 'ipaddr.js';
import type { DicomPeer, InstitutionsRepository } from '../../archive/db/institutions-repository.ts';
import { REJECT_REASON, REJECT_RESULT, REJECT_SOURCE } from './pdu.ts';

/** An A-ASSOCIATE-RJ (PS3.8 9.3.4, Table 9-21), with the names the standard gives its values, for the log and the audit trail. */
export interface AssociationRejection {
  result: number;
  source: number;
  reason: number;
  description: string;
}

export const REJECTION = {
  calledAeTitleNotRecognised: {
    result: REJECT_RESULT.permanent,
    source: REJECT_SOURCE.serviceUser,
    reason: REJECT_REASON.calledAeTitleNotRecognised,
    description: 'rejected-permanent, DICOM UL service-user, called-AE-title-not-recognized',
  },
  /**
   * An unregistered AE title, and also a registered one calling from an address outside its allowed
   * networks: PS3.8 has no reason for "wrong address", and what is not recognised is the pair of
   * calling AE title and address, so the caller hears the same as for an unknown AE title (and
   * learns nothing about which AE titles exist).
   */
  callingAeTitleNotRecognised: {
    result: REJECT_RESULT.permanent,
    source: REJECT_SOURCE.serviceUser,
    reason: REJECT_REASON.callingAeTitleNotRecognised,
    description: 'rejected-permanent, DICOM UL service-user, calling-AE-title-not-recognized',
  },
  /**
   * A peer that must use DICOM TLS calling the plain port. The AE title is recognised, so reason 3
   * would mislead, and PS3.8 has no reason for transport security: no-reason-given (1) is the only
   * honest value. Permanent, because calling again on the same port cannot succeed.
   */
  tlsRequired: {
    result: REJECT_RESULT.permanent,
    source: REJECT_SOURCE.serviceUser,
    reason: REJECT_REASON.noReasonGiven,
    description: 'rejected-permanent, DICOM UL service-user, no-reason-given (TLS required)',
  },
  /**
   * The peer registry (the database) cannot be read. Nothing is wrong with the caller: transient, so
   * a well-behaved sender retries later, from the service provider (presentation related function),
   * with temporary-congestion (1) rather than local-limit-exceeded (2), which would say that too many
   * associations are open.
   */
  temporarilyUnavailable: {
    result: REJECT_RESULT.transient,
    source: REJECT_SOURCE.serviceProviderPresentation,
    reason: REJECT_REASON.temporaryCongestion,
    description: 'rejected-transient, DICOM UL service-provider (presentation), temporary-congestion',
  },
} as const satisfies Record<string, AssociationRejection>;

/** Who is calling, as the association request and the connection say. */
export interface Caller {
  callingAeTitle: string;
  /** The remote address as the socket reports it, possibly IPv4-mapped IPv6. */
  remoteAddress: string;
  tls: boolean;
}

/** What an admitted association sends under: the institution its data is filed under, and how to read its text. */
export interface AdmittedPeer {
  institutionId: string;
  characterSetOverride?: string;
  /** True when the caller is not a registered peer and its data goes to the quarantine institution. */
  quarantined: boolean;
}

export type GateDecision =
  | { admitted: true; peer: AdmittedPeer; why: string }
  | { admitted: false; rejection: AssociationRejection; why: string; institutionId?: string };

/**
 * Decides whether a calling AE may associate: registered AE title, calling from one of its allowed
 * networks, over TLS if it must. One database look-up per association; C-STOREs on it reuse the answer.
 */
export class PeerGate {
  private quarantineInstitutionId?: Promise<string>;

  constructor(
    private readonly institutions: Pick<InstitutionsRepository, 'findPeerByAeTitle' | 'quarantineInstitutionId'>,
    private readonly unknownPeers: 'reject' | 'quarantine',
  ) {}

  async decide(caller: Caller): Promise<GateDecision> {
    try {
      return await this.decideOrThrow(caller);
    } catch (error) {
      return { admitted: false, rejection: REJECTION.temporarilyUnavailable, why: `peer registry unavailable: ${error instanceof Error ? error.message : String(error)}` };
    }
  }

  private async decideOrThrow(caller: Caller): Promise<GateDecision> {
    const peer = await this.institutions.findPeerByAeTitle(caller.callingAeTitle);
    if (!peer) return this.unrecognised('calling AE title is not registered');
    if (!addressAllowed(caller.remoteAddress, peer.allowedNetworks)) {
      return this.unrecognised(`calling AE title is registered, but not for ${normaliseAddress(caller.remoteAddress)} (allowed: ${peer.allowedNetworks.join(', ')})`);
    }
    if (peer.tlsRequired && !caller.tls) {
      return { admitted: false, rejection: REJECTION.tlsRequired, why: 'this peer must use DICOM TLS, and called the plain port', institutionId: peer.institutionId };
    }
    return { admitted: true, peer: admittedAs(peer), why: 'registered peer' };
  }

  /** The caller is not a registered peer: refused, or with "quarantine" accepted into the quarantine institution. */
  private async unrecognised(why: string): Promise<GateDecision> {
    if (this.unknownPeers === 'reject') return { admitted: false, rejection: REJECTION.callingAeTitleNotRecognised, why };
    this.quarantineInstitutionId ??= this.institutions.quarantineInstitutionId().catch((error: unknown) => {
      this.quarantineInstitutionId = undefined;
      throw error;
    });
    return { admitted: true, peer: { institutionId: await this.quarantineInstitutionId, quarantined: true }, why: `${why}; accepted into quarantine` };
  }
}

function admittedAs(peer: DicomPeer): AdmittedPeer {
  return { institutionId: peer.institutionId, quarantined: false, ...(peer.characterSet ? { characterSetOverride: peer.characterSet } : {}) };
}

/** '::ffff:10.1.2.3' → '10.1.2.3'; anything unparseable is returned as it came. */
export function normaliseAddress(address: string): string {
  return ipaddr.isValid(address) ? ipaddr.process(address).toString() : address;
}

/**
 * Whether an address lies in one of the networks (CIDR, as PostgreSQL prints cidr values); no
 * networks means any address. IPv4-mapped IPv6 addresses (a dual-stack listener's view of an IPv4
 * peer) match IPv4 networks, and IPv4 addresses match IPv4-mapped IPv6 networks.
 */
export function addressAllowed(address: string, networks: readonly string[]): boolean {
  if (networks.length === 0) return true;
  if (!ipaddr.isValid(address)) return false;
  const caller = ipaddr.process(address);
  return networks.some((network) => {
    if (!ipaddr.isValidCIDR(network)) return false;
    const [base, bits] = ipaddr.parseCIDR(network);
    if (caller.kind() === base.kind()) return caller.match(base, bits);
    if (caller instanceof ipaddr.IPv4 && base instanceof ipaddr.IPv6) return caller.toIPv4MappedAddress().match(base, bits);
    return false;
  });
}
