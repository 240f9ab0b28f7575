import { formatPersonName } from '../dicom/dataset.ts';
import type { StudySummary } from '../dicomweb/models.ts';
import type { Sort } from './route.ts';

/**
 * Sorts one page of results in the browser, for when the archive cannot sort by a column
 * (QIDO-RS has no standard ordering parameter): names by the reader's collation (pinyin order
 * for Chinese), counts numerically, everything else as text.
 */
export function sortStudiesInPage(studies: readonly StudySummary[], sort: Sort, locale: string): StudySummary[] {
  const collator = new Intl.Collator(locale, { numeric: true, sensitivity: 'base' });
  const value = (study: StudySummary): string | number => {
    switch (sort.key) {
      case 'PatientName':
        return formatPersonName(study.patientName, locale);
      case 'PatientID':
        return study.patientId;
      case 'StudyDate':
        return `${study.studyDate}${study.studyTime}`;
      case 'ModalitiesInStudy':
        return study.modalities.join('/');
      case 'StudyDescription':
        return study.description;
      case 'InstitutionName':
        return study.institution;
      case 'AccessionNumber':
        return study.accessionNumber;
      case 'NumberOfStudyRelatedSeries':
        return study.seriesCount ?? -1;
      case 'NumberOfStudyRelatedInstances':
        return study.instanceCount ?? -1;
    }
  };
  const direction = sort.descending ? -1 : 1;
  return [...studies].sort((a, b) => {
    const left = value(a);
    const right = value(b);
    const order = typeof left === 'number' && typeof right === 'number' ? left - right : collator.compare(String(left), String(right));
    return order * direction;
  });
}
