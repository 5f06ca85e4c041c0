// Log into the Tryton web client, open one record's form and print what is
// on the screen as JSON: {"title", "text", "values" of the inputs}; save
// a screenshot.
// Usage: node open_record.mjs URL DATABASE LOGIN PASSWORD MODEL ID SCREENSHOT
import { chromium } from 'playwright-core';

const [url, database, login, password, model, id, screenshot] =
    process.argv.slice(2);

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update',
        '--disable-sync'],
});
try {
    const page = await browser.newPage({
        locale: 'ru-RU', viewport: {width: 1400, height: 900}});
    // After the login, sao opens the record named by the URL.
    await page.goto(`${url}#${database}/model/${model}/${id}`);
    await page.fill('#login', login);
    await page.click('.login-dialog button[type=submit]');
    await page.fill('input[type=password]', password);
    await page.keyboard.press('Enter');
    try {
        await page.waitForSelector('.form-container, .form', {timeout: 30000});
    } catch (error) {
        await page.screenshot({path: screenshot, fullPage: true});
        throw error;
    }
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(1000);
    await page.screenshot({path: screenshot, fullPage: true});
    const text = await page.evaluate(() => document.body.innerText);
    const values = await page.evaluate(() => Array.from(
        document.querySelectorAll('input, textarea, select'),
        (input) => input.value).filter((value) => value));
    console.log(JSON.stringify({title: await page.title(), text, values}));
} finally {
    await browser.close();
}
