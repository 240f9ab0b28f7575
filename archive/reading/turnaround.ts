import type { PatientClass } from './reading-wire.ts';

/**
 * Report turnaround clocks (报告时限), pure and shared by the server and the viewer: a limit per
 * examination group and patient class, counted in wall-clock or in working time, green until the
 * amber fraction of it has passed, amber until it has all passed, red after.
 */
export const MODALITY_GROUPS = ['radiograph', 'ct-mr', 'ultrasound', 'other'] as const;
export type ModalityGroup = (typeof MODALITY_GROUPS)[number];

export interface TurnaroundLimit {
  modalityGroup: ModalityGroup;
  patientClass: PatientClass;
  limitMinutes: number;
  /** Counted in working hours (outpatients, check-ups) or around the clock (emergencies, wards). */
  workingTime: boolean;
  /** Share of the limit after which the clock turns amber. */
  amberFraction: number;
}

export type ClockColour = 'green' | 'amber' | 'red';

export interface TurnaroundClock {
  limit: TurnaroundLimit;
  elapsedMinutes: number;
  remainingMinutes: number;
  colour: ClockColour;
}

/**
 * Defaults as Chinese radiology departments publish them in their service commitments (e.g. the
 * 急诊 "X线30分钟、CT/MR 1小时" rule, 门诊 CT/MR same half-day, 住院 same day) — our reading of
 * common practice, not one national standard: each centre sets its own (PUT /api/admin/turnaround-limits).
 */
const DEFAULT_MINUTES: Record<PatientClass, Record<ModalityGroup, number> & { workingTime: boolean }> = {
  emergency: { radiograph: 30, 'ct-mr': 60, ultrasound: 30, other: 60, workingTime: false },
  outpatient: { radiograph: 120, 'ct-mr': 240, ultrasound: 60, other: 240, workingTime: true },
  inpatient: { radiograph: 360, 'ct-mr': 360, ultrasound: 240, other: 360, workingTime: false },
  'physical-exam': { radiograph: 960, 'ct-mr': 960, ultrasound: 960, other: 960, workingTime: true },
};
export const DEFAULT_AMBER_FRACTION = 0.75;

export const DEFAULT_TURNAROUND_LIMITS: readonly TurnaroundLimit[] = (Object.keys(DEFAULT_MINUTES) as PatientClass[]).flatMap((patientClass) =>
  MODALITY_GROUPS.map((modalityGroup) => ({
    modalityGroup,
    patientClass,
    limitMinutes: DEFAULT_MINUTES[patientClass][modalityGroup],
    workingTime: DEFAULT_MINUTES[patientClass].workingTime,
    amberFraction: DEFAULT_AMBER_FRACTION,
  })),
);

export function modalityGroupOf(modality: string): ModalityGroup {
  const code = modality.toUpperCase();
  if (['CR', 'DX', 'DR', 'MG', 'RF', 'XA', 'PX', 'IO'].includes(code)) return 'radiograph';
  if (['CT', 'MR', 'PT', 'NM'].includes(code)) return 'ct-mr';
  if (code === 'US') return 'ultrasound';
  return 'other';
}

/**
 * Working time: Monday to Friday, 08:00–12:00 and 13:30–17:30 China Standard Time (UTC+8, no
 * daylight saving), the hours most county hospitals keep. Public holidays are not known here.
 */
const CHINA_OFFSET_MINUTES = 8 * 60;
const WORKING_PERIODS: readonly [number, number][] = [
  [8 * 60, 12 * 60],
  [13 * 60 + 30, 17 * 60 + 30],
];

/** Minutes of working time between two instants (zero when `until` is not after `from`). */
export function workingMinutesBetween(from: Date, until: Date): number {
  if (until <= from) return 0;
  const dayMs = 86_400_000;
  const local = (date: Date) => date.getTime() + CHINA_OFFSET_MINUTES * 60_000;
  const start = local(from);
  const end = local(until);
  let total = 0;
  for (let day = Math.floor(start / dayMs) * dayMs; day < end; day += dayMs) {
    const weekday = new Date(day).getUTCDay();
    if (weekday === 0 || weekday === 6) continue;
    for (const [open, close] of WORKING_PERIODS) {
      const overlap = Math.min(end, day + close * 60_000) - Math.max(start, day + open * 60_000);
      if (overlap > 0) total += overlap;
    }
  }
  return total / 60_000;
}

export function limitFor(limits: readonly TurnaroundLimit[], modality: string, patientClass: PatientClass): TurnaroundLimit {
  const modalityGroup = modalityGroupOf(modality);
  const match = (list: readonly TurnaroundLimit[]) => list.find((limit) => limit.modalityGroup === modalityGroup && limit.patientClass === patientClass);
  return match(limits) ?? match(DEFAULT_TURNAROUND_LIMITS)!;
}

/** The clock of a task that arrived at `arrivedAt`, read at `now`. */
export function turnaroundClock(input: { arrivedAt: Date; now: Date; modality: string; patientClass: PatientClass; limits: readonly TurnaroundLimit[] }): TurnaroundClock {
  const limit = limitFor(input.limits, input.modality, input.patientClass);
  const elapsedMinutes = limit.workingTime ? workingMinutesBetween(input.arrivedAt, input.now) : Math.max(0, (input.now.getTime() - input.arrivedAt.getTime()) / 60_000);
  const colour: ClockColour = elapsedMinutes >= limit.limitMinutes ? 'red' : elapsedMinutes >= limit.limitMinutes * limit.amberFraction ? 'amber' : 'green';
  return { limit, elapsedMinutes, remainingMinutes: limit.limitMinutes - elapsedMinutes, colour };
}
