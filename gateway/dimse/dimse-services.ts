import type { Runtime } from '../../workers/runtime.ts';
import { storageCommitmentScp } from './commitment-scp.ts';
import { findScp } from './find-scp.ts';
import { retrieveServices } from './retrieve-scp.ts';
import type { DimseService } from './service.ts';

/**
 * The DIMSE services the SCP offers beyond C-ECHO and C-STORE, each built once at start-up from the
 * runtime's services: the one list the association consults for contexts, negotiation and requests.
 */
export function dimseServices(runtime: Runtime): DimseService[] {
  return [storageCommitmentScp(runtime.storageCommitment, runtime.log.child({ component: 'storage-commitment' })), findScp(runtime), ...retrieveServices(runtime)];
}
