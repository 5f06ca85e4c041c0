// POL-1 in the web client, as a contract manager: open «Импорт списков
// застрахованных» from the menu, create an import, choose the contract, upload
// the insurer's list, save, preview, apply, download the error file.
//
// The script prints one JSON line after the preview ({"step": "preview", …})
// and waits for a line on its standard input before applying, so that the
// caller can check that the preview wrote nothing; it prints the last JSON
// line ({"step": "done", "preview", "applied", "download"}) at the end.
// Usage: node policy_import.mjs PLAYWRIGHT_URL URL DATABASE LOGIN PASSWORD
//     CONTRACT_NUMBER FILE OUTPUT_PREFIX
import { createInterface } from 'node:readline';

import { logIn, openPage, saveNew } from '../../../tests/browser/sao_page.mjs';

const [playwright, url, database, login, password, contract, file, prefix] =
    process.argv.slice(2);
const { chromium } = await import(playwright);
// Generous: the machine is small and shared.
const WAIT = 120000;
const COUNTS = ['total_rows', 'processed_rows', 'new_count', 'changed_count',
    'unchanged_count', 'terminated_count', 'error_count'];

const input = createInterface({input: process.stdin});
const lines = input[Symbol.asyncIterator]();

const {browser, page, settled} = await openPage(chromium, WAIT,
    {viewport: {width: 1400, height: 1000}, acceptDownloads: true});

// The form of the import: the tab shown, not the list behind it.
const form = page.locator('.tab-pane.active:has(input[name=error_count])');

// What the form shows: the texts of the counters and of the state, the
// visible text of the tab (labels, buttons, pages).
async function screen() {
    return form.evaluate((tab, names) => {
        const value = (name) => {
            const field = tab.querySelector(
                `input[name=${name}], select[name=${name}]`);
            if (!field) {
                return null;
            }
            if (field.tagName == 'SELECT') {
                const option = field.options[field.selectedIndex];
                return option ? option.text : '';
            }
            return field.value;
        };
        const counts = Object.fromEntries(names.map((n) => [n, value(n)]));
        const buttons = Array.from(tab.querySelectorAll('button'),
            (button) => [button.innerText, button.title]
                .filter((text) => text).join(' ')).filter((text) => text);
        return {counts, state: value('state'), text: tab.innerText, buttons};
    }, COUNTS);
}

// Wait until a counter shows a number, then until the state reads `state`.
async function waitFor(name, state) {
    await page.waitForFunction(([name, state]) => {
        const tab = document.querySelector('.tab-pane.active');
        const field = tab && tab.querySelector(`input[name=${name}]`);
        const select = tab && tab.querySelector('select[name=state]');
        const shown = select && select.options[select.selectedIndex];
        return field && field.value !== '' && shown
            && shown.text == state;
    }, [name, state], {timeout: WAIT});
}

async function shot(name) {
    await settled();
    await page.screenshot({path: `${prefix}-${name}.png`, fullPage: true});
}

try {
    await logIn(page, url, database, login, password);
    await page.click('text=Импорт списков застрахованных');
    await page.locator('.tab-pane.active button#new_').click();

    // The contract: its number typed, chosen among the completions; once
    // chosen, the entry shows its name (the number and the insurer).
    const entry = form.locator('input[name=contract]');
    await entry.fill(contract);
    await page.locator('.dropdown-completion li a', {hasText: contract})
        .first().click();
    await page.waitForFunction((number) => {
        const field = document.querySelector(
            '.tab-pane.active input[name=contract]');
        return field && field.value.startsWith(number)
            && field.value.length > number.length;
    }, contract, {timeout: WAIT});
    await settled();

    // The file, through the binary widget's own file input.
    await form.locator('.form-binary:has(input[name=file]) input[type=file]')
        .setInputFiles(file);
    await page.waitForFunction(() => {
        const size = document.querySelector(
            '.tab-pane.active input[name=file]');
        return size && size.value && !/^0\b/.test(size.value);
    }, null, {timeout: WAIT});

    // Saved: the server answered the creation of the record.
    await saveNew(page, 'assistance.policy.import', WAIT);
    await settled();

    await form.locator('button', {hasText: 'Предпросмотр'}).click();
    await waitFor('new_count', 'Предпросмотр');
    await shot('preview');
    const preview = await screen();
    console.log(JSON.stringify({step: 'preview', preview}));
    // The caller checks the database, then lets the script go on.
    const answer = await lines.next();
    if (answer.done || answer.value.trim() != 'apply') {
        throw new Error(`not told to apply: ${JSON.stringify(answer)}`);
    }

    await settled();
    await form.locator('button', {hasText: 'Применить'}).click();
    // The button's confirmation: clicked until it is gone (a click while
    // the dialog fades in may be lost, and the dialog then stays in front
    // of every later click).
    const dialog = page.locator('.modal.in');
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
    // The queued task runs after the request: reload until the state is
    // «Выполнен» (an import left «Выполняется» fails here).
    const deadline = Date.now() + WAIT;
    for (;;) {
        await settled();
        const state = (await screen()).state;
        if (state == 'Выполнен' || Date.now() > deadline) {
            break;
        }
        if (await dialog.count()) {
            // Nothing was typed since the save: a question here is a defect.
            throw new Error(`a dialog before reloading: ${
                await dialog.innerText()}`);
        }
        await page.locator('.tab-pane.active button#reload').click();
        await page.waitForFunction((previous) => {
            const select = document.querySelector(
                '.tab-pane.active select[name=state]');
            const shown = select && select.options[select.selectedIndex];
            return shown && shown.text != previous;
        }, state, {timeout: 5000}).catch(() => null);
    }
    await waitFor('processed_rows', 'Выполнен');
    await settled();
    await shot('applied');
    const applied = await screen();

    // The error file: the widget's «Save As» opens a dialog whose link
    // sao clicks itself.
    const saveAs = form.locator(
        '.form-binary:has(input[name=errors_file]) button:has(img)').first();
    const [download] = await Promise.all([
        page.waitForEvent('download', {timeout: WAIT}),
        saveAs.click(),
    ]);
    const path = `${prefix}-errors.xlsx`;
    await download.saveAs(path);
    console.log(JSON.stringify({step: 'done', preview, applied, download: {
        path, name: download.suggestedFilename()}}));
} catch (error) {
    await page.screenshot({path: `${prefix}-failure.png`, fullPage: true})
        .catch(() => null);
    throw error;
} finally {
    input.close();
    await browser.close();
}
