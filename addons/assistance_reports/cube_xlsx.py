# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The pivot as an XLSX workbook: the same layout and a native chart (REP-1)"
import io

import xlsxwriter


def _labels(answer, axis):
    return [dict(map(tuple, answer['labels'][d[0]])) for d in answer[axis]]


def _label(labels, key):
    return ' / '.join(str(labels[i].get(v, v)) for i, v in enumerate(key))


def workbook(answer, total):
    """Return the bytes of a workbook: one line per row key (subtotals
    included, indented by level), one column per column key and measure,
    and a column chart of the first measure by the first-level rows"""
    cells = {(tuple(r), tuple(c)): v for r, c, v, _ in answer['cells']}
    measures = answer['measures']
    columns = [tuple(k) for k in answer['column_keys']]
    row_labels = _labels(answer, 'rows')
    column_labels = _labels(answer, 'columns')
    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {'in_memory': True})
    sheet = book.add_worksheet(answer['cube'][:31])
    bold = book.add_format({'bold': True})
    number = book.add_format({'num_format': '#,##0.00'})
    header = [' / '.join(d[1] for d in answer['rows']) or total]
    for column in columns:
        name = _label(column_labels, column) if column else total
        header.extend(f'{name}: {m[1]}' for m in measures)
    sheet.write_row(0, 0, header, bold)
    chart_rows = []
    for line, row in enumerate((tuple(k) for k in answer['row_keys']), 1):
        text = str(row_labels[len(row) - 1].get(row[-1], row[-1])
            if row else total)
        sheet.write(line, 0, '    ' * max(len(row) - 1, 0) + text,
            bold if len(row) < len(answer['rows']) else None)
        values = {}
        for i, column in enumerate(columns):
            values = cells.get((row, column), {})
            for j, measure in enumerate(measures):
                value = values.get(measure[0])
                if value is not None:
                    sheet.write_number(line, 1 + i * len(measures) + j,
                        float(value), number)
        if len(row) == 1:
            chart_rows.append((text, cells.get((row, ()), {}).get(
                        measures[0][0])))
    sheet.set_column(0, 0, 40)
    sheet.set_column(1, len(header), 18)
    if chart_rows:
        _chart(book, sheet, len(header) + 1, header[0], measures[0][1],
            chart_rows)
    book.close()
    return output.getvalue()


def _chart(book, sheet, first_column, category, measure, chart_rows):
    "Write the chart's data beside the table and a column chart of it"
    sheet.write_row(0, first_column, [category, measure])
    for line, (text, value) in enumerate(chart_rows, 1):
        sheet.write(line, first_column, text)
        sheet.write_number(line, first_column + 1, float(value or 0))
    name = sheet.get_name()
    chart = book.add_chart({'type': 'column'})
    chart.add_series({
            'name': measure,
            'categories': [name, 1, first_column, len(chart_rows),
                first_column],
            'values': [name, 1, first_column + 1, len(chart_rows),
                first_column + 1],
            })
    chart.set_legend({'none': True})
    sheet.insert_chart(len(chart_rows) + 2, first_column, chart)
