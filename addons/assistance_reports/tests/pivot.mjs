// REP-1 in the web client, as a department head: open «Сводная таблица»,
// put the operator on the rows and the month on the columns, build, expand
// a row, click a cell (its records open as an ordinary list), download the
// XLSX.  Prints one JSON line: {"rows", "header", "totals", "list",
// "download", "text", "calls"}; the screenshot is OUTPUT_PREFIX-pivot.png.
// Usage: node pivot.mjs PLAYWRIGHT_URL URL DATABASE LOGIN PASSWORD
//     OUTPUT_PREFIX
import { logIn, openPage } from '../../../tests/browser/sao_page.mjs';

const [playwright, url, database, login, password, prefix] =
    process.argv.slice(2);
const { chromium } = await import(playwright);
const WAIT = 120000;

const {browser, page, settled, calls} = await openPage(chromium, WAIT,
    {viewport: {width: 1600, height: 1000}, acceptDownloads: true});
try {
    await logIn(page, url, database, login, password);
    await page.click('text=Конфигуратор отчётов');
    await page.click('text=Сводная таблица');
    const tab = page.locator('.tab-pane.active .tab-assistance-pivot');
    await tab.locator('select[name=cube]').waitFor();
    await settled();
    await tab.locator('select[name=cube]').selectOption('expense_line');
    await settled();
    await tab.locator('select[name=rows]').selectOption('operator');
    await tab.locator('select[name=rows]').selectOption('date_year');
    await tab.locator('select[name=columns]').selectOption('date_month');
    await tab.locator('input[name=measure][value=count]').uncheck();
    await tab.locator('input[name=measure][value=declared_amount]').check();
    await tab.locator('input[name=measure][value=actual_amount]').check();
    await tab.locator('button[name=compute]').click();
    await settled();
    const table = tab.locator('table.assistance-pivot');
    await table.waitFor();
    // Collapse, then expand the first operator's row again.
    const toggle = table.locator('tbody tr').nth(1).locator('a.pivot-toggle');
    await toggle.click();
    const collapsed = await table.locator('tbody tr').count();
    await table.locator('tbody tr').nth(1).locator('a.pivot-toggle').click();
    const expanded = await table.locator('tbody tr').count();
    const rows = await table.locator('tbody tr').evaluateAll(
        (trs) => trs.map((tr) => Array.from(tr.children,
            (td) => td.innerText.trim())));
    const header = await table.locator('thead tr').first().locator('th')
        .allInnerTexts();
    await page.screenshot({path: `${prefix}-pivot.png`, fullPage: true});
    const text = await tab.innerText();

    const download = page.waitForEvent('download');
    await tab.locator('button[name=xlsx]').click();
    await settled();
    // sao shows a dialog whose link it clicks itself.
    const path = `${prefix}.xlsx`;
    await (await download).saveAs(path);
    await page.waitForFunction(
        () => !document.querySelector('.modal-dialog a[download]'));
    await settled();

    // The PDF of the same pivot, from the button next to the XLSX's.
    const pdfDownload = page.waitForEvent('download');
    await tab.locator('button[name=pdf]').click();
    await settled();
    const pdfPath = `${prefix}.pdf`;
    await (await pdfDownload).saveAs(pdfPath);
    await page.waitForFunction(
        () => !document.querySelector('.modal-dialog a[download]'));
    await settled();

    // The cell of the first operator's total: its records as a list.
    await table.locator('tbody tr').nth(1).locator('td').first().click();
    await settled();
    const list = page.locator('.tab-pane.active .tab-form');
    await list.locator('table tbody tr').first().waitFor();
    const listRows = await list.locator('table tbody tr').count();
    const listName = await page.locator('#tablist li.active').innerText();
    console.log(JSON.stringify({rows, header, collapsed, expanded,
        list: {rows: listRows, name: listName}, download: path, pdf: pdfPath,
        text,
        calls}));
} finally {
    await browser.close();
}
