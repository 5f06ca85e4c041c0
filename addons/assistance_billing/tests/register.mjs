// BIL-1, BIL-2, ACC-2, REP-3 in the web client, as the accountant: open
// «Расчёты → Реестры исполнителей», create a register of the provider with
// its invoice number and date, upload the workbook, save, «Импортировать»,
// «Проверить» (the rows' outcomes), «Создать счёт»; open the draft supplier
// invoice from «Бухгалтерия → Счета → Входящие счета», «Провести»; open
// «Анализ задолженности» and read the payee's row and the provider's under
// it.  Prints one JSON line: {"checked", "invoice", "debt", "calls"}; the
// screenshots are OUTPUT_PREFIX-{checked,invoice,debt}.png.
// Usage: node register.mjs PLAYWRIGHT_URL URL DATABASE LOGIN PASSWORD
//     PROVIDER PAYEE INVOICE_NUMBER INVOICE_DATE FILE OUTPUT_PREFIX
import { logIn, openPage, saveNew } from '../../../tests/browser/sao_page.mjs';

const [playwright, url, database, login, password, provider, payee,
    reference, invoiceDate, file, prefix] = process.argv.slice(2);
const { chromium } = await import(playwright);
// Generous: the machine is small and shared.
const WAIT = 120000;
const AMOUNTS = ['claimed_amount', 'accepted_amount', 'removed_amount'];

const {browser, page, settled, calls} = await openPage(chromium, WAIT,
    {viewport: {width: 1600, height: 1000}});

// The tab shown, not the list behind it.
const tab = page.locator('#tabcontent > .tab-pane.active');
const dialog = page.locator('.modal.in');

async function shot(name) {
    await settled();
    await page.screenshot({path: `${prefix}-${name}.png`, fullPage: true});
}

// The visible text of the active tab and its buttons' labels and titles.
async function texts() {
    return tab.evaluate((pane) => ({
        text: pane.innerText,
        buttons: Array.from(pane.querySelectorAll('button'),
            (button) => [button.innerText, button.title]
                .filter((text) => text).join(' ')).filter((text) => text),
    }));
}

// The shown value of a field of the form: an input's text, a selection's
// option.
async function value(name) {
    return tab.evaluate((pane, name) => {
        const field = pane.querySelector(
            `input[name=${name}], select[name=${name}]`);
        if (!field) {
            return null;
        }
        if (field.tagName == 'SELECT') {
            const option = field.options[field.selectedIndex];
            return option ? option.text : '';
        }
        return field.value;
    }, name);
}

// Wait until the state of the form reads state.
async function waitState(state) {
    await page.waitForFunction((state) => {
        const select = document.querySelector(
            '#tabcontent > .tab-pane.active select[name=state]');
        const shown = select && select.options[select.selectedIndex];
        return shown && shown.text == state;
    }, state, {timeout: WAIT});
    await settled();
}

// Click the button of the form labelled label, and its confirmation if it
// asks one: clicked until it is gone (a click while the dialog fades in may
// be lost, and the dialog then stays in front of every later click).
async function press(label, confirm) {
    await settled();
    await tab.locator('button', {hasText: label}).click();
    if (!confirm) {
        return;
    }
    for (let attempt = 0; ; attempt++) {
        await dialog.locator('.modal-footer .btn-primary').click();
        const gone = await dialog.waitFor({state: 'detached', timeout: 5000})
            .then(() => true, () => false);
        if (gone) {
            break;
        }
        if (attempt >= 3) {
            throw new Error(`the confirmation stays: ${
                await dialog.innerText()}`);
        }
    }
}

// A Many2One of the form: the text typed, the completion chosen.
async function choose(name, text) {
    const entry = tab.locator(`input[name=${name}]`);
    const completion = page.locator('.dropdown-completion li a',
        {hasText: text}).first();
    // Typed again when no completion shows (text typed while the form
    // still loads is lost).
    for (let attempt = 0; ; attempt++) {
        await entry.fill('');
        await entry.pressSequentially(text.slice(0, 8));
        const shown = await completion.waitFor({timeout: 10000})
            .then(() => true, () => false);
        if (shown) {
            break;
        }
        if (attempt >= 5) {
            throw new Error(`no completion of ${name} for ${text}`);
        }
    }
    await completion.click();
    await page.waitForFunction(([name, text]) => {
        const field = document.querySelector(
            `#tabcontent > .tab-pane.active input[name=${name}]`);
        return field && field.value == text;
    }, [name, text], {timeout: WAIT});
    await settled();
}

// The rows of the first list of the tab as objects by column name.
async function listRows(list) {
    return list.evaluate((table) => {
        const names = Array.from(table.querySelectorAll('thead th'),
            (th) => th.innerText.trim());
        return Array.from(table.querySelectorAll('tbody tr'), (tr) =>
            Object.fromEntries(Array.from(tr.children, (td, i) =>
                        [names[i], td.innerText.trim()])));
    });
}

try {
    await logIn(page, url, database, login, password);
    await page.click('#menu >> text="Расчёты"');
    await page.click('#menu >> text="Реестры исполнителей"');
    await tab.locator('button#new_').click();
    await tab.locator('input[name=provider]').waitFor();
    await settled();

    await choose('provider', provider);
    await tab.locator('input[name=number]').fill(reference);
    await tab.locator('input[name=invoice_number]').fill(reference);
    await tab.locator('input[name=invoice_date]').fill(invoiceDate);
    await tab.locator('input[name=invoice_date]').press('Tab');
    await settled();
    // The file, through the binary widget's own file input (on the page
    // «Файл»).
    await tab.locator('a[role=tab]', {hasText: 'Файл'}).click();
    await tab.locator('.form-binary:has(input[name=file]) input[type=file]')
        .setInputFiles(file);
    await page.waitForFunction(() => {
        const size = document.querySelector(
            '#tabcontent > .tab-pane.active input[name=file]');
        return size && size.value && !/^0\b/.test(size.value);
    }, null, {timeout: WAIT});
    await saveNew(page, 'assistance.billing.register', WAIT);
    await settled();

    await press('Импортировать');
    await settled();
    await tab.locator('a[role=tab]', {hasText: 'Строки'}).click();
    await press('Проверить', true);
    await waitState('Проверен');
    const lines = tab.locator('.form-one2many table').first();
    await lines.locator('tbody tr').first().waitFor();
    const checked = {
        state: await value('state'),
        rows: await listRows(lines),
        ...Object.fromEntries(await Promise.all(
                AMOUNTS.map(async (n) => [n, await value(n)]))),
        ...await texts(),
    };
    // The list is wider than the screen: scrolled to the outcomes.
    await lines.locator('thead th', {hasText: 'Причина снятия'})
        .scrollIntoViewIfNeeded();
    await shot('checked');

    await press('Создать счёт');
    await waitState('Выставлен счёт');

    // The draft invoice among the supplier invoices, by its reference.
    await page.click('#menu >> text="Бухгалтерия"');
    await page.click('#menu >> text="Счета"');
    await page.click('#menu >> text="Входящие счета"');
    const row = tab.locator('.treeview tbody tr', {hasText: reference});
    await row.first().waitFor();
    await settled();
    await row.first().dblclick();
    await tab.locator('input[name=reference]').waitFor();
    await settled();
    await press('Провести', true);
    await waitState('Проведён');
    const invoice = {
        state: await value('state'),
        number: await value('number'),
        total: await value('total_amount'),
        ...await texts(),
    };
    await shot('invoice');

    // The debt analysis: the payee's row, the provider's under it.
    await page.click('#menu >> text="Анализ задолженности"');
    const tree = tab.locator('.treeview table').first();
    const head = tree.locator('tbody tr', {hasText: payee}).first();
    await head.waitFor();
    await settled();
    if (payee != provider) {
        await head.locator('.expander').first().click();
        await tree.locator('tbody tr', {hasText: provider}).first()
            .waitFor();
        await settled();
    }
    const debtRows = await listRows(tree);
    const find = (name) => debtRows.find(
        (r) => Object.values(r).some((v) => v == name));
    const debt = {
        payee: find(payee),
        provider: find(provider),
        header: Object.keys(debtRows[0] || {}),
        ...await texts(),
    };
    await shot('debt');

    console.log(JSON.stringify({checked, invoice, debt, calls}));
} catch (error) {
    await page.screenshot({path: `${prefix}-failure.png`, fullPage: true})
        .catch(() => null);
    throw error;
} finally {
    await browser.close();
}
