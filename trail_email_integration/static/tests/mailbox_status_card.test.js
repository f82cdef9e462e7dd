import { waitUntilSubscribe } from "@bus/../tests/bus_test_helpers";
import { defineMailModels } from "@mail/../tests/mail_test_helpers";
import { describe, expect, test } from "@odoo/hoot";
import { click, queryAll, waitUntil } from "@odoo/hoot-dom";
import { advanceTime, animationFrame } from "@odoo/hoot-mock";
import {
    defineModels,
    fields,
    getService,
    makeMockServer,
    models,
    mountView,
    MockServer,
    onRpc,
    patchWithCleanup,
} from "@web/../tests/web_test_helpers";
import { MailboxStatusCard } from "@trail_email_integration/mailbox_status/mailbox_status_card";

describe.current.tags("desktop");

class TrailMailbox extends models.Model {
    _name = "trail.mailbox";

    address = fields.Char();
    provider = fields.Selection({
        selection: [
            ["google", "Google"],
            ["microsoft", "Microsoft 365"],
        ],
    });
    state = fields.Selection({
        selection: [
            ["connecting", "Connecting"],
            ["backfilling", "Importing history"],
            ["active", "Active"],
            ["paused", "Paused"],
            ["needs_reconnect", "Needs reconnect"],
            ["error", "Error"],
        ],
    });
    state_message = fields.Char();
    advice = fields.Text();
    needs_attention = fields.Boolean();
    backfill_done = fields.Boolean();
    backfill_count = fields.Integer();
    backfill_total = fields.Integer();
    backfill_reached = fields.Datetime();
    backfill_progress = fields.Float();
    backfill_time_left = fields.Char();
    last_scan = fields.Datetime();
    next_scan = fields.Datetime();
    next_scan_run = fields.Datetime();
    retry_after = fields.Datetime();
    captured_count = fields.Integer();
    filed_count = fields.Integer();
    unfiled_count = fields.Integer();
    skipped_count = fields.Integer();
    failed_count = fields.Integer();
    may_pause = fields.Boolean({ default: true });

    _records = [
        {
            id: 1,
            address: "ada@firm.example",
            provider: "google",
            state: "backfilling",
            state_message: "Importing past mail: 1250 of about 3000.",
            backfill_count: 1250,
            backfill_total: 3000,
            backfill_reached: "2023-03-14 09:00:00",
            backfill_progress: 41.67,
            backfill_time_left: "about 35 minutes",
            next_scan_run: "2019-03-11 10:00:00",
            captured_count: 1240,
            filed_count: 310,
            unfiled_count: 930,
            skipped_count: 12,
            failed_count: 0,
            may_pause: true,
        },
        {
            id: 2,
            address: "ada@firm.onmicrosoft.example",
            provider: "microsoft",
            state: "needs_reconnect",
            state_message: "Access was revoked or expired.",
            advice: "Microsoft 365 no longer lets Odoo read this mailbox (invalid_grant).\n2 messages could not be captured. Open Failed messages and click Retry.",
            needs_attention: true,
            backfill_done: true,
            backfill_count: 800,
            backfill_total: 800,
            backfill_progress: 100,
            last_scan: "2026-12-01 08:30:00",
            next_scan: "2026-12-01 09:00:00",
            captured_count: 798,
            filed_count: 200,
            unfiled_count: 598,
            failed_count: 2,
            may_pause: true,
        },
    ];

    trail_attention_count() {
        return this.filter((mailbox) => mailbox.needs_attention).length;
    }

    action_scan_now() {
        // As if the backfill cron ran one step at once; the scan itself has not run yet.
        const [mailbox] = this.browse(1);
        this.write([1], {
            backfill_count: mailbox.backfill_count + 50,
            backfill_progress: (100 * (mailbox.backfill_count + 50)) / 3000,
        });
        return {
            type: "ir.actions.client",
            tag: "display_notification",
            params: { message: "Scan started: new mail appears here in a moment.", type: "info" },
        };
    }

    action_pause() {
        // As the server computes it: a paused mailbox has no next scan.
        this.write([1], { state: "paused", backfill_time_left: "on hold", next_scan_run: false });
        return true;
    }

    action_reconnect() {
        return { type: "ir.actions.act_url", url: "https://accounts.example/consent" };
    }

    action_open_failures() {
        return {
            type: "ir.actions.act_window",
            res_model: "trail.mailbox",
            views: [[false, "list"]],
        };
    }
}

defineMailModels();
defineModels([TrailMailbox]);

const arch = `
    <kanban create="0">
        <templates>
            <t t-name="card">
                <field name="state" widget="trail_mailbox_status"/>
            </t>
        </templates>
    </kanban>`;

const card = (id) => `.o_kanban_record:has(.o_trail_mailbox_card):nth-of-type(${id})`;

/** Mount the kanban on a single new mailbox made of `values`; return its card's selector. */
async function mountMailbox(values) {
    await makeMockServer();
    const id = MockServer.env["trail.mailbox"].create({
        address: "ada@firm.example",
        provider: "google",
        ...values,
    });
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch, domain: [["id", "=", id]] });
    return ".o_trail_mailbox_card";
}

/** The names of the card's buttons, in order. */
function buttonNames(card) {
    return queryAll(`${card} .o_trail_mailbox_buttons button`).map((button) => button.name);
}

test("a backfilling mailbox shows its progress, scans and counters", async () => {
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch });

    const first = card(1);
    expect(`${first} .o_trail_mailbox_address`).toHaveText("ada@firm.example");
    expect(`${first} .o_trail_mailbox_state`).toHaveText("Importing history");
    expect(`${first} .o_trail_state_message`).toHaveText(
        "Importing past mail: 1250 of about 3000."
    );
    expect(`${first} .o_trail_backfill_percent`).toHaveText("41%");
    expect(`${first} .progress-bar`).toHaveStyle({ width: /41%|\d+px/ });
    expect(`${first} .progress`).toHaveAttribute("aria-valuenow", "41");
    expect(`${first} .o_trail_backfill_count`).toHaveText("1,250 of about 3,000 messages");
    expect(`${first} .o_trail_backfill_reached`).toHaveText("back to 03/14/2023");
    expect(`${first} .o_trail_backfill_left`).toHaveText("time left: about 35 minutes");
    expect(`${first} .o_trail_last_scan`).toHaveText("not yet");
    expect(`${first} .o_trail_next_scan`).toHaveText("03/11/2019 11:00:00");
    expect(`${first} .o_trail_counter[data-counter='captured']`).toHaveText("1,240\nCaptured");
    expect(`${first} .o_trail_counter[data-counter='failed']`).toHaveText("0\nFailed");
    expect(`${first} .o_trail_advice`).toHaveCount(0);
    expect(`${first} .o_trail_mailbox_buttons button`).toHaveCount(3);
    expect(`${first} button[name='action_reconnect']`).toHaveText("Reconnect");
    expect(`${first} button[name='action_pause']`).toHaveText("Pause");
    expect(`${first} button[name='action_scan_now']`).toHaveClass("btn-primary");
    expect(`${first} button[name='action_resume']`).toHaveCount(0);
});

test("a mailbox that needs its owner says what to do", async () => {
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch });

    const second = card(2);
    expect(`${second} .o_trail_mailbox_state`).toHaveClass("text-bg-danger");
    expect(`${second} .o_trail_backfill`).toHaveCount(0, { message: "history is imported" });
    expect(`${second} .o_trail_advice`).toHaveClass("alert-danger");
    expect(`${second} .o_trail_advice div`).toHaveCount(2);
    expect(`${second} .o_trail_advice`).toHaveText(/invalid_grant/);
    // Its stored next scan is stale: no scan runs before a reconnect.
    expect(`${second} .o_trail_next_scan`).toHaveText("after you reconnect");
    expect(`${second} button[name='action_reconnect']`).toHaveClass("btn-primary");
    expect(`${second} button[name='action_scan_now']`).toHaveCount(0);
    expect(`${second} button[name='action_open_failures']`).toHaveCount(1);
    expect(`${second} .o_trail_counter[data-counter='failed'] .text-danger`).toHaveText("2");
});

test("Scan now runs on the server and the card shows the new progress", async () => {
    onRpc("trail.mailbox", "action_scan_now", ({ args }) => {
        expect.step(["action_scan_now", args[0]]);
    });
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch });

    await click(`${card(1)} button[name='action_scan_now']`);
    await animationFrame();
    expect.verifySteps([["action_scan_now", [1]]]);
    expect(`${card(1)} .o_trail_backfill_count`).toHaveText("1,300 of about 3,000 messages");
    expect(`${card(1)} .o_trail_backfill_percent`).toHaveText("43%");
});

test("after Scan now the card waits for the scan, then says what it found", async () => {
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch });

    await click(`${card(1)} button[name='action_scan_now']`);
    await animationFrame();
    expect(".o_notification").toHaveText(/Scan started/);
    expect(`${card(1)} button[name='action_scan_now']`).toHaveText("Scanning…");
    expect(`${card(1)} button[name='action_scan_now']`).toHaveAttribute("disabled");

    // The scan cron runs: the card sees it at its next reload, without a page reload.
    MockServer.env["trail.mailbox"].write([1], {
        last_scan: "2019-03-11 09:15:00",
        captured_count: 1243,
    });
    await advanceTime(MailboxStatusCard.scanPollDelay);
    await animationFrame();
    expect(`${card(1)} .o_trail_last_scan`).not.toHaveText("not yet");
    expect(`${card(1)} .o_trail_counter[data-counter='captured']`).toHaveText("1,243\nCaptured");
    expect(".o_notification:last").toHaveText(/Scan done: 3 messages captured\./);
    expect(`${card(1)} button[name='action_scan_now']`).toHaveText("Scan now");
    expect(`${card(1)} button[name='action_scan_now']`).not.toHaveAttribute("disabled");
});

test("a scan stopped by a lost grant says the card has the reason", async () => {
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch });

    await click(`${card(1)} button[name='action_scan_now']`);
    await animationFrame();
    MockServer.env["trail.mailbox"].write([1], {
        state: "needs_reconnect",
        advice: "Google no longer lets Odoo read this mailbox (invalid_grant).",
    });
    await advanceTime(MailboxStatusCard.scanPollDelay);
    await animationFrame();
    expect(".o_notification:last").toHaveText(/The scan did not complete; the card says why\./);
    expect(`${card(1)} .o_trail_advice`).toHaveText(/invalid_grant/);
    expect(`${card(1)} .o_trail_next_scan`).toHaveText("after you reconnect");
});

test("a scan no worker takes is waited for a while, then the card says so", async () => {
    patchWithCleanup(MailboxStatusCard, { scanPollLimit: 2 });
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch });

    await click(`${card(1)} button[name='action_scan_now']`);
    await animationFrame();
    for (let poll = 0; poll < 3; poll++) {
        await advanceTime(MailboxStatusCard.scanPollDelay);
    }
    await animationFrame();
    expect(".o_notification:last").toHaveText(/has not run yet/);
    expect(`${card(1)} button[name='action_scan_now']`).toHaveText("Scan now");
});

test("Pause changes the buttons; Reconnect follows the provider's sign-in action", async () => {
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch });
    patchWithCleanup(getService("action"), {
        doAction(action) {
            expect.step(action.url || action.res_model);
        },
    });

    await click(`${card(1)} button[name='action_pause']`);
    await animationFrame();
    expect(`${card(1)} .o_trail_mailbox_state`).toHaveText("Paused");
    expect(`${card(1)} button[name='action_resume']`).toHaveCount(1);
    expect(`${card(1)} button[name='action_pause']`).toHaveCount(0);
    expect(`${card(1)} .o_trail_next_scan`).toHaveText("when you resume");

    await click(`${card(2)} button[name='action_reconnect']`);
    await animationFrame();
    await click(`${card(2)} button[name='action_open_failures']`);
    await animationFrame();
    expect.verifySteps(["https://accounts.example/consent", "trail.mailbox"]);
});

test("the card reloads by itself while the history import runs", async () => {
    patchWithCleanup(MailboxStatusCard, { pollDelay: 1000 });
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch });
    expect(`${card(1)} .o_trail_backfill_percent`).toHaveText("41%");

    MockServer.env["trail.mailbox"].write([1], {
        backfill_count: 1500,
        backfill_progress: 50,
        backfill_time_left: "about 30 minutes",
    });
    await advanceTime(1000);
    await animationFrame();
    expect(`${card(1)} .o_trail_backfill_percent`).toHaveText("50%");
    expect(`${card(1)} .o_trail_backfill_left`).toHaveText("time left: about 30 minutes");
});

test("the attention count follows the bus", async () => {
    const subscribed = waitUntilSubscribe();
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch });
    await subscribed;
    await animationFrame();
    const attention = getService("trail_mailbox_attention");
    expect(attention.state.count).toBe(1);

    MockServer.env["bus.bus"]._sendone("broadcast", "trail.mailbox/attention", { count: 3 });
    await waitUntil(() => attention.state.count === 3, { timeout: 2000 });
    expect(attention.state.count).toBe(3);
});

test("an open card shows the new state when the attention service reports a change", async () => {
    const subscribed = waitUntilSubscribe();
    await mountView({ resModel: "trail.mailbox", type: "kanban", arch });
    await subscribed;
    expect(`${card(1)} .o_trail_mailbox_state`).toHaveText("Importing history");

    // The grant was revoked during a scan: the server changes the state and tells the bus.
    MockServer.env["trail.mailbox"].write([1], {
        state: "needs_reconnect",
        needs_attention: true,
        advice: "Google no longer lets Odoo read this mailbox (invalid_grant).",
    });
    MockServer.env["bus.bus"]._sendone("broadcast", "trail.mailbox/attention", { count: 2 });
    await waitUntil(() => getService("trail_mailbox_attention").state.count === 2);
    await animationFrame();
    expect(`${card(1)} .o_trail_mailbox_state`).toHaveText("Needs reconnect");
    expect(`${card(1)} .o_trail_advice`).toHaveText(/invalid_grant/);
    expect(`${card(1)} button[name='action_reconnect']`).toHaveClass("btn-primary");
});

test("an active mailbox with nothing to do: scans, no progress, no advice, no reload", async () => {
    onRpc("trail.mailbox", "web_read", () => {
        expect.step("web_read");
    });
    const active = await mountMailbox({
        state: "active",
        state_message: "Up to date. New mail is picked up by the regular scan.",
        backfill_done: true,
        backfill_count: 3000,
        backfill_total: 3000,
        backfill_progress: 100,
        backfill_reached: "2012-03-14 09:00:00",
        last_scan: "2019-03-11 09:00:00",
        next_scan_run: "2019-03-11 09:30:00",
        captured_count: 2990,
        filed_count: 900,
        unfiled_count: 2090,
        skipped_count: 10,
    });

    expect(`${active} .o_trail_mailbox_state`).toHaveText("Active");
    expect(`${active} .o_trail_mailbox_state`).toHaveClass("text-bg-success");
    expect(`${active} .o_trail_state_message`).toHaveText(
        "Up to date. New mail is picked up by the regular scan."
    );
    expect(`${active} .o_trail_backfill`).toHaveCount(0, { message: "history is imported" });
    expect(`${active} .o_trail_last_scan`).toHaveText("03/11/2019 10:00:00");
    expect(`${active} .o_trail_next_scan`).toHaveText("03/11/2019 10:30:00");
    expect(`${active} .o_trail_counter[data-counter='captured']`).toHaveText("2,990\nCaptured");
    expect(`${active} .o_trail_counter[data-counter='failed'] .text-danger`).toHaveCount(0);
    expect(`${active} .o_trail_advice`).toHaveCount(0);
    expect(buttonNames(active)).toEqual(["action_reconnect", "action_scan_now", "action_pause"]);
    expect(`${active} button[name='action_reconnect']`).toHaveClass("btn-secondary");
    expect(`${active} button[name='action_scan_now']`).toHaveClass("btn-primary");
    expect(`${active} button[name='action_scan_now']`).toHaveText("Scan now");
    expect(`${active} button[name='action_pause']`).toHaveClass("btn-secondary");

    // Nothing runs that the card waits for: it does not re-read its mailbox by itself.
    await advanceTime(MailboxStatusCard.pollDelay * 2);
    await animationFrame();
    expect.verifySteps([]);
});

test("a mailbox stopped on an error offers Resume, and Pause stays", async () => {
    const stopped = await mountMailbox({
        state: "error",
        state_message: "Capture stopped after an error: disk full",
        advice:
            "Capture stopped on an unexpected error (disk full). Click Resume to try again; if it stops again, send this message to your administrator.",
        needs_attention: true,
        backfill_count: 1250,
        backfill_total: 3000,
        backfill_progress: 41.67,
        backfill_reached: "2023-03-14 09:00:00",
        backfill_time_left: "on hold",
        last_scan: "2019-03-11 09:00:00",
    });

    expect(`${stopped} .o_trail_mailbox_state`).toHaveText("Error");
    expect(`${stopped} .o_trail_mailbox_state`).toHaveClass("text-bg-danger");
    expect(`${stopped} .o_trail_state_message`).toHaveText(
        "Capture stopped after an error: disk full"
    );
    // The import is on hold: its bar stands still, in grey.
    expect(`${stopped} .o_trail_backfill_percent`).toHaveText("41%");
    expect(`${stopped} .progress-bar`).toHaveClass("bg-secondary");
    expect(`${stopped} .progress-bar`).not.toHaveClass("progress-bar-animated");
    expect(`${stopped} .o_trail_backfill_left`).toHaveText("time left: on hold");
    expect(`${stopped} .o_trail_next_scan`).toHaveText("after you resume");
    expect(`${stopped} .o_trail_advice`).toHaveClass("alert-danger");
    expect(`${stopped} .o_trail_advice`).toHaveText(/disk full\)\. Click Resume to try again/);
    expect(buttonNames(stopped)).toEqual(["action_reconnect", "action_pause", "action_resume"]);
    expect(`${stopped} button[name='action_resume']`).toHaveClass("btn-primary");
    expect(`${stopped} button[name='action_resume']`).toHaveText("Resume");
    expect(`${stopped} button[name='action_reconnect']`).toHaveClass("btn-secondary");
    expect(`${stopped} button[name='action_pause']`).toHaveClass("btn-secondary");
});

test("a company-managed mailbox offers its owner no Pause or Resume", async () => {
    const managed = await mountMailbox({
        state: "paused",
        state_message: "Paused by your administrator.",
        backfill_done: true,
        may_pause: false,
    });
    expect(buttonNames(managed)).toEqual(["action_reconnect"]);
});

test("a mailbox still connecting asks to connect, and waits for the provider", async () => {
    onRpc("trail.mailbox", "web_read", ({ args }) => {
        expect.step(["web_read", args[0]]);
    });
    const connecting = await mountMailbox({
        provider: "microsoft",
        address: "ada@firm.onmicrosoft.example",
        state: "connecting",
        state_message: "Waiting for the provider to confirm the connection.",
        advice:
            "The connection did not complete (consent_required). Connect again and accept every permission asked.",
    });

    expect(`${connecting} .o_trail_mailbox_state`).toHaveText("Connecting");
    expect(`${connecting} .o_trail_mailbox_state`).toHaveClass("text-bg-warning");
    expect(`${connecting} .fa-windows`).toHaveCount(1);
    expect(`${connecting} .o_trail_state_message`).toHaveText(
        "Waiting for the provider to confirm the connection."
    );
    expect(`${connecting} .o_trail_backfill`).toHaveCount(0, { message: "no import yet" });
    expect(`${connecting} .o_trail_last_scan`).toHaveText("not yet");
    expect(`${connecting} .o_trail_next_scan`).toHaveText("once connected");
    expect(`${connecting} .o_trail_advice`).toHaveClass("alert-warning");
    expect(`${connecting} .o_trail_advice`).toHaveText(/consent_required/);
    expect(buttonNames(connecting)).toEqual(["action_reconnect", "action_pause"]);
    expect(`${connecting} button[name='action_reconnect']`).toHaveText("Connect");
    expect(`${connecting} button[name='action_reconnect']`).toHaveClass("btn-primary");

    // The provider confirms: the card shows it at its next reload, by itself.
    const [id] = MockServer.env["trail.mailbox"].search([["state", "=", "connecting"]]);
    MockServer.env["trail.mailbox"].write([id], {
        state: "backfilling",
        state_message: "Importing past mail: 0 of about 0.",
        advice: false,
    });
    await advanceTime(MailboxStatusCard.pollDelay);
    await animationFrame();
    expect.verifySteps([["web_read", [id]]]);
    expect(`${connecting} .o_trail_mailbox_state`).toHaveText("Importing history");
    expect(`${connecting} button[name='action_reconnect']`).toHaveText("Reconnect");
});

test("a slowed-down mailbox says why and when it goes on, and needs nothing", async () => {
    const throttled = await mountMailbox({
        state: "active",
        state_message: "The provider asked us to slow down; retrying at 3/11/19, 11:15 AM.",
        advice:
            "Google asked Odoo to slow down (429 rateLimitExceeded). Capture goes on by itself after 11:15 AM; nothing to do.",
        // In the future: the mocked now is 2019-03-11 09:30 (local, UTC+1).
        retry_after: "2019-03-11 10:15:00",
        next_scan_run: "2019-03-11 10:30:00",
        last_scan: "2019-03-11 08:00:00",
        backfill_done: true,
        backfill_count: 800,
        backfill_total: 800,
        backfill_progress: 100,
    });

    expect(`${throttled} .o_trail_mailbox_state`).toHaveText("Active");
    expect(`${throttled} .o_trail_mailbox_state`).toHaveClass("text-bg-success");
    expect(`${throttled} .o_trail_state_message`).toHaveText(
        "The provider asked us to slow down; retrying at 3/11/19, 11:15 AM."
    );
    // Not before the retry time: the server's next scan already waits for it.
    expect(`${throttled} .o_trail_next_scan`).toHaveText("03/11/2019 11:30:00");
    expect(`${throttled} .o_trail_advice`).toHaveClass("alert-warning");
    expect(`${throttled} .o_trail_advice`).not.toHaveClass("alert-danger");
    expect(`${throttled} .o_trail_advice`).toHaveText(
        "Google asked Odoo to slow down (429 rateLimitExceeded). Capture goes on by itself after 11:15 AM; nothing to do."
    );
    expect(buttonNames(throttled)).toEqual(["action_reconnect", "action_scan_now", "action_pause"]);
    expect(`${throttled} button[name='action_scan_now']`).toHaveClass("btn-primary");
    expect(`${throttled} button[name='action_reconnect']`).toHaveClass("btn-secondary");
});
