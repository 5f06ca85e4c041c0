// A page of the web client in Debian's headless Chromium, and a wait until
// sao has finished talking to the server, for the browser tests' scripts.

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'];

// Return {browser, page, settled, calls}: settled() waits until no call is
// in flight nor was for half a second (sao goes on working after an answer,
// and a button clicked before it is done sends an old timestamp: the server
// then refuses with a concurrency error); calls lists the JSON-RPC methods
// the page has called, in order.
export async function openPage(chromium, wait, options) {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ARGS,
    });
    const page = await browser.newPage({locale: 'ru-RU', ...options});
    page.setDefaultTimeout(wait);
    let pending = 0;
    let changed = Date.now();
    const calls = [];
    page.on('request', (request) => {
        if (request.method() == 'POST') {
            pending += 1;
            changed = Date.now();
            const method = /"method":\s*"([^"]+)"/.exec(
                request.postData() || '');
            if (method) {
                calls.push(method[1]);
            }
        }
    });
    for (const event of ['requestfinished', 'requestfailed']) {
        page.on(event, (request) => {
            if (request.method() == 'POST') {
                pending -= 1;
                changed = Date.now();
            }
        });
    }
    async function settled() {
        const deadline = Date.now() + wait;
        while (pending > 0 || Date.now() - changed < 500) {
            if (Date.now() > deadline) {
                throw new Error(`${pending} calls still running`);
            }
            await page.waitForTimeout(100);
        }
    }
    return {browser, page, settled, calls};
}

// Log in to sao as login on database, and open the «Ассистанс» menu.
export async function logIn(page, url, database, login, password) {
    await page.goto(`${url}#${database}`);
    await page.fill('#login', login);
    await page.click('.login-dialog button[type=submit]');
    await page.fill('input[type=password]', password);
    await page.keyboard.press('Enter');
    await page.click('text=Ассистанс');
}

// Click «Сохранить» on a new record of model and wait for the server to
// have created it.
export async function saveNew(page, model, wait) {
    const created = page.waitForResponse((response) => {
        const data = response.request().postData() || '';
        return data.includes(`"model.${model}.create"`) && response.ok();
    }, {timeout: wait});
    await page.locator('.tab-pane.active button#save').click();
    await created;
}
