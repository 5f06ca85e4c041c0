// Live monitoring in the web client (CASE-1, P3): the department head opens
// «Мониторинг дел» and «Задачи»; another session changes cases and tasks;
// the lists must follow without anybody pressing reload.
// The test drives the other session: this script prints a line
// {"ready": STEP, ...} and reads back one JSON line {"appear": TEXT} or
// {"disappear": TEXT} saying what the list must now show or not show.
// Usage: node live_monitoring.mjs PLAYWRIGHT_URL URL DATABASE LOGIN PASSWORD
//     SCREENSHOT_PREFIX
import readline from 'node:readline';

const [playwright, url, database, login, password, prefix] =
    process.argv.slice(2);
const { chromium } = await import(playwright);
const lines = readline.createInterface({input: process.stdin})[
    Symbol.asyncIterator]();

async function ask(step, page) {
    console.log(JSON.stringify({ready: step, text: await activeText(page)}));
    return JSON.parse((await lines.next()).value);
}

async function activeText(page) {
    return page.evaluate(
        () => document.querySelector('#tabcontent .tab-pane.active')
            .innerText);
}

// Wait for the active list to show (or stop showing) text, by itself.
async function follow(page, order, step) {
    const list = page.locator('#tabcontent .tab-pane.active tbody');
    const started = Date.now();
    if (order.appear) {
        await list.getByText(order.appear).first().waitFor(
            {state: 'visible', timeout: 30000});
    } else {
        await page.waitForFunction(
            (text) => !document.querySelector(
                '#tabcontent .tab-pane.active tbody').innerText.includes(text),
            order.disappear, {timeout: 30000});
    }
    const seconds = (Date.now() - started) / 1000;
    await page.waitForTimeout(500);
    await page.screenshot({path: `${prefix}-${step}.png`});
    return {step, seconds, text: await activeText(page),
        same_page: await page.evaluate(() => window.__live_marker === 1)};
}

async function openMenu(page, name) {
    await page.locator('#menu').getByText(name, {exact: true}).click(
        {timeout: 30000});
    await page.locator('#tabcontent .tab-pane.active tbody tr').first()
        .waitFor({timeout: 60000});
    // No "networkidle": the bus keeps a request pending all the time.
    await page.waitForTimeout(1000);
}

// The login dialog ignores the submit until it knows the databases; the
// test server does not list them (slow with many PostgreSQL databases), so
// the database is typed in.
async function logIn(page) {
    const input = page.locator('.login-dialog [name=database]:visible');
    await input.waitFor({timeout: 120000});
    if (!(await input.inputValue())) {
        await input.fill(database);
    }
    await page.fill('#login', login);
    await page.click('.login-dialog button[type=submit]');
    await page.fill('input[type=password]', password, {timeout: 90000});
    await page.keyboard.press('Enter');
}

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update',
        '--disable-sync'],
});
try {
    const page = await browser.newPage({
        locale: 'ru-RU', viewport: {width: 1400, height: 900}});
    await page.goto(`${url}#${database}`);
    await logIn(page);
    await page.click('text=Ассистанс', {timeout: 90000});
    // A full page reload would drop this marker.
    await page.evaluate(() => { window.__live_marker = 1; });
    const steps = [];

    await openMenu(page, 'Мониторинг дел');
    steps.push(await follow(page, await ask('case', page), 'case'));

    await openMenu(page, 'Задачи');
    steps.push(await follow(page, await ask('task', page), 'task'));
    steps.push(await follow(page, await ask('task_done', page), 'task_done'));

    console.log(JSON.stringify({steps,
        listening: await page.evaluate(() => Sao.Bus.listening)}));
} finally {
    await browser.close();
}
