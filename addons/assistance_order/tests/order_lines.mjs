// ORD-2 in the web client, as an operator: open «Заказы услуг» from the
// menu, create an order for a case with a provider, add a first line and a
// second one on the same limit, remove the first, save. Nothing is clicked
// between adding a line and reading the screen: what the grid and the totals
// show comes from the form's on_change calls, before anything is saved.
//
// The script prints one JSON line at the end: {"first", "second", "removed",
// "saved"}, each what the form showed at that moment ({"rows", "totals",
// "text", "buttons"}); screenshots are OUTPUT_PREFIX-<step>.png.
// Usage: node order_lines.mjs PLAYWRIGHT_URL URL DATABASE LOGIN PASSWORD
//     CASE_NUMBER PROVIDER FIRST_SERVICE SECOND_SERVICE OUTPUT_PREFIX
import { logIn, openPage, saveNew } from '../../../tests/browser/sao_page.mjs';

const [playwright, url, database, login, password, caseNumber, provider,
    firstService, secondService, prefix] = process.argv.slice(2);
const { chromium } = await import(playwright);
// Generous: the machine is small and shared.
const WAIT = 120000;
const TOTALS = ['amount', 'covered_amount', 'deductible_amount',
    'insured_amount'];

const {browser, page, settled, calls} = await openPage(chromium, WAIT,
    {viewport: {width: 1600, height: 1000}});

// The order's form: the tab shown, not the list behind it (the form's
// notebook has tab panes of its own).
const form = page.locator(
    '.tab-pane.active[id^="tab-"]:has(input[name=covered_amount])');
const lines = form.locator('.form-one2many:has(th:has-text("Услуга"))');

// What the form shows: the lines' grid as {column title: cell text} per
// row (the value of the cell's widget while the row is edited), the totals,
// the visible text of the tab and its buttons' titles.
async function screen() {
    return form.evaluate((tab, names) => {
        const cell = (td) => {
            const edited = td.querySelector('.widget-editable');
            const widget = edited && edited.offsetParent !== null
                && edited.querySelector('input, select');
            if (widget && widget.tagName == 'SELECT') {
                const option = widget.options[widget.selectedIndex];
                return option ? option.text.trim() : '';
            }
            return widget ? widget.value.trim() : td.innerText.trim();
        };
        const grid = Array.from(tab.querySelectorAll('.form-one2many'))
            .find((widget) => widget.querySelector('table'));
        const rows = Array.from(grid.querySelectorAll('tbody tr'))
            .filter((tr) => tr.offsetParent !== null
                && tr.querySelector('td[data-title]'))
            .map((tr) => Object.fromEntries(Array.from(
                tr.querySelectorAll('td[data-title]'),
                (td) => [td.dataset.title.replace(/:\s*$/, ''), cell(td)])
                .filter(([title]) => title)));
        // The order's own fields, not the edited line's of the same names.
        const totals = Object.fromEntries(names.map((name) => {
            const input = Array.from(
                tab.querySelectorAll(`input[name=${name}]`))
                .find((input) => !input.closest('.form-one2many'));
            return [name, input ? input.value : null];
        }));
        const buttons = Array.from(tab.querySelectorAll('button'),
            (button) => [button.innerText, button.title]
                .filter((text) => text).join(' ')).filter((text) => text);
        return {rows, totals, text: tab.innerText, buttons};
    }, TOTALS);
}

async function shot(name) {
    await settled();
    await page.screenshot({path: `${prefix}-${name}.png`, fullPage: true});
}

// Type text in a Many2One entry and choose the completion that shows it.
// On a loaded machine the form may be displayed again after the text is
// typed and clear it: type again until the completion shows.
async function choose(entry, text) {
    const completion = page.locator(
        '.dropdown-completion li a', {hasText: text}).first();
    for (let attempt = 0; attempt < 5; attempt++) {
        await settled();
        await entry.click();
        await entry.fill(text);
        const shown = await completion.waitFor({timeout: 15000})
            .then(() => true, () => false);
        if (shown) {
            break;
        }
    }
    await completion.click();
    await settled();
}

// Wait until the grid has count rows, the last one with its coverage.
async function rowsShown(count) {
    await page.waitForFunction((count) => {
        const tab = document.querySelector('.tab-pane.active[id^="tab-"]');
        const grid = tab && Array.from(tab.querySelectorAll('.form-one2many'))
            .find((widget) => widget.querySelector('table'));
        if (!grid) {
            return false;
        }
        const rows = Array.from(grid.querySelectorAll('tbody tr'))
            .filter((tr) => tr.offsetParent !== null
                && tr.querySelector('td[data-title]'));
        const last = rows[rows.length - 1];
        const coverage = last && last.querySelector(
            'td[data-title^="Покрытие"]');
        return rows.length == count && coverage
            && (coverage.innerText.trim()
                || (coverage.querySelector('select') || {}).value);
    }, count, {timeout: WAIT});
    await settled();
}

// A new line: the grid's «Создать» button adds a row; a click on its
// service cell edits it.
async function addLine(service) {
    await settled();
    await lines.locator('.form-one2many-menu button[title="Создать"]').click();
    await settled();
    const cell = lines.locator('tbody tr.selected td[data-title^="Услуга"]');
    await cell.click();
    await choose(cell.locator('input[name=service]'), service);
}

try {
    await logIn(page, url, database, login, password);
    await page.click('text=Заказы услуг');
    await settled();
    await page.locator('.tab-pane.active button#new_').click();
    await form.waitFor();
    await settled();

    // The case gives the order its policy (on_change_case).
    await choose(form.locator('input[name=case]'), caseNumber);
    await page.waitForFunction(() => {
        const field = document.querySelector(
            '.tab-pane.active input[name=policy]');
        return field && field.value;
    }, null, {timeout: WAIT});
    await choose(form.locator('input[name=provider]'), provider);

    await addLine(firstService);
    await rowsShown(1);
    const first = await screen();
    await shot('first');

    await addLine(secondService);
    await rowsShown(2);
    const second = await screen();
    await shot('second');

    // The first line removed: selected by a click on its read-only price,
    // then the grid's «Удалить».
    await lines.locator('tbody tr', {hasText: firstService}).first()
        .locator('td[data-title^="Цена"]').click();
    await settled();
    await lines.locator('.form-one2many-menu button[title="Удалить"]').click();
    await rowsShown(1);
    const removed = await screen();
    await shot('removed');

    await saveNew(page, 'assistance.order', WAIT);
    await page.waitForFunction(() => {
        const field = document.querySelector(
            '.tab-pane.active input[name=number]');
        return field && field.value;
    }, null, {timeout: WAIT});
    await rowsShown(1);
    const saved = await screen();
    await shot('saved');
    console.log(JSON.stringify({first, second, removed, saved, calls}));
} catch (error) {
    await page.screenshot({path: `${prefix}-failure.png`, fullPage: true})
        .catch(() => null);
    console.error(JSON.stringify(calls));
    throw error;
} finally {
    await browser.close();
}
