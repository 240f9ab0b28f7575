import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { runDcmtk } from '../test/support/dcmtk.ts';
import { startTestSystem } from '../test/support/system.ts';
import { PYDICOM_DATA } from './targets/seeds.ts';

/**
 * Records what DCMTK's SCUs send in real associations with our gateway — the byte streams the PDU
 * fuzzers start from (fixtures/fuzz/pdus/*.bin, committed). Run again after a change to what the
 * gateway negotiates: `node --import tsx fuzz/capture-pdus.ts`. Each stream goes through a proxy
 * that writes down the requestor's bytes on their way to the gateway.
 */

const OUT = path.join(import.meta.dirname, '../fixtures/fuzz/pdus');
const system = await startTestSystem();
await fs.mkdir(OUT, { recursive: true });
try {
  const host = ['-aec', system.aeTitle];
  // [name, tool, options, operands after the peer's address (storescu's files)]
  const sessions: Array<[string, string, string[], string[]?]> = [
    ['c-echo', 'echoscu', [...host, '-aet', 'ECHOSCU']],
    ['c-store-ct-implicit', 'storescu', [...host, '-aet', 'STORESCU', '-xi'], [`${PYDICOM_DATA}/test_files/CT_small.dcm`]],
    ['c-store-mr-explicit', 'storescu', [...host, '-aet', 'STORESCU', '-xe'], [`${PYDICOM_DATA}/test_files/MR_small.dcm`]],
    ['c-store-charset-sequence', 'storescu', [...host, '-aet', 'STORESCU'], [`${PYDICOM_DATA}/charset_files/chrSQEncoding.dcm`]],
    ['c-find-study', 'findscu', [...host, '-aet', 'FINDSCU', '-S', '-k', 'QueryRetrieveLevel=STUDY', '-k', 'PatientName=CompressedSamples*', '-k', 'StudyInstanceUID', '-k', 'StudyDate=20000101-']],
    ['c-find-patient', 'findscu', [...host, '-aet', 'FINDSCU', '-P', '-k', 'QueryRetrieveLevel=PATIENT', '-k', 'PatientID=1CT1', '-k', 'PatientName']],
    ['c-move-study', 'movescu', [...host, '-aet', 'MOVESCU', '-aem', 'STORESCP', '-S', '-k', 'QueryRetrieveLevel=STUDY', '-k', 'StudyInstanceUID=1.3.6.1.4.1.5962.1.2.1.20040119072730.12322']],
  ];
  for (const [name, tool, args, operands = []] of sessions) {
    const recorded: Buffer[] = [];
    const proxy = net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: system.dicomPort });
      client.on('data', (chunk: Buffer) => recorded.push(Buffer.from(chunk)));
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as net.AddressInfo;
    const result = await runDcmtk(tool, [...args, '127.0.0.1', String(port), ...operands]);
    proxy.close();
    const stream = Buffer.concat(recorded);
    await fs.writeFile(path.join(OUT, `${name}.bin`), stream);
    console.log(`${name}: ${tool} exited ${result.code}, ${stream.length} bytes sent`);
  }
} finally {
  await system.shutdown();
}
