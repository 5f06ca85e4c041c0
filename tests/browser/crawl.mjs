// Crawl the Tryton web client as one or more users and print, as JSON, the
// texts each screen shows: {"<login>": {"screens": [{"name", "kind",
// "texts": [...]}], "skipped": [...], "errors": [...]}}.
//
// For each user: log in, expand the whole menu tree, then open every leaf
// menu entry (a list, a form or a wizard's first step) and, for a list, the
// form of its first record.  The roles run in parallel, one browser page each.
//
// What is collected — the labels of the screen, never record data:
// - the text of visible elements of the menu, the tab (title, toolbar,
//   search box, list headers, form labels, tabs, buttons, status bar) and of
//   any dialog; the items of drop-down menus even while they are closed;
// - the title (tooltip) and placeholder attributes, and the options of
//   selection boxes (their values are labels: the field's selection);
// - but nothing inside data: inputs and text areas (field values), the
//   body cells of lists (`tbody td` of a list view, including the menu's rows
//   themselves, whose names are collected once from the expanded menu), and
//   rich text editors.
//
// Usage: node crawl.mjs URL DATABASE LOGIN:PASSWORD [LOGIN:PASSWORD …]
//   a login given n times has its menu entries shared by n pages (the admin
//   sees ~150 entries, the other roles 20–40).
//   env SCREENSHOTS=<folder> saves a picture of every screen (slow).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [url, database, ...credentials] = process.argv.slice(2);
const shots = process.env.SCREENSHOTS;

function collectTexts() {
    const $ = window.jQuery;
    // Data cells: the rows of list views (a form's layout is not a table in
    // sao 8: it uses .form-container grids).
    const DATA = [
        'input', 'textarea', '[contenteditable="true"]',
        '.treeview tbody td', '.tree-menu',
        '.treeview tfoot td'].join(',');
    const roots = [
        document.querySelector('#tablist li.active'),
        document.querySelector('#tabcontent > .tab-pane.active'),
        ...document.querySelectorAll('.modal.in, .modal[style*="block"]'),
        ].filter(Boolean);
    const texts = new Set();
    const add = (text) => {
        text = (text || '').replace(/\s+/g, ' ').trim();
        if (text) {
            texts.add(text);
        }
    };
    const visible = (el) => el.getClientRects().length > 0;
    for (const root of roots) {
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const el = node.parentElement;
            if (!el || el.closest(DATA) || el.closest('script, style')) {
                continue;
            }
            if (el.tagName === 'OPTION') {
                if (!el.closest('select').closest(DATA.replace(
                                /input,|textarea,/g, ''))) {
                    add(node.nodeValue);
                }
                continue;
            }
            if (visible(el) || el.closest('.dropdown-menu')) {
                add(node.nodeValue);
            }
        }
        for (const el of root.querySelectorAll('[title], [placeholder]')) {
            if (el.closest('.treeview tbody td, .tree-menu')) {
                continue;
            }
            add(el.getAttribute('title'));
            add(el.getAttribute('placeholder'));
        }
    }
    return [...texts];
}

function menuTexts() {
    const texts = new Set();
    for (const el of document.querySelectorAll('#menu td')) {
        const text = el.innerText.replace(/\s+/g, ' ').trim();
        if (text) {
            texts.add(text);
        }
    }
    for (const el of document.querySelectorAll(
                '#menu [title], #menu [placeholder], nav [title], '
                + 'nav [placeholder]')) {
        if (el.closest('#user-preferences')) {
            continue;
        }
        for (const attr of ['title', 'placeholder']) {
            const text = (el.getAttribute(attr) || '').trim();
            if (text) {
                texts.add(text);
            }
        }
    }
    for (const el of document.querySelectorAll('nav a, nav button')) {
        if (el.closest('#user-preferences')) {
            continue;  // the user's own name and company: data
        }
        const text = el.innerText.replace(/\s+/g, ' ').trim();
        if (text) {
            texts.add(text);
        }
    }
    return [...texts];
}

// Expand every row of the menu tree (its texts are collected from the
// screen); return the leaf entries the user may open as [id, path], read
// through the same RPC the menu uses, so that none is missed.
async function expandMenu(page) {
    await page.waitForFunction(() => window.Sao && Sao.main_menu_screen
        && Sao.main_menu_screen.current_view
        && Sao.main_menu_screen.current_view.rows.length > 0,
        null, {timeout: 180000});
    await settle(page);
    for (let pass = 0, idle = 0; pass < 20 && idle < 2; pass++) {
        const expanded = await page.evaluate(() => {
            let count = 0;
            const walk = (rows) => {
                for (const row of rows) {
                    const field = row.tree.children_field;
                    if (!row.record.is_loaded(field)) {
                        count++;  // not known yet: look again
                        continue;
                    }
                    const children = row.record.field_get_client(field);
                    if (children.length && !row.is_expanded()) {
                        row.expand_row();
                        count++;
                    }
                    walk(row.rows || []);
                }
            };
            walk(Sao.main_menu_screen.current_view.rows);
            return count;
        });
        idle = expanded ? 0 : idle + 1;
        await settle(page);
    }
    const menus = await page.evaluate(() => Sao.rpc({
        method: 'model.ir.ui.menu.search_read',
        params: [[], 0, null, [['id', 'ASC']],
            ['complete_name', 'childs', 'action'], {}],
    }, Sao.Session.current_session));
    const visible = new Set(menus.map((menu) => menu.id));
    return menus.filter((menu) => menu.action
        && !menu.childs.some((child) => visible.has(child)))
        .map((menu) => [menu.id, menu.complete_name]);
}

// Wait until the web client has no request in flight for a moment: sao
// renders as soon as its RPC promises resolve (faster than "networkidle").
async function settle(page) {
    const deadline = Date.now() + 15000;
    let quiet = 0;
    while (Date.now() < deadline && quiet < 3) {
        await page.waitForTimeout(50);
        quiet = page.inflight > 0 ? 0 : quiet + 1;
    }
    await page.waitForTimeout(50);
}

async function closeAll(page) {
    await page.evaluate(() => {
        for (const el of document.querySelectorAll('.wizard-dialog')) {
            window.jQuery(el).trigger(
                window.jQuery.Event('keydown', {which: 27}));
        }
    });
    await page.evaluate(() => {
        // Leave no dialog behind (a message box, a failed wizard).
        window.jQuery('.modal').remove();
        window.jQuery('.modal-backdrop').remove();
        window.jQuery('body').removeClass('modal-open');
        Sao.Tab.tabs.close(false);
    }).catch(() => {});
    await settle(page);
}

// The pages sharing a login start once the first one has its menu (two
// sessions of one user opening the menu at once stall the second one).
const menuReady = {};

async function crawl(browser, login, password, shard = 0, shards = 1) {
    const result = {screens: [], skipped: [], errors: []};
    let ready = () => {};
    if (shard) {
        await menuReady[login];
    } else {
        menuReady[login] = new Promise((resolve) => {
            ready = resolve;
        });
    }
    try {
        return await crawlPage(browser, login, password, shard, shards,
            result, () => ready());
    } finally {
        ready();
    }
}

// Log in; a login dialog that never came (seen once in a while for a second
// session of one user) is tried again from a fresh page load.
async function logIn(page, login, password, attempts = 3) {
    for (let attempt = 1; ; attempt++) {
        try {
            await page.goto(`${url}#${database}`);
            await page.fill('#login', login, {timeout: 60000});
            await page.click('.login-dialog button[type=submit]');
            await page.fill('input[type=password]', password,
                {timeout: 60000});
            await page.keyboard.press('Enter');
            return;
        } catch (error) {
            if (attempt >= attempts) {
                throw error;
            }
            console.error(`${login}: login attempt ${attempt} failed: `
                + String(error).split('\n')[0]);
        }
    }
}

async function crawlPage(
        browser, login, password, shard, shards, result, ready) {
    const page = await browser.newPage({
        locale: 'ru-RU', viewport: {width: 1400, height: 900}});
    page.on('dialog', (dialog) => dialog.dismiss().catch(() => {}));
    page.inflight = 0;
    page.on('request', () => page.inflight++);
    for (const done of ['requestfinished', 'requestfailed']) {
        page.on(done, () => page.inflight--);
    }
    let current = 'login';
    page.on('pageerror', (error) => result.errors.push(
        `${current}: ${String(error).split('\n')[0]}`));
    const screen = async (name, kind) => {
        const texts = await page.evaluate(collectTexts);
        result.screens.push({name, kind, texts});
        if (shots) {
            const file = `${login}-${shard}-${result.screens.length}.png`;
            await page.screenshot({path: path.join(shots, file)});
        }
    };
    page.setDefaultTimeout(120000);  // a busy machine: be patient
    await logIn(page, login, password);
    const leaves = (await expandMenu(page)).filter(
        (leaf, i) => i % shards === shard);
    ready();
    if (!shard) {
        result.screens.push({name: 'menu', kind: 'menu',
            texts: await page.evaluate(menuTexts)});
    }
    for (const [id, name] of leaves) {
        current = name;
        if (process.env.VERBOSE) {
            console.error(login, new Date().toISOString(), name);
        }
        try {
            const actions = await page.evaluate((id) => Sao.rpc({
                method: 'model.ir.action.keyword.get_keyword',
                params: ['tree_open', ['ir.ui.menu', id], {}],
            }, Sao.Session.current_session), id);
            if (!actions.length) {
                continue;
            }
            const type = actions[0].type;
            if (!['ir.action.act_window', 'ir.action.wizard'].includes(type)) {
                result.skipped.push(`${name} (${type})`);
                continue;
            }
            await page.evaluate((id) => {
                Sao.Action.exec_keyword('tree_open',
                    {model: 'ir.ui.menu', id}, null, false);
            }, id);
            await settle(page);
            await screen(name, type.split('.').pop());
            if (type === 'ir.action.act_window') {
                const opened = await page.evaluate(() => {
                    const tab = Sao.Tab.tabs.get_current();
                    const screen = tab && tab.screen;
                    if (!screen || !screen.current_view
                        || screen.current_view.view_type !== 'tree'
                        || !screen.group.length) {
                        return false;
                    }
                    screen.current_record = screen.group[0];
                    screen.switch_view('form');
                    return true;
                });
                if (opened) {
                    await page.waitForFunction(() => {
                        const tab = Sao.Tab.tabs.get_current();
                        return tab.screen.current_view.view_type === 'form'
                            && tab.content.find('.form').length;
                    }, null, {timeout: 10000});
                    await settle(page);
                    await screen(`${name} / первая запись`, 'form');
                }
            }
        } catch (error) {
            result.errors.push(`${name}: ${error.message.split('\n')[0]}`);
        }
        await closeAll(page);
    }
    await page.close();
    return result;
}

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update',
        '--disable-sync'],
});
try {
    if (shots) {
        fs.mkdirSync(shots, {recursive: true});
    }
    // A login given n times has its menu entries shared by n pages.
    const logins = credentials.map((credential) => credential.split(':')[0]);
    const results = await Promise.all(credentials.map((credential, i) => {
        const [login, ...rest] = credential.split(':');
        const shard = logins.slice(0, i).filter((l) => l === login).length;
        const shards = logins.filter((l) => l === login).length;
        return crawl(browser, login, rest.join(':'), shard, shards).catch(
            (error) => ({screens: [], skipped: [],
                errors: [`crawl failed: ${login}: `
                    + error.message.split('\n')[0]]}));
    }));
    const output = {};
    logins.forEach((login, i) => {
        const into = output[login] ||= {screens: [], skipped: [], errors: []};
        for (const key of ['screens', 'skipped', 'errors']) {
            into[key].push(...results[i][key]);
        }
    });
    console.log(JSON.stringify(output));
} finally {
    await browser.close();
}
