/* This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
   this repository contains the full copyright notices and license terms. */
/* Live monitoring (CASE-1, P3).  `make sao` installs this file as sao's own
   customisation hook `custom.js` (index.html loads it after sao).

   sao 8.0 listens to the bus but only shows notifications; it never reloads
   a screen by itself.  The server (addons/assistance_case/live.py) publishes
   {"type": "assistance.reload", "models": {model: [ids] | null}} on the
   user's own bus channel `user:<id>` after a case or task changed.  Here we
   listen on that channel and reload the open lists (and graphs) of those
   models, unless the user is editing a line in them.  Without the bus
   (SQLite, or [bus] allow_subscribe off) nothing arrives: reload by hand. */
(function() {
    'use strict';
    if (typeof Sao === 'undefined' || !Sao.Bus) {
        return;
    }
    const MESSAGE_TYPE = 'assistance.reload';
    // Several changes of one save arrive together: reload once.
    const DELAY = 300;
    const pending = new Set();
    let timer = null;
    let channel = null;

    function reloadable(tab) {
        const screen = tab.screen;
        return (tab instanceof Sao.Tab.Form)
            && pending.has(screen.model_name)
            && screen.current_view
            && (screen.current_view.view_type != 'form')
            && !screen.modified();
    }

    function reload() {
        timer = null;
        for (const tab of Sao.Tab.tabs.filter(reloadable)) {
            tab.reload(false);
        }
        pending.clear();
    }

    function on_message(message) {
        if (!message || (message.type != MESSAGE_TYPE)) {
            return;
        }
        for (const model of Object.keys(message.models || {})) {
            pending.add(model);
        }
        if (!timer) {
            timer = window.setTimeout(reload, DELAY);
        }
    }

    // The user's channel is known only once logged in; sao (re)starts
    // listening after every login, so register there.
    function register() {
        const session = Sao.Session.current_session;
        const user_channel = (session && session.user_id) ?
            `user:${session.user_id}` : null;
        if (user_channel == channel) {
            return;
        }
        if (channel) {
            Sao.Bus.unregister(channel, on_message);
        }
        if (user_channel) {
            Sao.Bus.register(user_channel, on_message);
        }
        channel = user_channel;
    }

    const listen = Sao.Bus.listen;
    Sao.Bus.listen = function(...args) {
        register();
        return listen.apply(this, args);
    };
    Sao.Bus.assistance_live = {on_message: on_message};
}());
