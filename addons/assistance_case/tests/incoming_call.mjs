// The operator's incoming call in the web client: open «Входящее обращение»
// from the menu, search the caller, continue the open case; print what was on
// the screen as JSON {"wizard", "case"} and save screenshots.
// Usage: node incoming_call.mjs PLAYWRIGHT_URL URL DATABASE LOGIN PASSWORD
//     SEARCH SCREENSHOT_PREFIX
const [playwright, url, database, login, password, search, prefix] =
    process.argv.slice(2);
const { chromium } = await import(playwright);

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
    await page.fill('#login', login);
    await page.click('.login-dialog button[type=submit]');
    await page.fill('input[type=password]', password);
    await page.keyboard.press('Enter');
    await page.click('text=Ассистанс', {timeout: 30000});
    await page.click('text=Входящее обращение', {timeout: 30000});
    const input = page.locator('input[name=text]');
    await input.waitFor({timeout: 30000});
    // On a loaded machine the wizard's defaults may arrive after the text
    // is typed and clear it: type again until the open case is shown.
    for (let attempt = 0; attempt < 4; attempt++) {
        await page.waitForLoadState('networkidle');
        await input.fill(search);
        await input.press('Tab');
        const shown = await page.waitForFunction(() => {
            const field = document.querySelector('input[name=open_case]');
            return field && field.value;
        }, null, {timeout: 20000}).then(() => true, () => false);
        if (shown) {
            break;
        }
    }
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(1000);
    await page.screenshot({path: `${prefix}-wizard.png`});
    const wizard = await page.evaluate(() => ({
        text: document.body.innerText,
        values: Array.from(document.querySelectorAll('input, textarea'),
            (input) => input.value).filter((value) => value)}));
    await page.click('button:has-text("Продолжить дело")');
    // The wizard's own form is there until it closes: wait for the case's
    // number in an input of the case form, however long a loaded machine
    // takes to open it.
    await page.waitForFunction(() => Array.from(
        document.querySelectorAll('input'),
        (input) => input.value).some((value) => /^АД-\d+$/.test(value)),
        null, {timeout: 60000});
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(1000);
    await page.screenshot({path: `${prefix}-case.png`});
    const form = await page.evaluate(() => ({
        text: document.body.innerText,
        values: Array.from(document.querySelectorAll('input, textarea'),
            (input) => input.value).filter((value) => value)}));
    console.log(JSON.stringify({wizard, case: form}));
} finally {
    await browser.close();
}
