import { INSTITUTION_KINDS, REGION_LEVELS } from '../../api/admin-models.ts';
import type { Translate } from '../../i18n/i18n.ts';
import { institutionRows, regionRows } from '../../logic/admin.ts';
import type { AppState } from '../../state/app-state.ts';
import type { AdminController } from '../../state/admin-controller.ts';
import { h, replaceChildren } from '../dom.ts';
import { adminForm, fillSelect, formFields, loadable, readyValue, section, selectField, submitButton, table, textField, type AdminTabView } from './parts.ts';

/** Regions (province → county) and the institutions in them: a system administrator's. */
export class InstitutionsTab implements AdminTabView {
  readonly element: HTMLElement;
  private readonly regionList = h('div');
  private readonly institutionList = h('div');
  private readonly parentSelect = h('select');
  private readonly regionSelect = h('select');

  constructor(
    private readonly admin: AdminController,
    private readonly t: Translate,
  ) {
    const levelSelect = h('select', {}, REGION_LEVELS.map((level) => h('option', { value: level }, t(`admin.level.${level}`))));
    const kindSelect = h('select', {}, INSTITUTION_KINDS.map((kind) => h('option', { value: kind }, t(`admin.kind.${kind}`))));
    const regionForm = adminForm(
      'region',
      t('admin.newRegion'),
      (form) => void this.admin.createRegion(formFields(form)).then((done) => done && form.reset()),
      textField(t, 'code', 'admin.field.code', { required: true, maxlength: 64 }),
      textField(t, 'name', 'admin.field.name', { required: true, maxlength: 128 }),
      selectField(t, 'level', 'admin.field.level', levelSelect),
      selectField(t, 'parentCode', 'admin.field.parent', this.parentSelect),
      submitButton(t('admin.create'), 'create-region'),
    );
    const institutionForm = adminForm(
      'institution',
      t('admin.newInstitution'),
      (form) => void this.admin.createInstitution(formFields(form)).then((done) => done && form.reset()),
      textField(t, 'code', 'admin.field.code', { required: true, maxlength: 64 }),
      textField(t, 'name', 'admin.field.name', { required: true, maxlength: 128 }),
      selectField(t, 'kind', 'admin.field.kind', kindSelect),
      selectField(t, 'regionCode', 'admin.field.region', this.regionSelect),
      submitButton(t('admin.create'), 'create-institution'),
    );
    this.element = h('div', { class: 'admin-tab', 'data-tab': 'institutions' }, section(t('admin.institutions'), this.institutionList, institutionForm), section(t('admin.regions'), this.regionList, regionForm));
  }

  render(state: AppState): void {
    const t = this.t;
    const { regions, institutions } = state.admin;
    const regionOptions = [{ value: '', label: t('admin.noneOption') }, ...readyValue(regions).map((region) => ({ value: region.code, label: `${region.name} (${region.code})` }))];
    fillSelect(this.parentSelect, regionOptions);
    fillSelect(this.regionSelect, regionOptions);
    replaceChildren(
      this.regionList,
      loadable(t, regions, (value) =>
        table(
          'regions',
          [t('admin.field.code'), t('admin.field.name'), t('admin.field.level'), t('admin.field.parent')],
          regionRows(value).map((row) => [row.code, row.name, t(`admin.level.${row.level}`), row.parent]),
        ),
      ),
    );
    replaceChildren(
      this.institutionList,
      loadable(t, institutions, (value) =>
        table(
          'institutions',
          [t('admin.field.code'), t('admin.field.name'), t('admin.field.kind'), t('admin.field.region')],
          institutionRows(value, readyValue(regions)).map((row) => [row.code, row.name, t(`admin.kind.${row.kind}`), row.region]),
        ),
      ),
    );
  }
}
