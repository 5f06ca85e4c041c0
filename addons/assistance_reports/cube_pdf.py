# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The pivot as a PDF: the same layout as the XLSX, an HTML table (REP-1)"
from html import escape


def _labels(answer, axis):
    return [dict(map(tuple, answer['labels'][d[0]])) for d in answer[axis]]


def _label(labels, key):
    return ' / '.join(str(labels[i].get(v, v)) for i, v in enumerate(key))


def html(answer, title, total, previous, number):
    """Return the HTML of the pivot: one line per row key (subtotals
    included, indented by level), one column per column key and measure,
    and beside each measure its previous-period figure when comparing.
    number(value, digits) formats a figure."""
    cells = {(tuple(r), tuple(c)): (v, p) for r, c, v, p in answer['cells']}
    measures = answer['measures']
    compare = answer.get('compare')
    columns = [tuple(k) for k in answer['column_keys']]
    row_labels = _labels(answer, 'rows')
    column_labels = _labels(answer, 'columns')
    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8"/><style>',
        '@page { size: A4 landscape; margin: 1cm; }',
        'body { font-family: "DejaVu Sans", sans-serif; font-size: 8pt; }',
        'table { border-collapse: collapse; }',
        'th, td { border: 1px solid #999; padding: 2px 4px; }',
        'td.number { text-align: right; white-space: nowrap; }',
        'tr.subtotal td { font-weight: bold; }',
        'td.previous { color: #555; font-style: italic; }',
        '</style></head><body>',
        f'<h1>{escape(title)}</h1>',
        '<table><thead><tr>',
        '<th>%s</th>' % escape(
            ' / '.join(d[1] for d in answer['rows']) or total),
        ]
    for column in columns:
        name = _label(column_labels, column) if column else total
        for measure in measures:
            parts.append(f'<th>{escape(name)}: {escape(measure[1])}</th>')
            if compare:
                parts.append(f'<th>{escape(name)}: {escape(measure[1])} '
                    f'({escape(previous)})</th>')
    parts.append('</tr></thead><tbody>')
    for row in (tuple(k) for k in answer['row_keys']):
        text = str(row_labels[len(row) - 1].get(row[-1], row[-1])
            if row else total)
        subtotal = len(row) < len(answer['rows'])
        parts.append('<tr class="subtotal">' if subtotal else '<tr>')
        parts.append('<td style="padding-left: %sem">%s</td>' % (
                0.3 + 1.5 * max(len(row) - 1, 0), escape(text)))
        for column in columns:
            values, previous_values = cells.get((row, column), ({}, {}))
            for measure in measures:
                for part, css in [(values, 'number'),
                        (previous_values, 'number previous')][
                        :2 if compare else 1]:
                    value = part.get(measure[0])
                    parts.append(f'<td class="{css}">%s</td>' % (
                            '' if value is None
                            else escape(number(value, measure[2]))))
        parts.append('</tr>')
    parts.append('</tbody></table></body></html>')
    return ''.join(parts)


def pdf(answer, title, total, previous, number):
    "Return the bytes of the PDF of the pivot"
    import weasyprint
    return weasyprint.HTML(
        string=html(answer, title, total, previous, number)).write_pdf()
