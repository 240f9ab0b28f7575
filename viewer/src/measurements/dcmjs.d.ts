/** dcmjs ships no types; structured-report.ts states the part of its API it uses. */
declare module 'dcmjs';
