import { PeerNotCallableError, storeInstances } from '../../gateway/dimse/store-scu.ts';
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
    if (!destination.host || !destination.port) return { failure: `DICOM peer ${destination.name} has no host and port to send to`, permanent: true };
    async function* inputs() {
      yield* part10s;
    }
    let summary;
    try {
      summary = await storeInstances({ aeTitle: destination.name, host: destination.host, port: destination.port, tlsRequired: destination.tlsRequired }, callingAeTitle, inputs());
    } catch (error) {
      if (error instanceof PeerNotCallableError) return { failure: error.message, permanent: true };
      throw error;
    }
    if (summary.associationFailure) return { failure: summary.associationFailure };
    return {
      results: summary.results.map((result) => {
        if (result.reason === undefined) return { stored: true };
        // Kept back after negotiation ("not sent: …"): the peer accepts neither its SOP class nor its
        // stored transfer syntax, and Yingyun does not transcode; 0122H says the same in a status.
        return { stored: false, reason: result.reason, permanent: (result.status === null && result.reason.startsWith('not sent:')) || result.status === 0x0122 };
      }),
    };
  };
}
