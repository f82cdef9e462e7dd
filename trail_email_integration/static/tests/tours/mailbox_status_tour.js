/**
 * The status card during a running history import: the progress shown and the menu badge
 * counting the mailbox that needs attention; then the backfill job runs a step while the card is
 * open, and the card's own reload shows the progress, with no click; then "Scan now" runs a step
 * and the card shows more; "Failed messages" opens the list of the message that failed, where
 * Retry says it still fails and Dismiss settles it; then the Mailbox page, and the preferences'
 * card and connect buttons. Data and the stepping provider come from
 * tests/test_mailbox_status_tour.py, which runs a backfill step when the tour logs
 * CRON_STEP_MARKER.
 */
import { parseDate } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { screenshotSteps } from "@trail_email_integration/../tests/tours/screenshot";

const CARD_MODULE = "@trail_email_integration/mailbox_status/mailbox_status_card";
const CRON_STEP_MARKER = "trail-tour:backfill-step";
const card = ".o_trail_mailbox_card[data-state='backfilling']";
const myMailboxMenu = ".o_main_navbar [data-menu-xmlid='trail_email_integration.menu_my_mailbox']";

// The date the card's "back to <date>" said before the backfill job's step.
let reachedBefore = null;

/** The date in the card's "back to <date>". */
function reachedDate() {
    const text = document.querySelector(`${card} .o_trail_backfill_reached`).textContent;
    const date = parseDate(text.replace(/^back to /, "").trim());
    if (!date?.isValid) {
        throw new Error(`no date in "${text}"`);
    }
    return date;
}

registry.category("web_tour.tours").add("trail_mailbox_status", {
    url: "/odoo/action-trail_email_integration.action_mailbox_page",
    steps: () => [
        {
            content: "Before the card opens: have it reload itself every half second, not 5",
            trigger: myMailboxMenu,
            run() {
                const { MailboxStatusCard } = odoo.loader.modules.get(CARD_MODULE);
                MailboxStatusCard.pollDelay = 500;
            },
        },
        {
            content: "Open My mailbox",
            trigger: myMailboxMenu,
            run: "click",
        },
        {
            content: "The card shows the import under way",
            trigger: `${card} .o_trail_backfill_count:contains('100 of about 240 messages')`,
        },
        {
            content: "with its percentage",
            trigger: `${card} .o_trail_backfill_percent:contains('41%')`,
        },
        {
            content: "the time left at the current rate",
            trigger: `${card} .o_trail_backfill_left:contains('time left: about')`,
        },
        {
            content: "the counters",
            trigger: `${card} .o_trail_counter[data-counter='skipped']:contains('1')`,
        },
        {
            content: "and what to do about the message that failed",
            trigger: `${card} .o_trail_advice:contains('Open Failed messages and click Retry')`,
        },
        {
            content: "The menu counts the mailbox that needs attention",
            trigger: `${myMailboxMenu} .o_trail_menu_badge:contains('1')`,
        },
        ...screenshotSteps("status_card"),
        {
            content: "The backfill job runs a step while the card is open (nothing is clicked)",
            trigger: `${card} .o_trail_backfill_reached`,
            run() {
                reachedBefore = reachedDate();
                console.info(CRON_STEP_MARKER);
            },
        },
        {
            content: "The card's own reload shows the progress",
            trigger: `${card} .o_trail_backfill_count:contains('150 of about 241 messages')`,
        },
        {
            content: "and moves the bar forward",
            trigger: `${card} .progress[aria-valuenow='62'] .progress-bar[style*='62%']`,
        },
        {
            content: "with the new percentage",
            trigger: `${card} .o_trail_backfill_percent:contains('62%')`,
        },
        {
            content: "and the import reaches further back in time",
            trigger: `${card} .o_trail_backfill_reached`,
            run() {
                const reached = reachedDate();
                if (!(reached < reachedBefore)) {
                    const [before, after] = [reachedBefore, reached].map((d) => d.toISODate());
                    throw new Error(`the import should reach before ${before}, not ${after}`);
                }
            },
        },
        {
            content: "Scan now: the import runs a step",
            trigger: `${card} button[name='action_scan_now']`,
            run: "click",
        },
        {
            content: "Odoo says the scan started",
            trigger: ".o_notification:contains('Scan started')",
        },
        {
            content: "and the card, once it sees the scan has run, what it found",
            trigger: ".o_notification:contains('Scan done: 50 messages captured.')",
        },
        {
            content: "The card shows the progress that was made",
            trigger: `${card} .o_trail_backfill_count:contains('200 of about 241 messages')`,
        },
        {
            content: "and a higher percentage",
            trigger: `${card} .o_trail_backfill_percent:contains('82%')`,
        },
        {
            content: "Open the failed messages from the card",
            trigger: `${card} button[name='action_open_failures']`,
            run: "click",
        },
        {
            content: "The list of failed messages opens on the one that failed, in words",
            trigger: ".o_list_view .o_data_row:contains('Odoo could not capture this message')",
        },
        {
            content: "Retry it",
            trigger: ".o_list_view .o_data_row button[name='action_retry']",
            run: "click",
        },
        {
            content: "The provider still refuses it, and Odoo says so",
            trigger: ".o_notification:contains('Captured: 0. Still failing: 1.')",
        },
        {
            content: "Dismiss it",
            trigger: ".o_list_view .o_data_row button[name='action_dismiss']",
            run: "click",
        },
        {
            content: "Odoo says it stays listed",
            trigger: ".o_notification:contains('It stays listed under Dismissed')",
        },
        {
            content: "and it leaves the list of messages to retry",
            trigger: ".o_list_view:not(:has(.o_data_row))",
        },
        {
            content: "Open the Mailbox page",
            trigger:
                ".o_main_navbar [data-menu-xmlid='trail_email_integration.menu_mailbox_page']",
            run: "click",
        },
        {
            content: "The captured mail is listed",
            trigger: ".o_list_view .o_data_row:contains('Annual review')",
        },
        ...screenshotSteps("mailbox_page"),
        {
            content: "Open the user menu",
            trigger: ".o_user_menu button",
            run: "click",
        },
        {
            content: "Open the preferences",
            trigger: ".dropdown-item[data-menu='settings']",
            run: "click",
        },
        {
            content: "Show the Mailbox tab",
            trigger: ".modal .o_notebook .nav-link:contains('Mailbox')",
            run: "click",
        },
        {
            content: "The preferences show the same card",
            trigger: ".modal .o_trail_mailbox_card:contains('200 of about 241 messages')",
        },
        {
            content: "Google is connected already: its button only reconnects, and steps back",
            trigger:
                ".modal button[name='action_trail_connect_google'].btn-secondary:contains('Reconnect Google')",
        },
        {
            content: "Microsoft 365 is not: connecting it is the call to action",
            trigger:
                ".modal button[name='action_trail_connect_microsoft'].btn-primary:contains('Connect Microsoft 365')",
        },
        {
            content: "The buttons do not touch",
            trigger: ".modal .o_trail_connect_buttons",
            run() {
                const buttons = [...document.querySelectorAll(".modal .o_trail_connect_buttons button")];
                if (buttons.length !== 3) {
                    throw new Error(`3 buttons expected, ${buttons.length} found`);
                }
                for (let index = 1; index < buttons.length; index++) {
                    const left = buttons[index - 1].getBoundingClientRect();
                    const right = buttons[index].getBoundingClientRect();
                    const apart = right.top >= left.bottom || right.left - left.right >= 4;
                    if (!apart) {
                        throw new Error(`buttons ${index} and ${index + 1} touch`);
                    }
                }
            },
        },
    ],
});
