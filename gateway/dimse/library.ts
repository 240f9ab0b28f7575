import dimse from 'dcmjs-dimse';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../../archive/dicom/part10.ts';

// dcmjs-dimse, set up once for both roles (SCP and SCU): associations name Yingyun's implementation,
// and the library's PDU-by-PDU logging at info level is off; our own log records what an
// administrator needs.
dimse.log.setLevel('silent');
dimse.Implementation.setImplementationClassUid(IMPLEMENTATION_CLASS_UID);
dimse.Implementation.setImplementationVersion(IMPLEMENTATION_VERSION_NAME);

export default dimse;
