import { storeInstances } from '../../gateway/dimse/store-scu.ts';
import type { Destination } from '../db/routing-repository.ts';
import type { BatchOutcome, SendBatch } from './routing-service.ts';
import { stowInstances } from './stow-client.ts';

/**
 * The senders behind the forward queue: a DICOM peer over one association as a C-STORE SCU (calling
 * with Yingyun's own AE title), a DICOMweb node in one STOW-RS request.
 */
export function sendBatchAs(callingAeTitle: string): SendBatch {
  return async (destination: Destination, part10s: Buffer[]): Promise<BatchOutcome> => {
    if (destination.kind === 'dicomweb') return stowInstances({ url: destination.url, bearerToken: destination.bearerToken }, part10s);
    if (!destination.host || !destination.port) return { failure: `DICOM peer ${destination.name} has no host and port to send to` };
    async function* inputs() {
      yield* part10s;
    }
    const summary = await storeInstances({ aeTitle: destination.name, host: destination.host, port: destination.port, tlsRequired: destination.tlsRequired }, callingAeTitle, inputs());
    if (summary.associationFailure) return { failure: summary.associationFailure };
    return { results: summary.results.map((result) => (result.reason === undefined ? { stored: true } : { stored: false, reason: result.reason })) };
  };
}
