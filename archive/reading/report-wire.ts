/**
 * The report constants the viewer needs as values. Kept apart from report.ts, which builds zod
 * schemas when it is loaded: in the viewer that would happen before main.ts sets zod jitless, and
 * zod's `new Function` probe would be reported as a CSP violation.
 */

/**
 * How many studies one report-status request may name: a page of the study list; a patient's
 * priors (up to 200) are asked in batches. 100 UIDs of 64 characters make a request line of about
 * 7.1 KB, within the 8 KB that proxies (nginx's default) accept.
 */
export const REPORT_STATUS_BATCH = 100;

/**
 * The problem `reason` of a report refused because the caller sees its study only through a
 * consultation's grant or a share link: reading it is allowed there, reporting on it is not.
 */
export const NOT_REPORTABLE_HERE = 'not-reportable-here';
