/**
 * The mailbox status card: the state in words, the history import's progress with the time
 * left, the last and next scan, the counters, what to do about the last problem, and the
 * buttons that act on the mailbox. It reloads itself while the history import runs, after
 * "Scan now" until the scan has run, and whenever the attention service reports a change.
 */
import { Component, onMounted, onWillUnmount, status, useState } from "@odoo/owl";
import { formatDate, formatDateTime } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useBus, useService } from "@web/core/utils/hooks";
import { formatInteger } from "@web/views/fields/formatters";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

export const POLL_STATES = ["connecting", "backfilling"];
export const STATE_CLASSES = {
    connecting: "text-bg-warning",
    backfilling: "text-bg-info",
    active: "text-bg-success",
    paused: "text-bg-secondary",
    needs_reconnect: "text-bg-danger",
    error: "text-bg-danger",
};

export class MailboxStatusCard extends Component {
    static template = "trail_email_integration.MailboxStatusCard";
    static props = { ...standardFieldProps };
    /** Milliseconds between two reloads while the history import runs. */
    static pollDelay = 5000;
    /** Milliseconds between two reloads while waiting for a scan asked with "Scan now". */
    static scanPollDelay = 2000;
    /** How many of those reloads before the card stops waiting (about two minutes). */
    static scanPollLimit = 60;

    setup() {
        this.action = useService("action");
        this.orm = useService("orm");
        this.notification = useService("notification");
        this.attention = useService("trail_mailbox_attention");
        this.scan = useState({ waiting: false });
        this.scanWatch = null;
        onMounted(() => {
            this.timer = setInterval(() => this.poll(), this.constructor.pollDelay);
        });
        onWillUnmount(() => {
            clearInterval(this.timer);
            clearTimeout(this.scanTimer);
        });
        // The server says when a mailbox starts or stops needing attention (the menu badge);
        // this card's mailbox may be the one, so it shows the new state at once.
        useBus(this.attention.bus, "change", () => this.loadRecord());
    }

    get data() {
        return this.props.record.data;
    }

    get stateLabel() {
        const selection = this.props.record.fields.state.selection;
        const item = selection.find(([value]) => value === this.data.state);
        return item ? item[1] : this.data.state;
    }

    get stateClass() {
        return STATE_CLASSES[this.data.state] || "text-bg-light";
    }

    get providerIcon() {
        return this.data.provider === "microsoft" ? "fa-windows" : "fa-google";
    }

    get showProgress() {
        return !this.data.backfill_done && this.data.state !== "connecting";
    }

    get percent() {
        return Math.min(100, Math.max(0, Math.floor(this.data.backfill_progress || 0)));
    }

    get progressText() {
        const total = Math.max(this.data.backfill_total, this.data.backfill_count);
        return _t("%(done)s of about %(total)s messages", {
            done: formatInteger(this.data.backfill_count),
            total: formatInteger(total),
        });
    }

    get reachedText() {
        const reached = this.data.backfill_reached;
        return reached ? _t("back to %s", formatDate(reached)) : "";
    }

    get timeLeftText() {
        const left = this.data.backfill_time_left;
        return left ? _t("time left: %s", left) : "";
    }

    get lastScanText() {
        return this.data.last_scan ? formatDateTime(this.data.last_scan) : _t("not yet");
    }

    /** When the next scan will run, or, when none will, what it waits for. */
    get nextScanText() {
        switch (this.data.state) {
            case "connecting":
                return _t("once connected");
            case "paused":
                return _t("when you resume");
            case "needs_reconnect":
                return _t("after you reconnect");
            case "error":
                return _t("after you resume");
        }
        // The server's time already waits for the provider's retry time and the scan job.
        const run = this.data.next_scan_run;
        return run ? formatDateTime(run) : _t("none: scans are switched off");
    }

    get counters() {
        const data = this.data;
        return [
            { name: "captured", label: _t("Captured"), value: data.captured_count },
            { name: "filed", label: _t("Filed"), value: data.filed_count },
            { name: "unfiled", label: _t("Unfiled"), value: data.unfiled_count },
            { name: "skipped", label: _t("Skipped"), value: data.skipped_count },
            { name: "failed", label: _t("Failed"), value: data.failed_count },
        ].map((counter) => ({ ...counter, text: formatInteger(counter.value || 0) }));
    }

    get adviceLines() {
        return (this.data.advice || "").split("\n").filter(Boolean);
    }

    get adviceClass() {
        return ["needs_reconnect", "error"].includes(this.data.state)
            ? "alert-danger"
            : "alert-warning";
    }

    get buttons() {
        const state = this.data.state;
        const connecting = state === "connecting";
        return [
            {
                name: "action_reconnect",
                label: connecting ? _t("Connect") : _t("Reconnect"),
                icon: "fa-plug",
                primary: connecting || state === "needs_reconnect",
                visible: true,
            },
            {
                name: "action_scan_now",
                label: this.scan.waiting ? _t("Scanning…") : _t("Scan now"),
                icon: this.scan.waiting ? "fa-refresh fa-spin" : "fa-refresh",
                primary: state === "backfilling" || state === "active",
                visible: state === "backfilling" || state === "active",
                disabled: this.scan.waiting,
            },
            {
                name: "action_pause",
                label: _t("Pause"),
                icon: "fa-pause",
                // Company-managed mailboxes: administrators only.
                visible: state !== "paused" && this.data.may_pause,
            },
            {
                name: "action_resume",
                label: _t("Resume"),
                icon: "fa-play",
                primary: true,
                visible: (state === "paused" || state === "error") && this.data.may_pause,
            },
            {
                name: "action_open_failures",
                label: _t("Failed messages"),
                icon: "fa-exclamation-circle",
                visible: Boolean(this.data.failed_count),
            },
        ].filter((button) => button.visible);
    }

    async poll() {
        if (POLL_STATES.includes(this.data.state)) {
            await this.loadRecord();
        }
    }

    async onButton(ev, name) {
        ev.stopPropagation();
        const record = this.props.record;
        const before = name === "action_scan_now" ? this.scanSnapshot() : null;
        const result = await this.orm.call(record.resModel, name, [[record.resId]], {
            context: record.context,
        });
        if (result && typeof result === "object") {
            await this.action.doAction(result, { onClose: () => this.reload() });
        }
        await this.reload();
        if (before) {
            this.watchScan(before);
        }
    }

    /** Re-read the mailbox, unless this card is gone or its record has unsaved changes. */
    async loadRecord() {
        // A button may have opened another screen (Failed messages) in place of this card.
        if (status(this) !== "destroyed" && !this.props.record.dirty) {
            await this.props.record.load();
        }
    }

    async reload() {
        await this.loadRecord();
        if (status(this) !== "destroyed") {
            this.attention.refresh();
        }
    }

    // Scan now ---------------------------------------------------------------------------
    // "Scan now" only wakes the scan cron: a scan may fetch many messages, which is no work
    // for a web request (time limits, a worker held, a mailbox lock the cron then waits for).
    // The server answers at once ("Scan started"), and the card re-reads its mailbox every
    // few seconds until the scan has left a trace, then says what it found. If no cron worker
    // takes the job within about two minutes, the card stops waiting and says so.

    /** What a scan changes, as it was before "Scan now" was clicked. */
    scanSnapshot() {
        const { last_scan, captured_count } = this.data;
        return { last_scan, captured_count };
    }

    watchScan(before) {
        // Scan now itself clears the retry time, so problems are judged from its answer on.
        const { state, retry_after } = this.data;
        this.scanWatch = { before: { ...before, state, retry_after }, polls: 0 };
        this.scan.waiting = true;
        this.checkScan();
    }

    checkScan() {
        const watch = this.scanWatch;
        if (!watch || status(this) === "destroyed") {
            return;
        }
        const outcome = this.scanOutcome(watch.before);
        if (outcome) {
            this.endScanWatch();
            this.notification.add(outcome.message, { type: outcome.type });
        } else if (watch.polls >= this.constructor.scanPollLimit) {
            this.endScanWatch();
            this.notification.add(
                _t("The scan has not run yet: it waits for a free worker. Check again later."),
                { type: "info" }
            );
        } else {
            watch.polls++;
            this.scanTimer = setTimeout(async () => {
                await this.loadRecord();
                this.checkScan();
            }, this.constructor.scanPollDelay);
        }
    }

    endScanWatch() {
        clearTimeout(this.scanTimer);
        this.scanWatch = null;
        this.scan.waiting = false;
    }

    /** What the scan did, once the mailbox shows it; null while nothing has changed. */
    scanOutcome(before) {
        const data = this.data;
        const same = (a, b) => (a && b ? +a === +b : !a && !b);
        if (!same(data.last_scan, before.last_scan)) {
            return this.scanDone(data.captured_count - before.captured_count);
        }
        const stopped = ["needs_reconnect", "error"].includes(data.state);
        if (stopped || !same(data.retry_after, before.retry_after)) {
            // A lost grant, an error or a slow-down: the card's advice says what to do.
            return {
                type: "warning",
                message: _t("The scan did not complete; the card says why."),
            };
        }
        if (!["backfilling", "active"].includes(data.state)) {
            // Paused meanwhile: no scan will run, and the card says so.
            return { type: "info", message: _t("No scan ran: the mailbox is paused.") };
        }
        return null;
    }

    scanDone(captured) {
        return {
            type: "success",
            message:
                captured > 1
                    ? _t("Scan done: %s messages captured.", formatInteger(captured))
                    : captured === 1
                    ? _t("Scan done: 1 message captured.")
                    : _t("Scan done: no new mail."),
        };
    }
}

export const mailboxStatusCard = {
    component: MailboxStatusCard,
    displayName: _t("Mailbox status card"),
    supportedTypes: ["selection"],
    fieldDependencies: [
        { name: "address", type: "char" },
        { name: "provider", type: "selection" },
        { name: "state_message", type: "char" },
        { name: "advice", type: "text" },
        { name: "needs_attention", type: "boolean" },
        { name: "backfill_done", type: "boolean" },
        { name: "backfill_count", type: "integer" },
        { name: "backfill_total", type: "integer" },
        { name: "backfill_reached", type: "datetime" },
        { name: "backfill_progress", type: "float" },
        { name: "backfill_time_left", type: "char" },
        { name: "last_scan", type: "datetime" },
        { name: "next_scan_run", type: "datetime" },
        { name: "retry_after", type: "datetime" },
        { name: "captured_count", type: "integer" },
        { name: "filed_count", type: "integer" },
        { name: "unfiled_count", type: "integer" },
        { name: "skipped_count", type: "integer" },
        { name: "failed_count", type: "integer" },
        { name: "may_pause", type: "boolean" },
    ],
};

registry.category("fields").add("trail_mailbox_status", mailboxStatusCard);
