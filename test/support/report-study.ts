/** test/reports.test.ts takes the report suites' study image by this name: reading-centre.ts's countyImage. */
export { countyImage as studyInstance, newUid } from './reading-centre.ts';
