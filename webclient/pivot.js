/* This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
   this repository contains the full copyright notices and license terms. */
/* The pivot of the report configurator (REP-1).  `make sao` appends this
   file to live.js as sao's customisation hook `custom.js`.

   Tryton 8.0 has no pivot view: the menu «Сводная таблица» opens an action
   on the report variants with the context key `assistance_pivot`; here
   Sao.Tab.create opens our tab for it instead.  The tab sends keys only (cube, rows, columns,
   measures, filters, period, comparison) to the server's
   assistance.report.cube.compute, which answers the whole pivot from one
   query over the records the user may read.  A click on a cell asks the
   server for the cell's domain and opens an ordinary list of its records
   (the record rules apply again). */
(function() {
    'use strict';
    if (typeof Sao === 'undefined' || !Sao.Tab) {
        return;
    }
    const MODEL = 'assistance.report.cube';
    const VARIANT = 'assistance.report.variant';
    const TEXT = {
        title: 'Сводная таблица',
        cube: 'Куб',
        rows: 'Строки',
        columns: 'Колонки',
        measures: 'Показатели',
        filters: 'Отборы',
        add: 'Добавить…',
        period: 'Период',
        compare: 'Сравнить с предыдущим периодом',
        sort: 'Сортировка строк',
        by_name: 'по наименованию',
        compute: 'Построить',
        flip: 'Поменять оси',
        xlsx: 'Выгрузить в XLSX',
        pdf: 'Выгрузить в PDF',
        variant: 'Вариант',
        no_variant: '(новый)',
        save: 'Сохранить вариант',
        variant_name: 'Наименование варианта',
        shared: 'Общий для всех?',
        total: 'Итого',
        previous: 'пред.',
        remove: 'Убрать',
        expand: 'Развернуть',
        collapse: 'Свернуть',
        empty: 'Нет данных',
    };

    function call(model, method, params) {
        const session = Sao.Session.current_session;
        return new Sao.Model(model).execute(
            method, params, jQuery.extend({}, session.context));
    }

    function key_of(value) {
        return JSON.stringify(value);
    }

    function format(value, digits) {
        if ((value === null) || (value === undefined)) {
            return '';
        }
        value = Number(value);
        if (digits == 4) {
            return (value * 100).toLocaleString('ru-RU', {
                minimumFractionDigits: 1, maximumFractionDigits: 1}) + ' %';
        }
        return value.toLocaleString('ru-RU', {
            minimumFractionDigits: digits, maximumFractionDigits: digits});
    }

    const PivotTab = Sao.class_(Sao.Tab, {
        class_: 'tab-assistance-pivot',
        init: function(attributes) {
            PivotTab._super.init.call(this, attributes);
            this.cubes = {};
            this.layout = {
                cube: null, rows: [], columns: [], measures: [],
                filters: {}, period: null, compare: false, sort: null};
            this.collapsed = {rows: new Set(), columns: new Set()};
            this.answer = null;
            this.create_tabcontent();
            this.set_name(attributes.name || TEXT.title);
            this.form = jQuery('<div/>', {'class': 'assistance-pivot-form'});
            this.table = jQuery('<div/>', {
                'class': 'assistance-pivot-table table-responsive'});
            // The form above the table, both the tab's width.
            this.content.css({display: 'flex', 'flex-direction': 'column',
                width: '100%'}).append(this.form, this.table);
            this.view_prm = call(MODEL, 'cubes', []).then(cubes => {
                for (const cube of cubes) {
                    this.cubes[cube.key] = cube;
                }
                if (cubes.length) {
                    this.set_cube(cubes[0].key);
                }
            });
        },
        create_toolbar: function() {
            return jQuery('<span/>');
        },
        compare: function(attributes) {
            return is_pivot(attributes);
        },
        get cube() {
            return this.cubes[this.layout.cube];
        },
        set_cube: function(key) {
            this.layout = {
                cube: key, rows: [], columns: [],
                measures: [this.cubes[key].measures[0][0]],
                filters: {}, period: this.layout.period,
                compare: this.layout.compare, sort: null};
            this.filter_labels = {};
            this.answer = null;
            this.load_variants().then(() => this.render_form());
            this.table.empty();
        },
        load_variants: function() {
            return call(VARIANT, 'search_read', [
                [['cube', '=', this.layout.cube]], 0, null, null,
                ['name', 'layout', 'shared']]).then(variants => {
                this.variants = variants;
            });
        },
        dimension_label: function(key) {
            for (const [k, label] of this.cube.dimensions) {
                if (k == key) {
                    return label;
                }
            }
            return key;
        },
        used: function() {
            return new Set([...this.layout.rows, ...this.layout.columns]);
        },
        render_form: function() {
            const form = this.form.empty();
            const row = jQuery('<div/>', {'class': 'form-inline'})
                .appendTo(form);
            const cube_select = jQuery('<select/>', {
                'class': 'form-control', 'name': 'cube'});
            for (const cube of Object.values(this.cubes)) {
                jQuery('<option/>', {value: cube.key}).text(cube.string)
                    .prop('selected', cube.key == this.layout.cube)
                    .appendTo(cube_select);
            }
            cube_select.change(() => this.set_cube(cube_select.val()));
            row.append(jQuery('<label/>').text(TEXT.cube + ' '), cube_select);
            const variant_select = jQuery('<select/>', {
                'class': 'form-control', 'name': 'variant'});
            jQuery('<option/>', {value: ''}).text(TEXT.no_variant)
                .appendTo(variant_select);
            for (const variant of this.variants) {
                jQuery('<option/>', {value: variant.id})
                    .text(variant.name).appendTo(variant_select);
            }
            variant_select.change(() => {
                const variant = this.variants.find(
                    v => v.id == variant_select.val());
                if (variant) {
                    this.layout = jQuery.extend(
                        {cube: this.layout.cube, filters: {}},
                        JSON.parse(variant.layout));
                    this.layout.cube = variant.cube || this.layout.cube;
                    this.render_form();
                    this.compute();
                }
            });
            row.append(' ', jQuery('<label/>').text(TEXT.variant + ' '),
                variant_select);
            this.render_axis(form, 'rows', TEXT.rows);
            this.render_axis(form, 'columns', TEXT.columns);
            this.render_measures(form);
            this.render_filters(form);
            this.render_period(form);
            this.render_buttons(form);
        },
        render_axis: function(form, axis, label) {
            const line = jQuery('<div/>', {'class': 'form-inline',
                'data-axis': axis}).appendTo(form);
            line.append(jQuery('<label/>').text(label + ': '));
            for (const key of this.layout[axis]) {
                const chip = jQuery('<span/>', {'class': 'label label-info',
                    'data-key': key}).text(this.dimension_label(key) + ' ');
                jQuery('<a/>', {href: '#', title: TEXT.remove}).text('×')
                    .click(evt => {
                        evt.preventDefault();
                        this.layout[axis] = this.layout[axis].filter(
                            k => k != key);
                        this.render_form();
                    }).appendTo(chip);
                line.append(chip, ' ');
            }
            line.append(this.dimension_select(axis, key => {
                this.layout[axis].push(key);
                this.render_form();
            }));
        },
        dimension_select: function(name, callback) {
            const used = this.used();
            const select = jQuery('<select/>', {
                'class': 'form-control input-sm', 'name': name});
            jQuery('<option/>', {value: ''}).text(TEXT.add).appendTo(select);
            for (const [key, label] of this.cube.dimensions) {
                if (!used.has(key)) {
                    jQuery('<option/>', {value: key}).text(label)
                        .appendTo(select);
                }
            }
            select.change(() => {
                if (select.val()) {
                    callback(select.val());
                }
            });
            return select;
        },
        render_measures: function(form) {
            const line = jQuery('<div/>', {'class': 'form-inline'})
                .appendTo(form);
            line.append(jQuery('<label/>').text(TEXT.measures + ': '));
            for (const [key, label] of this.cube.measures) {
                const box = jQuery('<input/>', {type: 'checkbox',
                    name: 'measure', value: key})
                    .prop('checked', this.layout.measures.includes(key))
                    .change(() => {
                        this.layout.measures = line
                            .find('input[name=measure]:checked').toArray()
                            .map(e => e.value);
                    });
                line.append(jQuery('<label/>', {'class': 'checkbox-inline'})
                    .append(box, ' ' + label));
            }
        },
        render_filters: function(form) {
            const line = jQuery('<div/>', {'class': 'form-inline'})
                .appendTo(form);
            line.append(jQuery('<label/>').text(TEXT.filters + ': '));
            for (const [key, values] of Object.entries(this.layout.filters)) {
                const labels = this.filter_labels[key] || {};
                const text = values.map(v => labels[key_of(v)] || v)
                    .join(', ');
                const chip = jQuery('<span/>', {'class': 'label label-default'})
                    .text(this.dimension_label(key) + ' = ' + text + ' ');
                jQuery('<a/>', {href: '#', title: TEXT.remove}).text('×')
                    .click(evt => {
                        evt.preventDefault();
                        delete this.layout.filters[key];
                        this.render_form();
                    }).appendTo(chip);
                line.append(chip, ' ');
            }
            const values = jQuery('<select/>', {
                'class': 'form-control input-sm', name: 'filter_value'})
                .hide();
            line.append(this.dimension_select('filter', key => {
                // The values a filter may take are those the user may read:
                // ask the cube for the dimension alone.
                call(MODEL, 'compute', [{cube: this.layout.cube,
                    rows: [key], measures: [this.cube.measures[0][0]]}])
                    .then(answer => {
                        values.empty().show().data('key', key);
                        jQuery('<option/>', {value: ''}).text(TEXT.add)
                            .appendTo(values);
                        for (const [value, label] of answer.labels[key]) {
                            jQuery('<option/>', {value: key_of(value)})
                                .text(label).appendTo(values);
                        }
                    });
            }), ' ', values);
            values.change(() => {
                const key = values.data('key');
                if (!values.val()) {
                    return;
                }
                const value = JSON.parse(values.val());
                this.filter_labels[key] = this.filter_labels[key] || {};
                this.filter_labels[key][values.val()] =
                    values.find('option:selected').text();
                this.layout.filters[key] = (
                    this.layout.filters[key] || []).concat([value]);
                this.render_form();
            });
        },
        render_period: function(form) {
            const line = jQuery('<div/>', {'class': 'form-inline'})
                .appendTo(form);
            const period = this.layout.period || ['', ''];
            const start = jQuery('<input/>', {type: 'date', name: 'start',
                'class': 'form-control input-sm', value: period[0]});
            const end = jQuery('<input/>', {type: 'date', name: 'end',
                'class': 'form-control input-sm', value: period[1]});
            const change = () => {
                this.layout.period = (start.val() && end.val()) ?
                    [start.val(), end.val()] : null;
            };
            start.change(change);
            end.change(change);
            const compare = jQuery('<input/>', {type: 'checkbox',
                name: 'compare'}).prop('checked', this.layout.compare)
                .change(() => {
                    this.layout.compare = compare.prop('checked');
                });
            const sort = jQuery('<select/>', {
                'class': 'form-control input-sm', name: 'sort'});
            jQuery('<option/>', {value: ''}).text(TEXT.by_name)
                .appendTo(sort);
            for (const [key, label] of this.cube.measures) {
                jQuery('<option/>', {value: key}).text(label)
                    .prop('selected', key == this.layout.sort)
                    .appendTo(sort);
            }
            sort.change(() => {
                this.layout.sort = sort.val() || null;
            });
            // A cube without a date (the limits) has no period.
            if (this.cube.dated !== false) {
                line.append(jQuery('<label/>').text(TEXT.period + ': '),
                    start, ' — ', end, ' ',
                    jQuery('<label/>', {'class': 'checkbox-inline'})
                    .append(compare, ' ' + TEXT.compare), ' ');
            }
            line.append(jQuery('<label/>').text(TEXT.sort + ': '), sort);
        },
        render_buttons: function(form) {
            const line = jQuery('<div/>', {'class': 'btn-toolbar'})
                .appendTo(form);
            const button = (name, text, callback) => jQuery('<button/>', {
                type: 'button', 'class': 'btn btn-default', name: name})
                .text(text).click(callback).appendTo(line);
            button('compute', TEXT.compute, () => this.compute())
                .addClass('btn-primary');
            button('flip', TEXT.flip, () => {
                [this.layout.rows, this.layout.columns] = [
                    this.layout.columns, this.layout.rows];
                this.collapsed = {rows: this.collapsed.columns,
                    columns: this.collapsed.rows};
                this.render_form();
                this.compute();
            });
            button('xlsx', TEXT.xlsx, () => this.export_xlsx());
            button('pdf', TEXT.pdf, () => this.export_pdf());
            button('save', TEXT.save, () => this.save_variant());
        },
        params: function() {
            const params = jQuery.extend({}, this.layout);
            if (!params.period) {
                delete params.period;
                params.compare = false;
            }
            return params;
        },
        compute: function() {
            return call(MODEL, 'compute', [this.params()]).then(answer => {
                this.answer = answer;
                this.render_table();
            });
        },
        export_xlsx: function() {
            return call(MODEL, 'export_xlsx', [this.params()]).then(data => {
                Sao.common.download_file(data, 'pivot.xlsx');
            });
        },
        export_pdf: function() {
            return call(MODEL, 'export_pdf', [this.params()]).then(data => {
                Sao.common.download_file(data, 'pivot.pdf');
            });
        },
        save_variant: function() {
            const name = window.prompt(TEXT.variant_name);
            if (!name) {
                return;
            }
            const shared = window.confirm(TEXT.shared);
            const layout = this.params();
            delete layout.cube;
            return call(VARIANT, 'create', [[{name: name,
                cube: this.layout.cube, shared: shared,
                layout: JSON.stringify(layout)}]])
                .then(() => this.load_variants())
                .then(() => this.render_form());
        },
        label: function(axis, key) {
            if (!key.length) {
                return TEXT.total;
            }
            const dimension = this.answer[axis][key.length - 1][0];
            for (const [value, label] of this.answer.labels[dimension]) {
                if (key_of(value) == key_of(key[key.length - 1])) {
                    return label;
                }
            }
            return String(key[key.length - 1]);
        },
        visible: function(axis, key) {
            for (let i = 0; i < key.length; i++) {
                if (this.collapsed[axis].has(key_of(key.slice(0, i)))) {
                    return false;
                }
            }
            return true;
        },
        toggle: function(axis, key) {
            const id = key_of(key);
            return jQuery('<a/>', {href: '#', 'class': 'pivot-toggle'})
                .text(this.collapsed[axis].has(id) ? '⊞ ' : '⊟ ')
                .attr('title', this.collapsed[axis].has(id) ?
                    TEXT.expand : TEXT.collapse)
                .click(evt => {
                    evt.preventDefault();
                    if (this.collapsed[axis].has(id)) {
                        this.collapsed[axis].delete(id);
                    } else {
                        this.collapsed[axis].add(id);
                    }
                    this.render_table();
                });
        },
        render_table: function() {
            const answer = this.answer;
            this.table.empty();
            if (!answer.cells.length) {
                this.table.text(TEXT.empty);
                return;
            }
            const cells = new Map(answer.cells.map(
                ([row, column, values, previous]) => [
                    key_of([row, column]), [values, previous]]));
            const measures = answer.measures;
            const columns = answer.column_keys.filter(
                k => this.visible('columns', k));
            const rows = answer.row_keys.filter(k => this.visible('rows', k));
            const table = jQuery('<table/>', {
                'class': 'table table-bordered table-condensed ' +
                    'assistance-pivot'}).appendTo(this.table);
            const head = jQuery('<thead/>').appendTo(table);
            const header = jQuery('<tr/>').appendTo(head);
            header.append(jQuery('<th/>', {rowspan: 2}).text(
                answer.rows.map(d => d[1]).join(' / ')));
            for (const column of columns) {
                const th = jQuery('<th/>', {colspan: measures.length,
                    'data-column': key_of(column)});
                th.css('padding-left', (column.length * 1) + 'em');
                if (column.length < answer.columns.length) {
                    th.append(this.toggle('columns', column));
                }
                header.append(th.append(document.createTextNode(
                    column.map((v, i) => this.label(
                        'columns', column.slice(0, i + 1))).join(' / ') ||
                    TEXT.total)));
            }
            const second = jQuery('<tr/>').appendTo(head);
            for (const column of columns) {
                for (const measure of measures) {
                    second.append(jQuery('<th/>').text(measure[1]));
                }
            }
            const body = jQuery('<tbody/>').appendTo(table);
            for (const row of rows) {
                const tr = jQuery('<tr/>', {'data-row': key_of(row)})
                    .appendTo(body);
                const th = jQuery('<th/>').css(
                    'padding-left', (row.length * 1.5) + 'em');
                if (row.length < answer.rows.length) {
                    th.append(this.toggle('rows', row));
                }
                th.append(document.createTextNode(this.label('rows', row)));
                tr.append(th);
                for (const column of columns) {
                    const [values, previous] = cells.get(
                        key_of([row, column])) || [{}, {}];
                    for (const measure of measures) {
                        tr.append(this.cell(row, column, measure,
                            values, previous));
                    }
                }
            }
        },
        cell: function(row, column, measure, values, previous) {
            const [key, , digits] = measure;
            const td = jQuery('<td/>', {'class': 'text-right',
                'data-measure': key}).css('cursor', 'pointer');
            td.append(jQuery('<span/>', {'class': 'pivot-value'})
                .text(format(values[key], digits)));
            if (this.answer.compare) {
                td.append(jQuery('<br/>'), jQuery('<small/>', {
                    'class': 'text-muted pivot-previous'}).text(
                    TEXT.previous + ' ' + format(previous[key], digits)));
            }
            td.click(() => this.drill(row, column));
            return td;
        },
        drill: function(row, column) {
            const cell = {};
            this.answer.rows.forEach(([key], i) => {
                if (i < row.length) {
                    cell[key] = row[i];
                }
            });
            this.answer.columns.forEach(([key], i) => {
                if (i < column.length) {
                    cell[key] = column[i];
                }
            });
            const params = jQuery.extend({}, this.params(), {cell: cell});
            return call(MODEL, 'drill', [params]).then(action => {
                return Sao.Tab.create({
                    model: action.model,
                    domain: action.domain,
                    name: action.name,
                    mode: ['tree', 'form'],
                    view_ids: [],
                    context: {},
                });
            });
        },
    });

    function is_pivot(attributes) {
        return Boolean(attributes && (attributes.model == VARIANT)
            && attributes.context && attributes.context.assistance_pivot);
    }

    const create = Sao.Tab.create;
    Sao.Tab.create = function(attributes) {
        if (is_pivot(attributes)) {
            for (const other of Sao.Tab.tabs) {
                if (other.compare(attributes)) {
                    other.show();
                    return jQuery.when();
                }
            }
            const tab = new PivotTab(attributes);
            return tab.view_prm.then(() => Sao.Tab.add(tab));
        }
        return create.call(this, attributes);
    };
    Sao.Tab.AssistancePivot = PivotTab;
}());
